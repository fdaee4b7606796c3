"""Loop and size checks on texts Whisper really produced (and their correct versions)."""

from __future__ import annotations

from capswriter.asr.guard import (
    LOOPING,
    TOO_LONG,
    TOO_SHORT,
    compression_ratio,
    cut_repetition,
    repeats_itself,
    text_problem,
)

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
POEM = (
    "我最喜欢夏天，满地的鲜花，这里一朵，那里一朵，真比天上的星星还多。"
    "夜晚，我数着天上的星星，真比地上的花儿还要多。"
)


def test_a_mandarin_sentence_the_decoder_went_back_to_is_a_loop() -> None:
    assert repeats_itself("我有的事我说不清楚你们知道吗我有的事我说不清楚你们")
    assert not repeats_itself("我有的事我说不清楚你们知道吗")


def test_sentences_repeated_three_times_are_a_loop() -> None:
    text = "She had your dark suit in greasy wash water all year. " * 3
    assert repeats_itself(text)
    assert compression_ratio(text) > 2.4
    # Said once in about 4 s; three times in that time is a loop.
    assert text_problem(text, speech_seconds=4.0) == LOOPING


def test_the_decoder_going_back_over_a_short_mandarin_clip_is_a_loop() -> None:
    looping = "我有的事我说不清楚你们知道吗我有的事我说不清楚你们"
    assert text_problem(looping, speech_seconds=1.8) == LOOPING
    assert text_problem("我有的事我说不清楚你们知道吗", speech_seconds=1.8) is None


def test_a_sentence_really_said_twice_is_not_a_loop() -> None:
    assert compression_ratio(JFK + " " + JFK) > 2.4  # Whisper's own rule alone would reject it
    assert text_problem(JFK + " " + JFK, speech_seconds=22.0) is None


def test_short_phrases_repeated_without_end_are_a_loop() -> None:
    assert repeats_itself("I think that we should I think that we should I think that we should")
    assert repeats_itself("谢谢大家谢谢大家谢谢大家")


def test_real_speech_with_its_own_repetitions_is_not_a_loop() -> None:
    assert not repeats_itself(JFK)  # "ask ... what ... can do for" comes back once
    assert not repeats_itself(POEM)  # "真比天上的" twice, five characters
    assert not repeats_itself("哈哈哈哈哈，太好了")
    assert not repeats_itself("We do not break. We never give in. We never back down.")
    assert not repeats_itself("No, no, no. That's not it.")
    assert text_problem(JFK, speech_seconds=10.0) is None


def test_text_far_too_long_or_short_for_the_speech_heard() -> None:
    assert text_problem(JFK + " " + POEM, speech_seconds=2.0) == TOO_LONG
    assert text_problem("8. The Press Yard", speech_seconds=10.0) == TOO_SHORT
    assert text_problem("", speech_seconds=8.0) == TOO_SHORT
    assert text_problem("Yes.", speech_seconds=1.5) is None  # short speech may be one word


def test_compression_ratio_of_ordinary_text_is_low() -> None:
    assert compression_ratio("") == 0.0
    assert compression_ratio(JFK) < 2.0
    assert compression_ratio(POEM) < 2.0


def test_a_loop_that_survived_every_decoding_is_cut_to_one_copy() -> None:
    looping = "我有的事我说不清楚你们知道吗我有的事我说不清楚你们"
    assert cut_repetition(looping) == "我有的事我说不清楚你们知道吗"
    sentence = "She had your dark suit in greasy wash water all year."
    assert cut_repetition(" ".join([sentence] * 3)) == sentence
    assert cut_repetition("It was, it was, it was, it was") == "It was"
    assert cut_repetition(JFK) == JFK  # nothing repeats: nothing cut
