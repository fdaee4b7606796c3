"""Where a window's text really ends: Whisper's timestamps checked against the speech the VAD heard.

Decoding goes on from the last timestamp while speech is left after it (faster-whisper's
sliding window does the same). But a timestamp can claim more than its text says: after digital
silence, which looks like the zero padding after the end of a recording, Whisper often gives one
short sentence the times of the whole stretch up to the next pause or the window's end,
"<|0.00|> Ask not.<|12.80|>", and the sentences in between are never read. A segment that spans
several stretches of speech with far too little text for them is therefore cut back to the
speech its text can carry, and the window is decoded again from there.
"""

from __future__ import annotations

from capswriter.asr.guard import unit_matches, units_of
from capswriter.asr.text import text_units
from capswriter.audio import SAMPLE_RATE

# A segment that spans more than one stretch of speech must carry at least this many text
# units (letters, digits; a CJK character counts 3) per second of it. Speech gives 8-15; a
# sentence stretched over the speech after it gives 2-5.
MIN_UNITS_PER_CLAIMED_SECOND = 6.0
# The text is taken to cover the stretches from its start until they hold this much speech
# for its units: a little less than speech at 10 units a second needs, so a cut lands in the
# pause after the text rather than before its last words.
UNITS_PER_SECOND_COVERED = 14.0
# Less speech than this left out of a claim is timing slack, not skipped speech.
MIN_SKIPPED_S = 1.0
# One word said again is often speech; two or more at a window's start after a cut are a repeat.
MIN_REPEATED_UNITS = 2
# A stretch of speech counts as inside a segment when this much of it is.
MIN_OVERLAP_S = 0.2

Timed = tuple[float, float, str]  # (start, end, text) in seconds from the window's start


def honest_segments(
    segments: list[Timed], spans: list[tuple[int, int]], window_s: float
) -> tuple[list[Timed], bool]:
    """The window's segments up to the first that claims speech its text cannot carry, that one
    cut back to the speech it can; and whether a segment was cut.

    ``spans`` are the speech the VAD heard, in samples from the window's start; an open end
    (``math.inf``, text after the last timestamp) claims the rest of the window.
    """
    kept: list[Timed] = []
    for start, end, text in segments:
        claimed_end = min(end, window_s)
        inside = [
            (max(a / SAMPLE_RATE, start), min(b / SAMPLE_RATE, claimed_end))
            for a, b in spans
            if min(b / SAMPLE_RATE, claimed_end) - max(a / SAMPLE_RATE, start) >= MIN_OVERLAP_S
        ]
        claimed = sum(b - a for a, b in inside)
        units = text_units(text)
        if len(inside) < 2 or units >= MIN_UNITS_PER_CLAIMED_SECOND * claimed:
            kept.append((start, end, text))
            continue
        carried = _covered_end(inside, units / UNITS_PER_SECOND_COVERED)
        skipped = sum(b - max(a, carried) for a, b in inside if b > carried)
        if skipped < MIN_SKIPPED_S:
            kept.append((start, end, text))
            continue
        kept.append((start, carried, text))
        return kept, True
    return kept, False


def _covered_end(inside: list[tuple[float, float]], seconds: float) -> float:
    """The end of the stretch of speech in which ``seconds`` of it, counted from the first, is
    reached (the last stretch's end if never)."""
    total = 0.0
    for a, b in inside:
        total += b - a
        if total >= seconds:
            return b
    return inside[-1][1]


def without_repeated_head(previous: str, text: str) -> str:
    """``text`` less a beginning of two or more words (CJK characters) that repeats the end of
    ``previous``: a window decoded again from a segment that was cut back may start with that
    segment's last words, and they were said once."""
    before = units_of(previous)
    matches = unit_matches(text)
    after = [m.group().lower() for m in matches]
    for size in range(min(len(before), len(after)), MIN_REPEATED_UNITS - 1, -1):
        if before[-size:] == after[:size]:
            return "" if size == len(after) else text[matches[size].start() :]
    return text
