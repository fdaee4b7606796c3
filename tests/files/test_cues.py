"""Subtitle cues a viewer can read: long segments split between words, none past the audio."""

from __future__ import annotations

import pytest

from capswriter.asr.result import Segment
from capswriter.files.cues import CueLimits, cues_of
from capswriter.files.write import srt_text

JFK = ("And so my fellow Americans, ask not what your country can do for you, ask what you can "
       "do for your country. I have a dream that one day this nation will rise up.")


def test_a_long_segment_becomes_cues_within_both_limits_split_between_words() -> None:
    limits = CueLimits(max_chars=42, max_seconds=4.0)
    cues = cues_of([Segment(10.0, 25.0, JFK)], limits)
    assert len(cues) >= 4
    assert all(len(text) <= 42 and end - start <= 4.0 + 1e-9 for start, end, text in cues)
    # Every word kept, in order, none cut in two.
    assert " ".join(text for _, _, text in cues).split() == JFK.split()
    # The cues tile the segment's time.
    assert cues[0][0] == 10.0 and cues[-1][1] == 25.0
    assert all(a[1] == pytest.approx(b[0]) for a, b in zip(cues, cues[1:], strict=False))


def test_chinese_is_split_between_characters() -> None:
    text = "广州市房地产中介协会分析，今年以来楼市成交量持续回升，市场信心逐步恢复。" * 2
    cues = cues_of([Segment(0.0, 12.0, text)], CueLimits(max_chars=20, max_seconds=30.0))
    assert all(len(t) <= 20 for _, _, t in cues)
    assert "".join(t for _, _, t in cues) == text


def test_short_segments_and_single_long_words_stay_whole() -> None:
    segments = [Segment(0.0, 2.0, "Go forward."), Segment(2.0, 30.0, "Hmm."),
                Segment(30.0, 31.0, "   ")]
    assert cues_of(segments) == [(0.0, 2.0, "Go forward."), (2.0, 30.0, "Hmm.")]


def test_no_cue_runs_past_the_audio() -> None:
    cues = cues_of([Segment(3.0, 9.5, "one two three four"), Segment(9.9, 12.0, "five")],
                   audio_seconds=10.0)
    assert max(end for _, end, _ in cues) == 10.0
    assert all(start <= end <= 10.0 for start, end, _ in cues)


def test_srt_numbers_the_split_cues_in_order() -> None:
    srt = srt_text([Segment(0.0, 20.0, JFK)], CueLimits(max_chars=42, max_seconds=7.0), 18.0)
    blocks = srt.strip().split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == [str(n) for n in range(1, len(blocks) + 1)]
    assert blocks[-1].split("\n")[1].endswith("--> 00:00:18,000")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CueLimits(max_chars=0)
