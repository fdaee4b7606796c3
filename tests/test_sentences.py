"""Where pieces of recognised text meet: capitals at sentence starts, spaces between dictations."""

from __future__ import annotations

import pytest

from capswriter.sentences import ends_sentence, needs_space_between, sentence_case


def test_a_piece_that_starts_a_sentence_gets_a_capital() -> None:
    assert sentence_case(["but when I had approached,", "the door was open.", "then it shut."]) \
        == ["But when I had approached,", "the door was open.", "Then it shut."]
    assert sentence_case(["它关上了。", "then it shut"]) == ["它关上了。", "Then it shut"]
    assert sentence_case(['"Stop!"', "he said."]) == ['"Stop!"', "He said."]
    assert sentence_case(["¿qué pasa?"]) == ["¿Qué pasa?"]


def test_a_piece_inside_a_sentence_loses_only_a_common_word_capital() -> None:
    texts = ["And so my fellow Americans,", "And ask not", "Americans can", "I said", "The end."]
    assert sentence_case(texts) == [
        "And so my fellow Americans,", "and ask not", "Americans can", "I said", "the end.",
    ]
    # Whisper starts each of its segments with a capital, also mid-sentence.
    assert sentence_case(["what your country can do for you", "Ask what you can do"]) == [
        "What your country can do for you", "ask what you can do",
    ]


def test_the_first_piece_keeps_its_case_when_it_may_continue_a_sentence() -> None:
    assert sentence_case(["in 1813", "The press yard."], first_starts_sentence=False) \
        == ["in 1813", "the press yard."]


def test_words_that_are_not_plain_lower_or_title_case_are_left_alone() -> None:
    assert sentence_case(["iPhone sales rose."]) == ["iPhone sales rose."]
    assert sentence_case(["It was", "THE end."]) == ["It was", "THE end."]
    assert sentence_case(["广州市房地产", "协会分析"]) == ["广州市房地产", "协会分析"]
    # A trailing-off "..." says nothing about what follows.
    assert sentence_case(["So...", "the door", "And then"]) == ["So...", "the door", "and then"]


def test_empty_pieces_neither_change_nor_count() -> None:
    assert sentence_case(["", "hello.", "  ", "world."]) == ["", "Hello.", "  ", "World."]


@pytest.mark.parametrize(
    "texts",
    [["1, 2, 3."], ["Go forward 10 meters."], ["1,", "2,", "3."], ["in", "1813."],
     ["8.", "The press yard."], ["3.14 is close", "10 meters on."]],
)
def test_digits_stay_digits(texts: list[str]) -> None:
    cased = sentence_case(texts)
    assert [t.lower() for t in cased] == [t.lower() for t in texts]
    assert [c for t in cased for c in t if c.isdigit()] == [c for t in texts for c in t
                                                            if c.isdigit()]


def test_sentence_ends() -> None:
    assert ends_sentence("Go forward 10 meters.")
    assert ends_sentence('He said "stop!" ')
    assert ends_sentence("向前走。")
    assert not ends_sentence("1, 2,")
    assert not ends_sentence("and then...")
    assert not ends_sentence("")


@pytest.mark.parametrize(
    ("before", "after", "space"),
    [
        ("Go forward 10 meters.", "Go forward", True),
        ("Go forward 10 meters", "and stop.", True),
        ("1, 2, 3.", "4", True),
        ('He said "stop."', "Then", True),
        ("Café", "ouvert", True),
        ("Hello. ", "World", False),  # trailing_space already put one there
        ("Hello.", " World", False),
        ("向前走十米。", "然后停下。", False),
        ("向前走十米。", "Then stop.", False),
        ("Go forward.", "然后停下。", False),
        ("好的……", "OK", False),
        ("Hello.", "(aside)", False),
        ("", "Hello", False),
    ],
)
def test_a_space_separates_latin_dictations_only(before: str, after: str, space: bool) -> None:
    assert needs_space_between(before, after) is space
