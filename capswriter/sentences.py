"""Where recognised pieces of text meet: sentence starts, their capitals, and the space between.

Whisper decodes every piece of audio as if it were a whole utterance. A piece cut out of the
middle of a sentence may start with a capital ("…fellow Americans," + "And so…"), and a piece
that does start a sentence may start in lower case ("in 1813."). These rules look only at the
edges of pieces, where such cuts fall, and keep every other character as the recognizer wrote it;
digits in particular are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SENTENCE_END = ".?!。？！"
# Closing quotes and brackets after a full stop still end the sentence: 'He said "stop."'
_CLOSERS = "\"')]}”’»」』）"
_CLAUSE_MARKS = ",;:-–—"
# Punctuation of Latin text that a following word is separated from by a space.
_LATIN_PUNCTUATION = ".,;:!?)]}%\"'”’»…"
_FIRST_WORD = re.compile(r"^(\W*)(\w[\w']*)")

# Words that a recognizer capitalises only because a piece began with them. The list is short
# on purpose: lower-casing a name ("Americans", "Will", "May") would be worse than a capital
# left in place.
_MID_SENTENCE_WORDS = frozenset(
    """a an the and but or nor so yet then than that which who whom whose what when where while
    why how if because as at by from in into of off on onto out over to up with without about
    after before between through under is are was were be been being am have has had do does did
    would should could can not no it its it's this these those there here he she we they you me
    him her us them my your his our their also just even only all some any
    ask asks asked go goes went come came get got make made take took see saw know knew think
    thought want look use find give tell told work call try need feel become leave put mean
    keep let begin seem help talk turn start show hear play run move like live believe bring
    happen write sit stand lose pay meet include continue set learn change lead understand
    watch follow stop create speak read allow add spend grow open walk win offer remember
    love consider appear buy wait serve die send expect build stay fall cut reach kill remain
    very really still again never always often now too more most much many""".split()
)


def ends_sentence(text: str) -> bool:
    """True when ``text`` ends with . ? ! (or 。？！), closing quotes aside; "..." trails off."""
    text = text.rstrip().rstrip(_CLOSERS)
    if text.endswith(("...", "…")):
        return False
    return bool(text) and text[-1] in _SENTENCE_END


def continues_sentence(text: str) -> bool:
    """True when ``text`` stops inside a sentence: a Latin letter or digit, or , ; : or a dash."""
    text = text.rstrip()
    return bool(text) and (_is_latin_alnum(text[-1]) or text[-1] in _CLAUSE_MARKS)


def sentence_case(texts: Sequence[str], first_starts_sentence: bool = True) -> list[str]:
    """``texts`` (consecutive pieces) with the first word of each piece in reading case.

    A piece that starts a sentence (the first, when ``first_starts_sentence``, or one after a
    piece ending in . ? ! 。？！) gets a capital first letter. A piece that continues one (the
    previous ends in a Latin letter, digit, comma or the like) loses a capital that only a
    common word such as "And" or "The" had. Other pieces, and empty ones, are left as they are.
    """
    out = []
    previous: str | None = None
    for text in texts:
        if text.strip():
            if previous is None:
                if first_starts_sentence:
                    text = capitalise_first(text)
            elif ends_sentence(previous):
                text = capitalise_first(text)
            elif continues_sentence(previous):
                text = lower_common_first(text)
            previous = text
        out.append(text)
    return out


def capitalise_first(text: str) -> str:
    """The first word's first letter upper-cased if it is a Latin letter and the word is all
    lower case ("in" → "In"; "iPhone", "1813" and Chinese are left alone)."""
    match = _FIRST_WORD.match(text)
    if match is None:
        return text
    word = match.group(2)
    first = word[0]
    if not (_is_latin_alnum(first) and first.islower()) or any(c.isupper() for c in word):
        return text
    upper = first.upper()
    if len(upper) != 1:  # "ß" has no single capital
        return text
    at = match.start(2)
    return text[:at] + upper + text[at + 1 :]


def lower_common_first(text: str) -> str:
    """The first word lower-cased if it is a capitalised common word ("And", "The")."""
    match = _FIRST_WORD.match(text)
    if match is None:
        return text
    word = match.group(2)
    if word.lower() not in _MID_SENTENCE_WORDS or word != word.capitalize():
        return text
    at = match.start(2)
    return text[:at] + word[0].lower() + text[at + 1 :]


def needs_space_between(before: str, after: str) -> bool:
    """True when ``after`` follows ``before`` in Latin text and nothing separates them yet.

    "meters." + "Go forward" needs one; Chinese on either side ("米。" + "向前") never does.
    """
    if not before or not after or before[-1].isspace() or after[0].isspace():
        return False
    if not _is_latin_alnum(after[0]):
        return False
    # What counts is the last character that is not punctuation: "米…" is Chinese, "so…" not.
    core = before.rstrip(_LATIN_PUNCTUATION)
    if core and not _is_latin_alnum(core[-1]):
        return False
    return _is_latin_alnum(before[-1]) or before[-1] in _LATIN_PUNCTUATION


def _is_latin_alnum(char: str) -> bool:
    """A digit 0-9 or a letter of the Latin script (accented letters included)."""
    if char.isascii():
        return char.isalnum()
    code = ord(char)
    return char.isalpha() and (0x00C0 <= code <= 0x024F or 0x1E00 <= code <= 0x1EFF)
