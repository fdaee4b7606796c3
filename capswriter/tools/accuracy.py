"""Scoring transcripts against references: error rates, word-level diffs and looping output.

English is compared after Whisper's English text normalizer (case, punctuation, spelled-out
numbers); Chinese and Japanese by characters after Traditional→Simplified conversion and
punctuation removal, a Latin word inside them counting as one unit. An error rate is the edit
distance (substitutions, deletions, insertions) over the reference length, summed over clips
before dividing.

A looping output is Whisper's best-known failure: the decoder repeats itself until its token
budget runs out. It shows as text that compresses too well (gzip ratio over 2.4, the threshold
Whisper itself uses) or as a stretch of words said back to back again and again.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from capswriter.asr.text import to_simplified

CJK_LANGUAGES = {"zh", "yue", "ja"}
# Whisper's compression_ratio_threshold: above it a decode is treated as repetitive.
COMPRESSION_RATIO_LIMIT = 2.4
# One Whisper window yields a few hundred bytes of text; longer text (a whole file) is judged
# window by window, since any long text compresses better than the 30 s Whisper saw at once.
COMPRESSION_WINDOW_BYTES = 600


# ---- what is compared ----------------------------------------------------------------------

_SMALL_NUMBERS = {
    w: str(i)
    for i, w in enumerate("zero one two three four five six seven eight nine ten".split())
}


@functools.lru_cache(maxsize=1)
def _english_normalizer():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def _english_words(text: str) -> list[str]:
    words: list[str] = []
    for word in _english_normalizer()(text).split():
        # ...and leaves a lone "1" spelled out, so compare small numbers as digits.
        word = _SMALL_NUMBERS.get(word, word)
        # The normalizer turns "one two three" into "123" but keeps "1, 2, 3" as three words.
        if words and word.isdigit() and words[-1].isdigit():
            words[-1] += word
        else:
            words.append(word)
    return words


_HAN_OR_KANA = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# In Chinese text a Han or kana character is one unit and so is a run of other letters or
# digits: "唱跳rap篮球" is five units, as mixed-error-rate scoring counts code-switched speech,
# so an English word costs one error like a Chinese character, not one per letter.
_CJK_UNIT = re.compile(f"[{_HAN_OR_KANA}]|(?:(?![{_HAN_OR_KANA}])[^\\W_])+(?:'[^\\W_]+)*")


def _is_han_or_kana(unit: str) -> bool:
    return len(unit) == 1 and bool(re.match(f"[{_HAN_OR_KANA}]", unit))


def _chinese_units(text: str) -> list[str]:
    return [u.lower() for u in _CJK_UNIT.findall(to_simplified(text))]


def units(text: str, language: str) -> list[str]:
    """What is compared: normalized words, or characters for Chinese and Japanese."""
    return _chinese_units(text) if language in CJK_LANGUAGES else _english_words(text)


def join_units(units: list[str], cjk: bool = False) -> str:
    """Units back into text: a space between words, none next to a Chinese character."""
    out = ""
    for unit in units:
        if out and _spaced(out[-1], unit[0], cjk):
            out += " "
        out += unit
    return out


def _spaced(left: str, right: str, cjk: bool) -> bool:
    return not cjk or not (_is_han_or_kana(left) or _is_han_or_kana(right))


# ---- alignment -----------------------------------------------------------------------------


@dataclass
class Alignment:
    """A minimal edit script from reference to hypothesis.

    ``chunks`` alternate between agreeing stretches (``ref == hyp``) and disagreeing ones; a
    disagreeing chunk with both sides is a substitution (plus deletions or insertions when
    the sides differ in length), with one side empty a pure deletion or insertion.
    """

    chunks: list[tuple[list[str], list[str]]]
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def length(self) -> int:
        return sum(len(ref) for ref, _ in self.chunks)

    @property
    def longest_drop(self) -> int:
        """The most reference units one disagreeing stretch leaves unsaid: a window whose
        speech was skipped shows as one long deletion (or a few words standing for many)."""
        return max((len(ref) - len(hyp) for ref, hyp in self.chunks if ref != hyp), default=0)

    def diff(self, cjk: bool = False) -> str:
        """The reference with errors marked: ``[-deleted-]{+inserted+}``, agreement plain.

        With ``cjk`` the units are Chinese characters and go without spaces between them.
        """
        out = ""
        last = ""  # the last unit written, which decides the space before the next piece
        for ref, hyp in self.chunks:
            if ref == hyp:
                pieces = [(unit, unit, unit) for unit in ref]
            else:
                marked = (f"[-{join_units(ref, cjk)}-]" if ref else "") + \
                         (f"{{+{join_units(hyp, cjk)}+}}" if hyp else "")
                pieces = [(marked, (ref or hyp)[0], (hyp or ref)[-1])]
            for text, first, final in pieces:
                if out and _spaced(last[-1], first[0], cjk):
                    out += " "
                out += text
                last = final
        return out


def _distances(ref_ids: np.ndarray, hyp_ids: np.ndarray) -> np.ndarray:
    """The full Levenshtein table, one numpy row at a time.

    Within a row the insertion step depends on its left neighbour, but ``row[j] = min over
    k <= j of (base[k] + j - k)`` is a running minimum, so no Python loop over columns is needed.
    """
    n, m = len(ref_ids), len(hyp_ids)
    table = np.empty((n + 1, m + 1), dtype=np.int32)
    table[0] = np.arange(m + 1)
    steps = np.arange(m + 1, dtype=np.int32)
    for i in range(1, n + 1):
        previous = table[i - 1]
        base = np.empty(m + 1, dtype=np.int32)
        base[0] = i
        base[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (hyp_ids != ref_ids[i - 1]))
        table[i] = np.minimum.accumulate(base - steps) + steps
    return table


def align(ref: list[str], hyp: list[str]) -> Alignment:
    """Align two unit sequences with the fewest edits, substitutions preferred."""
    vocabulary: dict[str, int] = {}
    ref_ids = np.array([vocabulary.setdefault(u, len(vocabulary)) for u in ref], dtype=np.int32)
    hyp_ids = np.array([vocabulary.setdefault(u, len(vocabulary)) for u in hyp], dtype=np.int32)
    table = _distances(ref_ids, hyp_ids)
    ops: list[tuple[str, str | None, str | None]] = []
    i, j = len(ref), len(hyp)
    while i or j:
        # Walking back, edits are taken before matches so that a repeated word is marked
        # where the repeat is ("for you {+for you+}"), not in front of the original.
        here = table[i, j]
        if i and j and ref[i - 1] != hyp[j - 1] and here == table[i - 1, j - 1] + 1:
            ops.append(("s", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif j and here == table[i, j - 1] + 1:
            ops.append(("i", None, hyp[j - 1]))
            j -= 1
        elif i and here == table[i - 1, j] + 1:
            ops.append(("d", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("=", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
    ops.reverse()
    alignment = Alignment([])
    for op, r, h in ops:
        same = op == "="
        if not alignment.chunks or (alignment.chunks[-1][0] == alignment.chunks[-1][1]) != same:
            alignment.chunks.append(([], []))
        if r is not None:
            alignment.chunks[-1][0].append(r)
        if h is not None:
            alignment.chunks[-1][1].append(h)
        alignment.substitutions += op == "s"
        alignment.deletions += op == "d"
        alignment.insertions += op == "i"
    return alignment


def score(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    """(edits, reference length) in words, or characters for Chinese and Japanese."""
    alignment = align(units(reference, language), units(hypothesis, language))
    return alignment.errors, alignment.length


# ---- looping output ------------------------------------------------------------------------

# A Han or kana character is a unit of its own; anything else runs of letters and digits.
_LOOP_TOKEN = re.compile(
    f"[{_HAN_OR_KANA}]|(?:(?![{_HAN_OR_KANA}])[^\\W_])+(?:'[^\\W_]+)*"
)
# A repeat counts as a loop when its unit (>= 3 words / >= 4 characters) comes three times in
# a row, or when the repeated copy alone is sentence-long (>= 8 words / >= 10 characters):
# "She had a a a" is a stutter, "我有的事我说不清楚你们知道吗我有的事我说不清楚你们" a loop.
_MIN_UNIT = {"words": 3, "chars": 4}
_MIN_COPY = {"words": 8, "chars": 10}
_MAX_UNIT = 80  # tokens; longer units are whole passages, not decoder loops
# Whisper also loops inside a word when it writes no spaces: a piece of up to 20 letters or
# digits five times or more in a row, 20 characters in all ("hahaha" is a laugh).
_REPEAT_IN_WORD = re.compile(f"((?:(?![{_HAN_OR_KANA}])[^\\W_]){{1,20}}?)\\1{{4,}}")
_MIN_IN_WORD_RUN = 20


def compression_ratio(text: str) -> float:
    """UTF-8 length over zlib-compressed length, as Whisper computes it."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def max_compression_ratio(text: str, window: int = COMPRESSION_WINDOW_BYTES) -> float:
    """The highest compression ratio over windows of about one Whisper output."""
    data = text.encode("utf-8")
    if len(data) <= window:
        return compression_ratio(text)
    starts = range(0, len(data) - window + window // 2, window // 2)
    return max(len(data[s : s + window]) / len(zlib.compress(data[s : s + window]))
               for s in starts)  # fmt: skip


@dataclass
class Repeat:
    """A stretch of text said again right after itself."""

    unit: str  # one copy of what repeats
    times: float  # copies in a row; 1.8 is once and most of a second time

    def __str__(self) -> str:
        return f"{self.unit} ×{self.times:.1f}"


def find_repeats(text: str) -> list[Repeat]:
    """Back-to-back repeats long or frequent enough to be a decoder loop: runs of words or
    characters in text order, then runs inside one word ("rapraprap…", "2020202…")."""
    tokens = [t.lower() for t in _LOOP_TOKEN.findall(text)]
    if not tokens:
        return []
    return _repeated_tokens(tokens) + [
        Repeat(m.group(1).lower(), round(len(m.group(0)) / len(m.group(1)), 1))
        for m in _REPEAT_IN_WORD.finditer(text) if len(m.group(0)) >= _MIN_IN_WORD_RUN
    ]


def _repeated_tokens(tokens: list[str]) -> list[Repeat]:
    chars = sum(_is_han_or_kana(t) for t in tokens)
    kind = "chars" if chars * 2 >= len(tokens) else "words"
    join = "" if kind == "chars" else " "
    positions: dict[str, list[int]] = {}
    for k, token in enumerate(tokens):
        positions.setdefault(token, []).append(k)
    found: list[Repeat] = []
    i = 0
    while i < len(tokens):
        best: tuple[int, int] | None = None  # (unit length, copied length)
        for j in positions[tokens[i]]:
            unit = j - i
            if unit <= 0:
                continue
            if unit > _MAX_UNIT:
                break
            copied = 0
            while j + copied < len(tokens) and tokens[i + copied] == tokens[j + copied]:
                copied += 1
            is_loop = (unit >= _MIN_UNIT[kind] and copied >= 2 * unit) or copied >= _MIN_COPY[kind]
            if is_loop and (best is None or unit + copied > sum(best)):
                best = (unit, copied)
        if best is None:
            i += 1
            continue
        unit, copied = best
        found.append(Repeat(join.join(tokens[i : i + unit]), round((unit + copied) / unit, 1)))
        i += unit + copied
    return found


def looks_looping(text: str) -> bool:
    """True for text that repeats itself the way a looping Whisper decoder does."""
    return max_compression_ratio(text) > COMPRESSION_RATIO_LIMIT or bool(find_repeats(text))


# ---- clips and reports ---------------------------------------------------------------------


@dataclass
class ClipScore:
    file: str
    language: str
    reference: str
    hypothesis: str
    errors: int
    length: int
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    diff: str = ""
    empty: bool = False  # the reference has words, the hypothesis none
    looping: bool = False
    compression_ratio: float = 0.0
    repeats: list[str] = field(default_factory=list)
    # A reference that repeats itself (a long recording built from one short clip) makes
    # repetition in the hypothesis expected: such a clip is not judged for looping.
    reference_repeats: bool = False
    seconds: float = 0.0  # what the system took for this clip
    error: str = ""  # why the system gave no text, when it failed
    longest_drop: int = 0  # see Alignment.longest_drop
    # Chinese only: edits and length with spoken numbers written in digits on both sides, so
    # 一百 against 100 is no error (capswriter.text.itn).
    itn_errors: int = 0
    itn_length: int = 0


def score_clip(file: str, language: str, reference: str, hypothesis: str,
               seconds: float = 0.0, error: str = "") -> ClipScore:
    """Everything the harness reports about one transcript of one clip."""
    ref, hyp = units(reference, language), units(hypothesis, language)
    alignment = align(ref, hyp)
    reference_repeats = looks_looping(reference)
    repeats = [] if reference_repeats else find_repeats(hypothesis)
    ratio = max_compression_ratio(hypothesis)
    looping = not reference_repeats and (ratio > COMPRESSION_RATIO_LIMIT or bool(repeats))
    return ClipScore(
        file, language, reference, hypothesis, alignment.errors, alignment.length,
        alignment.substitutions, alignment.deletions, alignment.insertions,
        alignment.diff(language in CJK_LANGUAGES), bool(ref) and not hyp, looping, round(ratio, 2),
        [str(r) for r in repeats], reference_repeats, round(seconds, 3), error,
        max(0, alignment.longest_drop),
        *_itn_score(reference, hypothesis, language),
    )  # fmt: skip


ITN_LANGUAGES = ("zh",)


def _itn_score(reference: str, hypothesis: str, language: str) -> tuple[int, int]:
    if language not in ITN_LANGUAGES:
        return 0, 0
    from capswriter.text.itn import inverse_normalize

    return score(inverse_normalize(to_simplified(reference)),
                 inverse_normalize(to_simplified(hypothesis)), language)


@dataclass
class AccuracyReport:
    clips: list[ClipScore] = field(default_factory=list)

    def rate(self, language: str) -> float:
        """Corpus-level error rate: total edits over total reference units."""
        chosen = [c for c in self.clips if c.language == language]
        length = sum(c.length for c in chosen)
        return sum(c.errors for c in chosen) / length if length else 0.0

    def itn_rate(self, language: str) -> float:
        """:meth:`rate` with spoken numbers written in digits on both sides (Chinese)."""
        chosen = [c for c in self.clips if c.language == language]
        length = sum(c.itn_length for c in chosen)
        return sum(c.itn_errors for c in chosen) / length if length else 0.0

    def languages(self) -> list[str]:
        return sorted({c.language for c in self.clips})

    @property
    def looping(self) -> int:
        return sum(c.looping for c in self.clips)

    @property
    def repeats(self) -> int:
        return sum(len(c.repeats) for c in self.clips)

    @property
    def empty(self) -> int:
        return sum(c.empty for c in self.clips)

    @property
    def failed(self) -> int:
        return sum(bool(c.error) for c in self.clips)

    @property
    def longest_drop(self) -> int:
        return max((c.longest_drop for c in self.clips), default=0)

    def only(self, language: str) -> AccuracyReport:
        return AccuracyReport([c for c in self.clips if c.language == language])

    def to_dict(self) -> dict:
        return {
            "clips": [asdict(c) for c in self.clips],
            "rates": {lang: self.rate(lang) for lang in self.languages()},
            "itn_rates": {lang: self.itn_rate(lang) for lang in self.languages()
                          if lang in ITN_LANGUAGES},
            "looping": self.looping,
            "empty": self.empty,
            "failed": self.failed,
            "by_language": {
                lang: {"clips": len(part.clips), "rate": part.rate(lang),
                       "errors": sum(c.errors for c in part.clips),
                       "length": sum(c.length for c in part.clips),
                       "looping": part.looping, "empty": part.empty, "failed": part.failed}
                for lang in self.languages() for part in [self.only(lang)]
            },
        }
