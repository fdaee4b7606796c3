"""What recognition returns: plain dataclasses that cross process boundaries as dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Segment:
    """A piece of text with its place in the source audio, in seconds."""

    start: float
    end: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Segment:
        return cls(start=float(data["start"]), end=float(data["end"]), text=str(data["text"]))


@dataclass
class Transcript:
    """Text of one decoded piece of audio and what it cost."""

    text: str
    audio_seconds: float
    decode_seconds: float
    language: str = ""
    segments: list[Segment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls(
            text=str(data["text"]),
            audio_seconds=float(data["audio_seconds"]),
            decode_seconds=float(data["decode_seconds"]),
            language=str(data.get("language", "")),
            segments=[Segment.from_dict(s) for s in data.get("segments", [])],
        )
