"""Timestamps checked against the speech heard: a sentence stretched over the speech after it is
cut back to what its text can carry."""

from __future__ import annotations

import math

from capswriter.asr.coverage import honest_segments, without_repeated_head
from capswriter.audio import SAMPLE_RATE


def spans(*seconds: tuple[float, float]) -> list[tuple[int, int]]:
    return [(int(a * SAMPLE_RATE), int(b * SAMPLE_RATE)) for a, b in seconds]


# Three stretches of speech: 1-4 s, 5-8 s, 9-12 s.
SPEECH = spans((1.0, 4.0), (5.0, 8.0), (9.0, 12.0))


def test_a_short_sentence_timed_over_three_stretches_is_cut_after_the_first() -> None:
    timed = [(0.0, 12.8, "Ask not what your country can do.")]
    kept, cut = honest_segments(timed, SPEECH, 14.0)
    assert cut
    assert kept == [(0.0, 4.0, "Ask not what your country can do.")]


def test_an_open_end_claims_the_rest_of_the_window() -> None:
    kept, cut = honest_segments([(0.0, math.inf, "Ask not.")], SPEECH, 14.0)
    assert cut and kept == [(0.0, 4.0, "Ask not.")]


def test_segments_after_a_cut_one_are_dropped_to_be_read_again() -> None:
    timed = [(0.0, 8.5, "Go."), (8.5, 12.5, "Forward ten meters now please.")]
    kept, cut = honest_segments(timed, SPEECH, 14.0)
    assert cut and kept == [(0.0, 4.0, "Go.")]


def test_text_that_fills_its_speech_is_kept_as_timed() -> None:
    full = "And so my fellow Americans, ask not what your country can do for you, ask what"
    timed = [(0.0, 8.2, full), (8.2, 12.4, "you can do for your country.")]
    assert honest_segments(timed, SPEECH, 14.0) == (timed, False)


def test_one_stretch_of_speech_is_never_cut() -> None:
    timed = [(0.0, 4.2, "Hm.")]
    assert honest_segments(timed, spans((1.0, 4.0)), 14.0) == (timed, False)


def test_chinese_characters_count_as_syllables() -> None:
    # Twelve characters are about 3.5 s of speech: one stretch of three, not three of 3.4.
    speech = spans((1.0, 4.4), (5.8, 6.7), (8.0, 11.4))
    kept, cut = honest_segments([(0.0, 12.8, "广州市房地产中介协会分析")], speech, 19.0)
    assert cut and kept == [(0.0, 4.4, "广州市房地产中介协会分析")]


def test_words_said_again_at_a_windows_start_are_said_once() -> None:
    assert without_repeated_head("to be more positive.", "More positive, every day.") == \
        "every day."
    assert without_repeated_head("协会分析", "分析砸自己的脚") == "砸自己的脚"
    assert without_repeated_head("协会分析", "协会分析") == ""


def test_one_shared_word_or_none_leaves_the_text_alone() -> None:
    assert without_repeated_head("ask not", "not what your country") == "not what your country"
    assert without_repeated_head("ask not", "what your country") == "what your country"
