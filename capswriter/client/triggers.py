"""Which role a dictation calls: a role's name spoken first, then a pause or punctuation.

"翻译，今天天气很好" calls the role named 翻译 with "今天天气很好"; "翻译这句话" and "I will
translate, later" call nothing — a trigger word inside a sentence is just a word. A pause shows
either as punctuation the recogniser wrote or as the end of the first piece the server cut the
dictation into. The longest matching trigger wins ("翻译成英文" before "翻译").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from capswriter.client.roles import Role

# What may follow a trigger word: the punctuation a recogniser writes at a pause.
PAUSE_MARKS = ",，.。:：;；!！?？、…—-"
_LEADING = re.compile(rf"^[\s{re.escape(PAUSE_MARKS)}\"'“”‘’]+")
# Between the words of a trigger the recogniser may write a space, a comma or nothing.
_WORD_GAP = rf"[\s{re.escape(',，、-')}]*"


@dataclass(frozen=True)
class Trigger:
    """A role called by a dictation: the trigger word as spoken and the text left for the role."""

    role: Role
    spoken: str
    text: str


def _pattern(word: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in word.split()]
    return re.compile(_WORD_GAP.join(parts), re.IGNORECASE)


def _bare(text: str) -> str:
    return re.sub(rf"[\s{re.escape(PAUSE_MARKS)}]+", "", text).casefold()


def find_trigger(
    text: str, roles: Iterable[Role], pieces: Sequence[str] = ()
) -> Trigger | None:
    """The role ``text`` starts by calling, and the rest of the text; None when it calls none.

    ``pieces`` are the texts of the pieces the dictation was cut into at pauses, if any: a first
    piece that is only a trigger word counts as the word followed by a pause.
    """
    candidates = sorted(
        ((word, role) for role in roles if role.enabled for word in role.triggers if word.strip()),
        key=lambda item: len(item[0]), reverse=True,
    )
    body = _LEADING.sub("", text)
    first_piece = _bare(pieces[0]) if len(pieces) > 1 else ""
    for word, role in candidates:
        match = _pattern(word).match(body)
        if match is None:
            continue
        after = body[match.end():]
        paused = bool(first_piece) and first_piece == _bare(body[: match.end()])
        mark = after.lstrip()[:1]
        if not paused and not (mark and mark in PAUSE_MARKS):
            continue  # the word goes on ("polishing") or the sentence does ("翻译这句话")
        rest = _LEADING.sub("", after).strip()
        if not rest:
            continue  # the name alone: nothing to rewrite, the words are the dictation
        return Trigger(role, body[: match.end()], rest)
    return None
