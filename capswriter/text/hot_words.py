"""Hot words matched by sound: a name comes out right even when the recognizer wrote a sound-alike.

The file (``hot_words.txt``), one rule a line, ``#`` starts a comment::

    Claude | 克劳德 | cloud              every alias is matched by sound, the first item written
    傅平 ~~~ 扶贫 | 精准                  a blacklisted word within 5 characters vetoes the match
    黄章 @ 0.95                          this line's own threshold (default 0.85)
    GitHub                               Latin words match whole words, so case comes out right
    see pie = CPython                    ``wrong = right``: a literal replacement, nothing by sound

A hot word matches a span of the text by a weighted edit distance over sounds
(:mod:`capswriter.text.sounds`): score = 1 − distance / units of the hot word. Spans start and end
on character boundaries (whole words for Latin), never cross punctuation, and overlapping matches
go to the higher score. Hot words of up to :data:`EXACT_TONES_UP_TO` Chinese characters must match
every tone: with one tone off, 他很慌张 scored 0.92 against 黄章, and ordinary speech is full of
such pairs (measured: ``capswriter bench text``).

A coarse index keeps the edit distance to the few hot words that could match at all: it holds
the sound-alike classes of neighbouring syllables (and of syllables one apart), and a hot word is
tried only when the sentence has enough of its pairs for its budget of wrong sounds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain

from capswriter.text.sounds import Sound, sounds_of, sounds_of_many, substitution_cost

DEFAULT_THRESHOLD = 0.85
EXACT_TONES_UP_TO = 2
BLACKLIST_WINDOW = 5
_INF = math.inf


@dataclass(frozen=True)
class HotWord:
    """One line of the file: what to write, what it may be heard as, what vetoes it."""

    target: str
    aliases: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()
    threshold: float | None = None
    line: int = 0

    @property
    def spoken(self) -> tuple[str, ...]:
        """Everything matched by sound: the target itself and its aliases."""
        return (self.target, *self.aliases)


@dataclass(frozen=True)
class Literal:
    """``wrong = right``: a phrase replaced as written (any case; Latin on whole words)."""

    pattern: re.Pattern[str]
    replacement: str


@dataclass(frozen=True)
class HotWordRules:
    words: tuple[HotWord, ...] = ()
    literals: tuple[Literal, ...] = ()


@dataclass(frozen=True)
class Match:
    """A span of the text that a hot word claims, and why."""

    start: int
    end: int
    before: str
    after: str
    score: float
    heard_as: str  # the alias (or the target) whose sound matched

    @property
    def changes_text(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Rewrite:
    text: str
    changes: list[Match]
    spans: list[tuple[int, int]]  # where hot words stand in ``text`` (changed or not)


def _literal(wrong: str, right: str) -> Literal:
    pattern = re.escape(wrong)
    if wrong[:1].isascii() and wrong[:1].isalnum():
        pattern = r"(?<![A-Za-z0-9])" + pattern
    if wrong[-1:].isascii() and wrong[-1:].isalnum():
        pattern += r"(?![A-Za-z0-9])"
    return Literal(re.compile(pattern, re.IGNORECASE), right)


def _items(part: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in part.split("|") if item.strip())


def parse_hot_words(text: str) -> HotWordRules:
    """The rules of a ``hot_words.txt``; a malformed line raises ValueError naming it."""
    words: list[HotWord] = []
    literals: list[Literal] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        wrong, sep, right = line.partition(" = ")
        if sep:
            if not wrong.strip() or not right.strip():
                raise ValueError(f"line {number}: expected 'wrong = right'")
            literals.append(_literal(wrong.strip(), right.strip()))
            continue
        threshold = None
        body, at, value = line.rpartition("@")
        if at and re.fullmatch(r"\s*\d*\.?\d+\s*", value):
            threshold = float(value)
            if not 0 < threshold <= 1:
                raise ValueError(f"line {number}: threshold must be above 0 and at most 1")
            line = body.strip()
        spoken, _, vetoes = line.partition("~~~")
        items = _items(spoken)
        if not items or not spoken.split("|")[0].strip():
            raise ValueError(f"line {number}: no hot word before '|' or '~~~'")
        words.append(HotWord(items[0], items[1:], _items(vetoes), threshold, number))
    return HotWordRules(tuple(words), tuple(literals))


@dataclass
class _Pattern:
    word: HotWord
    spoken: str
    sounds: list[Sound]
    units: int
    max_distance: float
    exact_tones: bool
    needed: int = 0  # distinct index keys the sentence must share


def _can_start(text: str, i: int) -> bool:
    return not (text[i].isascii() and text[i].isalnum() and i > 0
                and text[i - 1].isascii() and text[i - 1].isalnum())


def _can_end(text: str, i: int) -> bool:
    return not (text[i].isascii() and text[i].isalnum() and i + 1 < len(text)
                and text[i + 1].isascii() and text[i + 1].isalnum())


@dataclass
class _Segment:
    """A stretch of the text between punctuation: its sounds and where each came from."""

    positions: list[int] = field(default_factory=list)
    sounds: list[Sound] = field(default_factory=list)
    starts: list[bool] = field(default_factory=list)
    ends: list[bool] = field(default_factory=list)


def _segments(text: str, sounds: list[Sound | None]) -> list[_Segment]:
    segments = [_Segment()]
    for i, (ch, sound) in enumerate(zip(text, sounds, strict=False)):
        if sound is None:
            if not ch.isspace() and segments[-1].sounds:
                segments.append(_Segment())
            continue
        seg = segments[-1]
        seg.positions.append(i)
        seg.sounds.append(sound)
        seg.starts.append(_can_start(text, i))
        seg.ends.append(_can_end(text, i))
    return [seg for seg in segments if seg.sounds]


def _spans(pattern: _Pattern, seg: _Segment) -> list[tuple[float, int, int]]:
    """(distance, first, last+1) of every end where the pattern matches within its budget."""
    p, t, n = pattern.sounds, seg.sounds, len(seg.sounds)
    prev = [0.0 if j < n and seg.starts[j] else _INF for j in range(n + 1)]
    prev_from = list(range(n + 1))
    for sound in p:
        cur = [prev[0] + sound.units] + [_INF] * n
        cur_from = [prev_from[0]] + [0] * n
        for j in range(1, n + 1):
            heard = t[j - 1]
            sub = substitution_cost(heard, sound)
            if pattern.exact_tones and heard.tone != sound.tone:
                sub = _INF
            best, origin = prev[j - 1] + sub, prev_from[j - 1]
            if prev[j] + sound.units < best:  # the hot word's sound is missing from the text
                best, origin = prev[j] + sound.units, prev_from[j]
            if cur[j - 1] + heard.units < best:  # an extra sound in the text
                best, origin = cur[j - 1] + heard.units, cur_from[j - 1]
            cur[j], cur_from[j] = best, origin
        prev, prev_from = cur, cur_from
    return [(prev[j], prev_from[j], j) for j in range(1, n + 1)
            if prev[j] <= pattern.max_distance and seg.ends[j - 1] and prev_from[j] < j]


def _as_written(replacement: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: replacement


def _pair_keys(keys: list[str]) -> set[str]:
    """The coarse keys of neighbouring sounds and of sounds one apart; a lone sound's own key."""
    if len(keys) == 1:
        return set(keys)
    pairs = {f"{a} {b}" for a, b in zip(keys, keys[1:], strict=False)}
    return pairs | {f"{a} _ {b}" for a, b in zip(keys, keys[2:], strict=False)}


