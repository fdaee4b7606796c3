"""Early decoding of dictation: cut the live stream at pauses and decode pieces while it runs.

While the key is held, audio arrives in small frames. Each time the stream has at least
``min_piece_s`` of audio followed by a pause, the audio up to the middle of that pause becomes a
finished piece and is decoded at once, so when the key is released only the last piece is left.
Cuts fall inside silence, never inside a word, and every sample belongs to exactly one piece,
so joining the pieces' texts neither drops nor repeats words.

The pause detector is a frame energy threshold relative to the loudest speech heard so far; it
costs microseconds per frame in the server process, which a neural VAD would not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capswriter.asr.vad import quietest_point
from capswriter.audio import SAMPLE_RATE

FRAME = 480  # 30 ms


@dataclass
class Piece:
    index: int
    offset: float  # seconds from the start of the dictation
    samples: np.ndarray


class PauseCutter:
    """Turns a stream of float32 samples into pieces that end in the middle of a pause.

    Pieces are at least ``min_piece_s`` long: Whisper pads every input to a 30 s window, so
    each decode has a fixed cost, and a very short piece loses the context that makes words
    like "ask" come out right. Six seconds keeps the piece left after release short while
    most pieces still carry a whole phrase.
    """

    def __init__(
        self,
        min_piece_s: float = 6.0,
        max_piece_s: float = 25.0,
        pause_s: float = 0.3,
        floor: float = 0.005,
        relative: float = 0.06,
    ) -> None:
        self.min_piece = int(min_piece_s * SAMPLE_RATE)
        self.max_piece = int(max_piece_s * SAMPLE_RATE)
        self.pause_frames = max(1, int(pause_s * SAMPLE_RATE) // FRAME)
        self.floor = floor
        self.relative = relative
        # Audio not yet handed out, in the first `_length` samples of a buffer that grows by
        # doubling: appending tiny frames one by one must not copy the whole buffer each time.
        self._store = np.zeros(self.max_piece + FRAME, dtype=np.float32)
        self._length = 0
        self.speech_frames = 0  # frames loud enough to be speech, over the whole stream
        self._scanned = 0  # frames of the buffer already classified
        self._quiet_run = 0  # consecutive quiet frames ending at _scanned
        self._peak = 0.0
        self._consumed = 0  # samples already handed out as pieces
        self._index = 0

    @property
    def _buffer(self) -> np.ndarray:
        return self._store[: self._length]

    @property
    def total_seconds(self) -> float:
        return (self._consumed + self._length) / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[Piece]:
        """Add audio; return the pieces that are now complete (often none)."""
        end = self._length + len(samples)
        if end > len(self._store):
            grown = np.zeros(max(end, 2 * len(self._store)), dtype=np.float32)
            grown[: self._length] = self._buffer
            self._store = grown
        self._store[self._length : end] = samples
        self._length = end
        pieces: list[Piece] = []
        while (self._scanned + 1) * FRAME <= len(self._buffer):
            start = self._scanned * FRAME
            frame = self._buffer[start : start + FRAME]
            rms = float(np.sqrt(np.mean(frame * frame)))
            self._peak = max(self._peak, rms)
            quiet = rms < max(self.floor, self.relative * self._peak)
            self.speech_frames += not quiet
            self._quiet_run = self._quiet_run + 1 if quiet else 0
            self._scanned += 1
            end = self._scanned * FRAME
            if quiet and self._quiet_run >= self.pause_frames and end >= self.min_piece:
                # Cut in the middle of the pause so both sides keep some silence.
                cut = end - (self._quiet_run * FRAME) // 2
                pieces.append(self._take(cut))
            elif end >= self.max_piece:
                pieces.append(self._take(self._quietest(end)))
        return pieces

    def finish(self) -> Piece | None:
        """The rest of the stream as the last piece (None if nothing is left)."""
        if self._length == 0:
            return None
        return self._take(self._length)

    def _quietest(self, end: int) -> int:
        # No pause in a long stretch of speech: cut at the quietest frame of the last 5 s.
        lo = max(self.min_piece, end - 5 * SAMPLE_RATE) // FRAME * FRAME
        return quietest_point(self._buffer, lo, end, frame=FRAME, hop=FRAME, latest=False)

    def _take(self, cut: int) -> Piece:
        piece = Piece(self._index, self._consumed / SAMPLE_RATE, self._buffer[:cut].copy())
        self._index += 1
        self._consumed += cut
        rest = self._length - cut
        self._store[:rest] = self._store[cut : self._length].copy()
        self._length = rest
        # Rescan what is left from its start; frames after the cut are few.
        self._scanned = 0
        self._quiet_run = 0
        return piece
