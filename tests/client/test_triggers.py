"""Which role a dictation calls, table-tested: Chinese and English, and words that must not."""

from __future__ import annotations

import pytest

from capswriter.client.roles import Role
from capswriter.client.triggers import find_trigger

ROLES = (
    Role(name="翻译", aliases=("translate",), model="m", enabled=True),
    Role(name="翻译成英文", model="m", enabled=True),
    Role(name="polish", aliases=("润色", "polish up"), model="m", enabled=True),
    Role(name="one two", model="m", enabled=True),
    Role(name="总结", model="m", enabled=False),
)


@pytest.mark.parametrize(("text", "role", "rest"), [
    ("翻译，今天天气很好。", "翻译", "今天天气很好。"),
    ("翻译。今天天气很好", "翻译", "今天天气很好"),
    ("翻译：今天天气很好", "翻译", "今天天气很好"),
    ("翻译成英文，今天天气很好", "翻译成英文", "今天天气很好"),  # the longest trigger wins
    ("润色，这个就是我说的话", "polish", "这个就是我说的话"),
    ("Translate, the weather is nice today.", "翻译", "the weather is nice today."),
    ("translate: hello", "翻译", "hello"),
    ("Polish, this is what I said.", "polish", "this is what I said."),
    ("POLISH. this", "polish", "this"),
    ("Polish up, my notes", "polish", "my notes"),  # "polish up" before "polish"
    ("  Polish… my notes", "polish", "my notes"),
    ("One, two, three.", "one two", "three."),  # the recogniser's comma inside a trigger
    ("one two - three", "one two", "three"),
])
def test_a_trigger_word_then_a_pause_mark_calls_its_role(text, role, rest):
    trigger = find_trigger(text, ROLES)
    assert trigger is not None
    assert (trigger.role.name, trigger.text) == (role, rest)


@pytest.mark.parametrize("text", [
    "翻译这句话",  # no pause after the word: it is part of the sentence
    "请翻译，今天天气很好",  # not at the start
    "我想翻译。这个",
    "Polishing, the silver",  # the word goes on
    "Polish the silver.",
    "I will translate, later",
    "translated: it",
    "总结，今天的会议",  # a disabled role calls nothing
    "Polish.",  # the name alone leaves nothing to rewrite
    "翻译。",
    "",
    "one twofold, things",
])
def test_words_that_are_not_a_trigger_call_nothing(text):
    assert find_trigger(text, ROLES) is None


def test_a_first_piece_that_is_only_the_trigger_word_counts_as_a_pause():
    text = "翻译今天天气很好"
    assert find_trigger(text, ROLES) is None
    trigger = find_trigger(text, ROLES, pieces=["翻译", "今天天气很好"])
    assert trigger is not None and (trigger.role.name, trigger.text) == ("翻译", "今天天气很好")
    # a first piece that holds more than the word is a sentence, not a call
    assert find_trigger(text, ROLES, pieces=["翻译今天", "天气很好"]) is None


def test_without_roles_nothing_is_called():
    assert find_trigger("Polish, this", ()) is None