class HotWordMatcher:
    """Finds and writes the hot words of a :class:`HotWordRules` in recognised text."""

    def __init__(self, rules: HotWordRules, threshold: float = DEFAULT_THRESHOLD,
                 exact_tones_up_to: int = EXACT_TONES_UP_TO) -> None:
        self.rules = rules
        self.threshold = threshold
        self._patterns: list[_Pattern] = []
        self._index: dict[str, list[int]] = {}
        spoken_all = [(word, spoken) for word in rules.words for spoken in word.spoken]
        heard_all = sounds_of_many([spoken for _, spoken in spoken_all])
        for (word, spoken), heard in zip(spoken_all, heard_all, strict=False):
            limit = word.threshold if word.threshold is not None else threshold
            sounds = [s for s in heard if s is not None]
            if not sounds:
                continue
            units = sum(s.units for s in sounds)
            han = sum(1 for s in sounds if s.tone)
            pattern = _Pattern(word, spoken, sounds, units, (1 - limit) * units + 1e-9,
                               0 < han <= exact_tones_up_to)
            keys = _pair_keys([s.key for s in sounds])
            # One wrong sound breaks at most four of a word's pairs (two neighbours, two
            # one apart), and its budget bounds how many sounds may be wrong.
            pattern.needed = max(1, len(keys) - 4 * int(pattern.max_distance))
            pid = len(self._patterns)
            self._patterns.append(pattern)
            for key in keys:
                self._index.setdefault(key, []).append(pid)

    def __len__(self) -> int:
        return len(self.rules.words)

    def find(self, text: str) -> list[Match]:
        """The matches kept after overlaps are settled, in text order, with unchanged spans."""
        if not self._patterns or not text:
            return []
        sounds = sounds_of(text)
        segments = _segments(text, sounds)
        keys = set().union(*(_pair_keys([s.key for s in seg.sounds]) for seg in segments))
        hits = Counter(chain.from_iterable(self._index.get(k, ()) for k in keys))
        found: list[Match] = []
        for pid, count in hits.items():
            pattern = self._patterns[pid]
            if count < pattern.needed:
                continue
            for seg in segments:
                for distance, first, last in _spans(pattern, seg):
                    start, end = seg.positions[first], seg.positions[last - 1] + 1
                    if self._vetoed(pattern.word, text, start, end):
                        continue
                    score = 1 - distance / pattern.units
                    found.append(Match(start, end, text[start:end], pattern.word.target,
                                       round(score, 3), pattern.spoken))
        return self._settle(found)

    @staticmethod
    def _vetoed(word: HotWord, text: str, start: int, end: int) -> bool:
        lo, hi = start - BLACKLIST_WINDOW, end + BLACKLIST_WINDOW
        for veto in word.blacklist:
            at = text.find(veto)
            while at != -1:
                if at < hi and at + len(veto) > lo:
                    return True
                at = text.find(veto, at + 1)
        return False

    @staticmethod
    def _settle(found: list[Match]) -> list[Match]:
        # Higher score first; at equal scores the text already written as the target wins,
        # then the longer span.
        found.sort(key=lambda m: (-m.score, m.changes_text, -(m.end - m.start), m.start))
        taken: list[Match] = []
        for match in found:
            if all(match.end <= t.start or match.start >= t.end for t in taken):
                taken.append(match)
        return sorted(taken, key=lambda m: m.start)

    def rewrite(self, text: str) -> Rewrite:
        """``text`` with its literals replaced and its hot words written, and where they are."""
        for literal in self.rules.literals:
            # A function, so a backslash in the replacement is written as it stands.
            text = literal.pattern.sub(_as_written(literal.replacement), text)
        out: list[str] = []
        spans: list[tuple[int, int]] = []
        at = shift = 0
        matches = self.find(text)
        for match in matches:
            out.append(text[at:match.start])
            out.append(match.after)
            spans.append((match.start + shift, match.start + shift + len(match.after)))
            shift += len(match.after) - (match.end - match.start)
            at = match.end
        out.append(text[at:])
        return Rewrite("".join(out), [m for m in matches if m.changes_text], spans)

    def apply(self, text: str) -> tuple[str, list[Match]]:
        """``text`` with its literals replaced and its hot words written; the changes made."""
        done = self.rewrite(text)
        return done.text, done.changes
