"""Cut long audio into pieces Whisper can take (at most 30 s), at pauses in the speech.

Whisper always encodes a 30 s window, so fewer, fuller segments cost less; but a cut in the
middle of a word loses that word. The Segmenter therefore finds speech with Silero VAD, packs
neighbouring speech into segments of at most ``max_segment_s``, ends a segment at the longest
pause in the second half of the window it could still fill, and only when one stretch of speech
runs longer than the limit cuts inside it, at its quietest moment near the limit.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from capswriter.asr.vad import Span, SpeechDetector, cut_at_quiet_points
from capswriter.audio import SAMPLE_RATE


@dataclass
class AudioSegment:
    """A piece of the source audio: where it sits (seconds) and its samples."""

    start: float
    end: float
    samples: np.ndarray
    # Where the detector heard speech inside the piece, (start, end) in source seconds.
    speech: list[tuple[float, float]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def speech_samples(self) -> list[tuple[int, int]]:
        """The speech as (start, end) sample offsets into `samples`."""
        n = len(self.samples)
        spans = [
            (max(0, round((a - self.start) * SAMPLE_RATE)),
             min(n, round((b - self.start) * SAMPLE_RATE)))
            for a, b in self.speech
        ]
        return [(a, b) for a, b in spans if b > a]


class Segmenter:
    """Splits 16 kHz mono audio into speech segments no longer than ``max_segment_s``.

    One instance can be reused for any number of files and threads (see SpeechDetector).
    """

    def __init__(
        self,
        vad_model: Path,
        max_segment_s: float = 28.0,
        *,
        threshold: float = 0.5,
        min_silence_s: float = 0.25,
        min_speech_s: float = 0.15,
        padding_s: float = 0.2,
        max_gap_s: float = 4.0,
        search_s: float = 6.0,
    ) -> None:
        """
        ``min_silence_s`` is the shortest pause that counts as a place to cut; ``padding_s`` of
        audio is kept around speech so soft word onsets and endings survive; a pause longer
        than ``max_gap_s`` always ends a segment (long silence inside a window invites Whisper
        to invent text); ``search_s`` is how far before the limit a cut inside continuous speech
        may move to find a quiet moment.
        """
        self.detector = SpeechDetector(vad_model, threshold=threshold,
                                       min_silence_s=min_silence_s, min_speech_s=min_speech_s)
        if max_segment_s <= 2 * padding_s + 1.0:
            raise ValueError(f"max_segment_s={max_segment_s} is too short to hold speech")
        self.max_segment_s = max_segment_s
        self.padding_s = padding_s
        self.max_gap_s = max_gap_s
        self.search_s = min(search_s, max_segment_s / 2)

    def split(self, samples: np.ndarray) -> list[AudioSegment]:
        """Segments of ``samples`` (16 kHz mono float32) that contain speech, in order."""
        return [segment for batch in self.stream(samples) for segment in batch]

    def stream(self, samples: np.ndarray) -> Iterator[list[AudioSegment]]:
        """The segments of split(), in batches as soon as each is final, so that recognition
        can start while the detector still listens to the rest (about 1.5 s per 5 minutes
        on one core, otherwise spent before any segment is dispatched)."""
        samples = np.asarray(samples, dtype=np.float32)
        padding = _samples(self.padding_s)
        # Pack the bare speech so pauses are compared at their true length, then pad; the
        # limit is narrowed by the padding both sides so the padded segment still fits.
        inner = _samples(self.max_segment_s) - 2 * padding
        search = _samples(self.search_s)
        pieces: list[Span] = []
        final: list[Span] = []  # packed segments no later speech can change
        sent = 0
        for closed, known in self.detector.stream_spans(samples):
            pieces += [p for span in closed for p in split_long_span(samples, span, inner, search)]
            starts = [p.start for p in pieces]
            packed = self.pack(pieces[bisect_left(starts, final[-1].end) if final else 0 :], inner)
            settled = len(packed)
            if known < len(samples):
                # Packing is greedy from the left: a segment is settled once every span that
                # could join it is known and the one after it has begun (its padding and
                # widening reach only to the middle of the pauses beside it).
                settled = 0
                while settled + 1 < len(packed) and packed[settled].start + inner < known:
                    settled += 1
            final += packed[:settled]
            # The next segment's start bounds the last settled one's padding and widening.
            spans = pad_spans(final + packed[settled : settled + 1], padding, len(samples))
            spans = widen_into_pauses(spans, _samples(self.max_segment_s), len(samples))
            batch = [_segment(samples, span, pieces, starts) for span in spans[sent : len(final)]]
            sent = len(final)
            if batch:
                yield batch

    def speech_spans(self, samples: np.ndarray) -> list[Span]:
        """Where Silero hears speech, without padding."""
        return self.detector.speech_spans(samples)

    def pack(self, spans: list[Span], limit: int) -> list[Span]:
        """Join neighbouring spans into segments no longer than the limit.

        Each segment ends at the longest pause among those in the second half of the window it
        could fill: a long pause is more likely a sentence end than a breath, and preferring
        the later half keeps segments full. ``spans`` must be sorted, disjoint and each no
        longer than ``limit`` samples.
        """
        max_gap = _samples(self.max_gap_s)

        def gap_after(k: int) -> int:
            return spans[k + 1].start - spans[k].end

        segments: list[Span] = []
        first = 0
        while first < len(spans):
            start = spans[first].start
            # The furthest span that still fits, stopping early at a pause too long to bridge.
            last = first
            while (
                last + 1 < len(spans)
                and spans[last + 1].end - start <= limit
                and gap_after(last) <= max_gap
            ):
                last += 1
            cut = last
            more_would_fit = last + 1 < len(spans) and gap_after(last) <= max_gap
            if more_would_fit and last > first:
                fitting = range(first, last + 1)
                later = [k for k in fitting if spans[k].end - start >= limit // 2]
                cut = max(later or fitting, key=lambda k: (gap_after(k), k))
            segments.append(Span(start, spans[cut].end))
            first = cut + 1
        return segments

def pad_spans(spans: list[Span], padding: int, total: int) -> list[Span]:
    """Widen each span by ``padding`` samples, never past the middle of the pause to a neighbour."""
    padded: list[Span] = []
    for i, span in enumerate(spans):
        left = 0 if i == 0 else (spans[i - 1].end + span.start) // 2
        right = total if i == len(spans) - 1 else (span.end + spans[i + 1].start) // 2
        padded.append(Span(max(left, span.start - padding), min(right, span.end + padding)))
    return padded


def widen_into_pauses(spans: list[Span], limit: int, total: int) -> list[Span]:
    """Grow each span into the pauses either side, up to their middles and `limit` samples.

    The VAD misses some loud speech (a shout, a laugh, a word said over music), and a segment
    cut tight around what it heard would never show those words to the recognizer. The
    recognizer drops the quiet edges itself, so silence taken in here costs nothing but a
    little time.
    """
    widened: list[Span] = []
    for i, span in enumerate(spans):
        left = 0 if i == 0 else (spans[i - 1].end + span.start) // 2
        right = total if i == len(spans) - 1 else (span.end + spans[i + 1].start) // 2
        start = max(left, min(span.start, span.end - limit))
        end = min(right, max(span.end, start + limit))
        widened.append(Span(start, end))
    return widened


def split_long_span(samples: np.ndarray, span: Span, limit: int, window: int) -> list[Span]:
    """Cut a span longer than ``limit`` at its quietest moments, each within ``window`` before
    the limit."""
    return [Span(a, b) for a, b in cut_at_quiet_points(samples, span.start, span.end, limit,
                                                        window)]


def _segment(
    samples: np.ndarray, span: Span, pieces: list[Span], starts: list[int]
) -> AudioSegment:
    """The segment over ``span``, with the speech ``pieces`` (which start at ``starts``) in it."""
    inside = pieces[bisect_left(starts, span.start) : bisect_left(starts, span.end)]
    return AudioSegment(
        start=span.start / SAMPLE_RATE,
        end=span.end / SAMPLE_RATE,
        samples=samples[span.start : span.end],
        speech=[(p.start / SAMPLE_RATE, p.end / SAMPLE_RATE) for p in inside],
    )


def _samples(seconds: float) -> int:
    return int(round(seconds * SAMPLE_RATE))
