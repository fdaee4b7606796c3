"""The one text stage: hot words, then numbers, then mixed-script spacing, with what changed.

Dictation (the client's post-processing), file transcription and the server's API all call
:meth:`TextStage.apply`; the Settings page's "try a sentence" box shows its :class:`Change` list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capswriter.text.hot_words import DEFAULT_THRESHOLD, HotWordMatcher, parse_hot_words
from capswriter.text.itn import inverse_normalize
from capswriter.text.spacing import SPACING, join_spelled_letters, space_mixed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextOptions:
    """Which parts of the stage run."""

    itn: bool = False
    hot_words: bool = True
    threshold: float = DEFAULT_THRESHOLD
    spacing: str = "keep"  # keep | space | none (see capswriter.text.spacing)

    def __post_init__(self) -> None:
        if self.spacing not in SPACING:
            raise ValueError(f"spacing must be one of {', '.join(SPACING)}, not {self.spacing!r}")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"the hot-word threshold must be above 0 and at most 1, "
                             f"not {self.threshold}")


@dataclass(frozen=True)
class Change:
    """One rewrite the stage made, for showing why the text differs from what was heard."""

    kind: str  # "hot word" | "numbers" | "letters" | "spacing"
    before: str
    after: str
    score: float | None = None  # hot words: how closely the sound matched
    heard_as: str = ""  # hot words: the alias whose sound matched


@dataclass(frozen=True)
class TextResult:
    raw: str
    text: str
    changes: tuple[Change, ...] = field(default_factory=tuple)


class HotWordFile:
    """A ``hot_words.txt`` read again when its modification time or size changes.

    A file that fails to parse keeps the last good list, so a half-saved edit never breaks
    dictation; the reason is logged and kept in :attr:`error`.
    """

    def __init__(self, path: Path, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.path = path
        self.threshold = threshold
        self.error = ""
        self._stamp: tuple[int, int] | None = None
        self._matcher: HotWordMatcher | None = None

    def use_threshold(self, threshold: float) -> None:
        """Match with ``threshold`` from now on (lines with their own keep theirs)."""
        if threshold != self.threshold:
            self.threshold, self._stamp = threshold, None

    def matcher(self) -> HotWordMatcher | None:
        try:
            st = self.path.stat()
        except OSError:
            self._stamp, self._matcher = None, None
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                rules = parse_hot_words(self.path.read_text(encoding="utf-8"))
                self._matcher = HotWordMatcher(rules, self.threshold)
                self.error = ""
                log.info("loaded %s: %d hot words", self.path, len(rules.words))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                self.error = f"{self.path}: {exc}"
                log.warning("ignoring %s", self.error)
        return self._matcher


class TextStage:
    """Rewrites recognised text by the options, with hot words from a matcher or a file."""

    def __init__(self, options: TextOptions,
                 hot_words: HotWordMatcher | HotWordFile | None = None) -> None:
        self.options = options
        self._hot_words = hot_words

    @classmethod
    def from_file(cls, options: TextOptions, path: Path | None) -> TextStage:
        return cls(options, HotWordFile(path, options.threshold) if path else None)

    @classmethod
    def from_text(cls, options: TextOptions, hot_words: str) -> TextStage:
        """A stage whose hot words are given as the file's text (raises ValueError if bad)."""
        matcher = HotWordMatcher(parse_hot_words(hot_words), options.threshold)
        return cls(options, matcher if len(matcher) or matcher.rules.literals else None)

    def _matcher(self) -> HotWordMatcher | None:
        if isinstance(self._hot_words, HotWordFile):
            return self._hot_words.matcher()
        return self._hot_words

    def apply(self, raw: str) -> TextResult:
        text, changes = raw, []
        spans: list[tuple[int, int]] = []
        matcher = self._matcher() if self.options.hot_words else None
        if matcher is not None:
            done = matcher.rewrite(text)
            text, spans = done.text, done.spans
            changes += [Change("hot word", m.before, m.after, m.score, m.heard_as)
                        for m in done.changes]
        if self.options.itn:
            # A hot word is written as its line says, numerals and all (十三五, 三体).
            written = _outside(text, spans, inverse_normalize)
            if written != text:
                changes.append(Change("numbers", text, written))
            text = written
        joined = join_spelled_letters(text)
        if joined != text:
            changes.append(Change("letters", text, joined))
        spaced = space_mixed(joined, self.options.spacing)
        if spaced != joined:
            changes.append(Change("spacing", joined, spaced))
        return TextResult(raw, spaced, tuple(changes))


def _outside(text: str, spans: list[tuple[int, int]], rewrite: Callable[[str], str]) -> str:
    out, at = [], 0
    for start, end in spans:
        out += [rewrite(text[at:start]), text[start:end]]
        at = end
    out.append(rewrite(text[at:]))
    return "".join(out)
