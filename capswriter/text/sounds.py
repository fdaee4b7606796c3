"""Text as a row of sounds, for matching hot words by how they are heard.

Each Chinese character becomes one :class:`Sound` of three units (initial, final, tone, from
pypinyin, read in context so 行长 is hang2 zhang3); each Latin letter or digit is a sound of one
unit. :func:`substitution_cost` prices hearing one sound as another: a wrong tone costs 0.5, a
sound-alike initial or final (z/zh, l/n, an/ang, …) 0.5, anything else 1 per unit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pypinyin import Style, lazy_pinyin
from pypinyin.contrib.tone_convert import to_finals, to_initials

# Pairs speakers of many dialects (and recognizers) do not keep apart.
ALIKE_INITIALS = ({"z", "zh"}, {"c", "ch"}, {"s", "sh"}, {"l", "n"}, {"f", "h"})
ALIKE_FINALS = (
    {"an", "ang"}, {"en", "eng"}, {"in", "ing"}, {"ian", "iang"}, {"uan", "uang"}, {"ai", "ei"},
)
_COARSE_INITIAL = {"zh": "z", "ch": "c", "sh": "s", "n": "l", "h": "f"}
_COARSE_FINAL = {"ang": "an", "eng": "en", "ing": "in", "iang": "ian", "uang": "uan", "ei": "ai"}


@dataclass(frozen=True)
class Sound:
    """One character heard: a Han syllable (3 units) or a Latin letter / digit (1 unit)."""

    initial: str
    final: str
    tone: int  # 1-5 (5 = neutral) for syllables, 0 for letters and digits

    @property
    def units(self) -> int:
        return 3 if self.tone else 1

    @property
    def key(self) -> str:
        """A coarse key that sound-alike syllables share (zhang, zang, zan → "zan")."""
        if not self.tone:
            return self.final
        return _COARSE_INITIAL.get(self.initial, self.initial) + "-" + _COARSE_FINAL.get(
            self.final, self.final)


def _alike(a: str, b: str, pairs: tuple[set[str], ...]) -> bool:
    return any(a in pair and b in pair for pair in pairs)


@functools.lru_cache(maxsize=65536)
def substitution_cost(heard: Sound, meant: Sound) -> float:
    """What it costs to read ``heard`` where ``meant`` was said (0 = same sound)."""
    if heard == meant:
        return 0.0
    if not heard.tone or not meant.tone:
        return float(max(heard.units, meant.units))  # a letter for a syllable or another letter
    cost = 0.0
    if heard.initial != meant.initial:
        cost += 0.5 if _alike(heard.initial, meant.initial, ALIKE_INITIALS) else 1.0
    if heard.final != meant.final:
        cost += 0.5 if _alike(heard.final, meant.final, ALIKE_FINALS) else 1.0
    if heard.tone != meant.tone:
        cost += 0.5
    return cost


def is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


@functools.lru_cache(maxsize=8192)
def _syllable(reading: str) -> Sound | None:
    if not reading or not reading[-1].isdigit():
        return None
    tone = int(reading[-1])
    initial = to_initials(reading, strict=False)
    final = to_finals(reading, strict=False)
    return Sound(initial, final, tone)


def _one_each(chars: str) -> Any:
    # pypinyin gives a run of non-Han characters back as one item; one per character keeps
    # the readings aligned with the text.
    return list(chars)


def _readings(text: str) -> list[str]:
    readings = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True,
                           errors=_one_each)
    if len(readings) != len(text):  # never seen; read character by character rather than drift
        readings = [lazy_pinyin(ch, style=Style.TONE3, neutral_tone_with_five=True,
                                errors=_one_each)[0] for ch in text]
    return readings


def sounds_of(text: str, readings: list[str] | None = None) -> list[Sound | None]:
    """One entry per character of ``text``: its sound, or None for space and punctuation."""
    if readings is None:
        readings = _readings(text)
    out: list[Sound | None] = []
    for ch, reading in zip(text, readings, strict=False):
        if is_han(ch):
            out.append(_syllable(reading))
        elif ch.isascii() and ch.isalnum():
            out.append(Sound("", ch.lower(), 0))
        else:
            out.append(None)
    return out


def sounds_of_many(texts: list[str]) -> list[list[Sound | None]]:
    """:func:`sounds_of` for many short texts at once (one pypinyin call: loading a long list)."""
    joined = "\n".join(texts)
    readings = _readings(joined)
    out, start = [], 0
    for text in texts:
        out.append(sounds_of(text, readings[start:start + len(text)]))
        start += len(text) + 1
    return out
