"""Signs that recognizer text is not what was said: it loops, or it is the wrong size.

Whisper fails in a few recognisable ways: it repeats a phrase until its window is full, it stops
after the first sentence, or it writes a sentence over silence. Each check here looks at the text
alone (and the seconds of speech the VAD heard), so any decoder can use them.
"""

from __future__ import annotations

import re
import zlib

from capswriter.asr.text import has_cjk, looks_cut_short, looks_too_long, text_units

# Whisper's own threshold: text that gzip shrinks more than this is repeating itself.
COMPRESSION_RATIO_LIMIT = 2.4
# A run of at least this many words (or CJK characters) said twice in a row is a loop, not
# emphasis; a shorter unit has to come back at least _SHORT_RUN_TIMES times in a row.
_LONG_RUN_WORDS = 6
_LONG_RUN_CHARS = 10
_SHORT_RUN_TIMES = 3
_SINGLE_RUN_TIMES = 4
# Quick speech carries up to about 15 text units a second (letters; a CJK character counts 3).
_LOOP_UNITS_PER_SECOND = 16.0
_LOOP_SLACK = 10

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# A CJK character, or a word of any other script (apostrophes inside words kept).
_UNIT = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+(?:'[^\\W{_CJK}]+)*")

LOOPING = "repeats itself"
TOO_LONG = "too long for the speech heard"
TOO_SHORT = "too short for the speech heard"


def text_problem(text: str, speech_seconds: float) -> str | None:
    """What is wrong with `text` as the transcript of `speech_seconds` of speech, or None.

    Repetition alone is not a loop: people do say things twice. A decoder that loops writes
    the phrase again and again into time where something else was said, so its text is also
    denser than speech; only repetition with that density counts.
    """
    repetitive = compression_ratio(text) > COMPRESSION_RATIO_LIMIT or repeats_itself(text)
    if repetitive and text_units(text) > _LOOP_UNITS_PER_SECOND * speech_seconds + _LOOP_SLACK:
        return LOOPING
    if looks_too_long(text, speech_seconds):
        return TOO_LONG
    if looks_cut_short(text, speech_seconds):
        return TOO_SHORT
    return None


def compression_ratio(text: str) -> float:
    """Bytes of text over bytes of its zlib compression (as openai-whisper measures it)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


def units_of(text: str) -> list[str]:
    """Words, with each CJK character a word of its own; case and punctuation dropped."""
    return [unit.lower() for unit in _UNIT.findall(text)]


def unit_matches(text: str) -> list[re.Match[str]]:
    """The units of units_of, with their places in the text."""
    return list(_UNIT.finditer(text))


def repeats_itself(text: str) -> bool:
    """True when a phrase comes back in a way speech does not: a long run twice, a short one
    three times in a row (a single word four times)."""
    units = units_of(text)
    cjk = has_cjk(text)
    long_run = _LONG_RUN_CHARS if cjk else _LONG_RUN_WORDS
    # 哈哈哈 and 谢谢谢谢 are words, not loops: Chinese runs start at two characters.
    for size in range(2 if cjk else 1, long_run):
        times_needed = _SINGLE_RUN_TIMES if size == 1 else _SHORT_RUN_TIMES
        for start in range(len(units) - size * times_needed + 1):
            unit = units[start : start + size]
            times = 1
            while units[start + times * size : start + (times + 1) * size] == unit:
                times += 1
            if times >= times_needed:
                return True
    return _repeated_apart(units, long_run)


def _repeated_apart(units: list[str], size: int) -> bool:
    """A run of `size` units said twice, in a row or apart (a sentence the decoder went back to)."""
    seen: set[tuple[str, ...]] = set()
    for start in range(len(units) - size + 1):
        key = tuple(units[start : start + size])
        if key in seen:
            return True
        seen.add(key)
    return False


def cut_repetition(text: str) -> str:
    """`text` up to where it starts saying again what it has just said (one copy kept).

    The last resort for a window where every decoding looped: the words before the loop are
    usually right, the copies are not.
    """
    matches = list(_UNIT.finditer(text))
    units = [m.group().lower() for m in matches]
    cjk = has_cjk(text)
    long_run = _LONG_RUN_CHARS if cjk else _LONG_RUN_WORDS
    cut = len(units)
    for size in range(2 if cjk else 1, long_run):
        times_needed = _SINGLE_RUN_TIMES if size == 1 else _SHORT_RUN_TIMES
        for start in range(min(cut, len(units) - size * times_needed + 1)):
            unit = units[start : start + size]
            times = 1
            while units[start + times * size : start + (times + 1) * size] == unit:
                times += 1
            if times >= times_needed:
                cut = min(cut, start + size)
                break
    seen: set[tuple[str, ...]] = set()
    for start in range(len(units) - long_run + 1):
        key = tuple(units[start : start + long_run])
        if key in seen:
            cut = min(cut, start)
            break
        seen.add(key)
    if cut >= len(units):
        return text
    return text[: matches[cut].start()].rstrip(" ,;:、，；")
