"""What the recognised text becomes and how it goes out, read from the user's rule files.

:class:`PostProcessor` rewrites the text (Chinese script; hot words, numbers and spacing through
:mod:`capswriter.text`; regex rules; trailing punctuation and space); ``apps.toml`` names the
applications that get pasting or typing instead of the default mode (:func:`mode_for`). The
files are re-read when their mtime changes, so edits apply to the next dictation. Putting the
text into a window is :mod:`capswriter.client.delivery`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from capswriter.asr.text import to_script
from capswriter.config import OUTPUT_MODES, Settings, config_dir, tomllib
from capswriter.text import HotWordFile, TextOptions, TextResult, TextStage

log = logging.getLogger(__name__)

TRAILING_PUNCTUATION = "。，、；：！？,.;:!?…"
MODES = OUTPUT_MODES


class WatchedFile:
    """A text file parsed again whenever its modification time or size changes."""

    def __init__(self, path: Path, parse: Callable[[str], object], empty: object) -> None:
        self.path = path
        self._parse = parse
        self._empty = empty
        self._stamp: tuple[int, int] | None = None
        self._value = empty

    def current(self) -> object:
        try:
            st = self.path.stat()
        except OSError:
            self._stamp, self._value = None, self._empty
            return self._value
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                # utf-8-sig: a file saved by a Windows editor may start with a BOM.
                self._value = self._parse(self.path.read_text(encoding="utf-8-sig"))
                log.info("loaded %s", self.path)
            except (OSError, UnicodeDecodeError, ValueError, re.error) as exc:
                # Keep the last good rules; a half-saved file must not break dictation.
                log.warning("ignoring %s: %s", self.path, exc)
            self._stamp = stamp
        return self._value


def _rule_lines(text: str):
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def parse_regex_rules(text: str) -> list[tuple[re.Pattern[str], str]]:
    """``pattern = replacement`` per line, Python regex syntax, ``\\1`` for groups."""
    rules = []
    for number, line in _rule_lines(text):
        pattern, sep, replacement = line.partition(" = ")
        if not sep:
            raise ValueError(f"line {number}: expected 'pattern = replacement'")
        try:
            compiled = re.compile(pattern.strip())
            # A replacement naming a group the pattern lacks fails only when used; try it now,
            # so a bad rule is refused at load instead of breaking every dictation.
            compiled.sub(replacement.strip(), "")
        except (re.error, IndexError) as exc:
            raise ValueError(f"line {number}: {exc}") from None
        rules.append((compiled, replacement.strip()))
    return rules


def parse_app_modes(text: str) -> dict[str, str]:
    """``[apps]`` table of window/process name (substring, any case) → ``paste`` | ``type``."""
    apps = tomllib.loads(text).get("apps", {})
    modes = {}
    for name, mode in apps.items():
        if mode not in MODES:
            raise ValueError(f"[apps] {name}: mode must be one of {', '.join(MODES)}")
        modes[name.lower()] = mode
    return modes


def text_options(settings: Settings) -> TextOptions:
    """The text stage's options from the ``[text]`` settings."""
    text = settings.text
    return TextOptions(itn=text.itn, hot_words=text.hot_words,
                       threshold=text.hot_word_threshold, spacing=text.mixed_spacing)


class PostProcessor:
    """Rewrites recognised text before output, with rule files from the config dir."""

    def __init__(self, settings: Settings, rules_dir: Path | None = None) -> None:
        self.settings = settings
        rules_dir = rules_dir or config_dir()
        options = text_options(settings)
        self.hot_words = HotWordFile(rules_dir / "hot_words.txt", options.threshold)
        self.stage = TextStage(options, self.hot_words)
        self.regex_rules = WatchedFile(rules_dir / "hot_rules.txt", parse_regex_rules, [])

    def rewrite(self, text: str) -> TextResult:
        """The text as it will be output, beside what came in and what changed it."""
        options = text_options(self.settings)
        if options != self.stage.options:  # the Settings dialog saved new values
            self.hot_words.use_threshold(options.threshold)
            self.stage.options = options
        raw = text
        text = to_script(text.strip(), self.settings.asr.chinese_script)
        staged = self.stage.apply(text)
        text = staged.text
        for pattern, replacement in self.regex_rules.current():  # type: ignore[attr-defined]
            try:
                text = pattern.sub(replacement, text)
            except (re.error, IndexError) as exc:  # a rule that slipped past the load check
                log.warning("rule %r = %r skipped: %s", pattern.pattern, replacement, exc)
        client = self.settings.client
        if not client.trailing_punctuation:
            text = text.rstrip(TRAILING_PUNCTUATION + " ")
        if client.trailing_space and text and not text.endswith(" "):
            text += " "
        return TextResult(raw.strip(), text, staged.changes)

    def process(self, text: str) -> str:
        return self.rewrite(text).text


@dataclass(frozen=True)
class FocusedApp:
    """The application that would receive keystrokes now."""

    process: str
    title: str
    # The window's process runs with more rights than we do (an administrator's window while
    # we are not): Windows drops our keystrokes to it without a word (UIPI).
    above_us: bool = False

    def matches(self, name: str) -> bool:
        name = name.lower()
        return name in self.process.lower() or name in self.title.lower()

    def same_window(self, other: FocusedApp) -> bool:
        """True when both name one window, as far as process and title can tell.

        Editors mark a changed document in the title ("*notes.txt", "● notes.txt"), and the
        first dictation is such a change; the mark is not part of the window's name.
        """
        return self.process == other.process and _unmarked(self.title) == _unmarked(other.title)


def _unmarked(title: str) -> str:
    return title.lstrip("*●• ")


def mode_for(app_modes: dict[str, str], app: FocusedApp | None, default: str) -> str:
    """The output mode for ``app``: the first ``apps.toml`` entry it matches, else ``default``."""
    if app is not None:
        for name, mode in app_modes.items():
            if app.matches(name):
                return mode
    return default
