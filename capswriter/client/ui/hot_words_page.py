"""The Hot words page of Settings: ``hot_words.txt`` in an editor, and a sentence to try it on.

The try box runs the same text stage dictation uses (:class:`capswriter.text.TextStage`) with
the words as edited and the options as set on the page, and shows what would change and why.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from capswriter.text import TextOptions, TextResult, TextStage
from capswriter.text.hot_words import parse_hot_words

EXAMPLE = (
    "# One hot word a line; what follows | is how it may be heard; after ~~~ the words that\n"
    "# veto it nearby; @ 0.9 sets this line's threshold; wrong = right replaces as written.\n"
    "# Claude | 克劳德 | cloud\n"
    "# 傅平 ~~~ 扶贫 | 精准\n"
)


class HotWordsEditor(QWidget):
    """Edits the hot-word file and shows what a sentence would become."""

    def __init__(self, path: Path, options: Callable[[], TextOptions],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._options = options
        try:
            self._loaded = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            self._loaded = ""
        self.editor = QPlainTextEdit(self._loaded or EXAMPLE)
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sample = QLineEdit()
        self.sample.setPlaceholderText(self.tr("Try a sentence, e.g. 付平用cloud写了二十行代码"))
        self.result = QLabel()
        self.result.setObjectName("hot_words_result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.sample)
        layout.addWidget(self.result)
        self.editor.textChanged.connect(self.try_sentence)
        self.sample.textChanged.connect(self.try_sentence)

    def text(self) -> str:
        return self.editor.toPlainText()

    def changed(self) -> bool:
        return self.text() != (self._loaded or EXAMPLE)

    def check(self) -> None:
        """Raise ValueError naming the first line the file format refuses."""
        parse_hot_words(self.text())

    def try_sentence(self) -> None:
        sentence = self.sample.text()
        if not sentence.strip():
            self.result.clear()
            return
        try:
            stage = TextStage.from_text(self._options(), self.text())
        except ValueError as exc:
            self.result.setText(self.tr("The list has a problem: {reason}").format(reason=exc))
            return
        self.result.setText(self.describe(stage.apply(sentence)))

    def describe(self, result: TextResult) -> str:
        """The text as it would be output, then one line per change with its reason."""
        if not result.changes:
            return self.tr("Nothing would change.")
        lines = [self.tr("Becomes: {text}").format(text=result.text)]
        for change in result.changes:
            if change.kind == "hot word":
                lines.append(self.tr("{before} → {after}: sounds like “{alias}”, score {score:.2f}")
                             .format(before=change.before, after=change.after,
                                     alias=change.heard_as, score=change.score or 0.0))
            elif change.kind == "numbers":
                lines.append(self.tr("numbers written in digits: {after}").format(
                    after=change.after))
            elif change.kind == "letters":
                lines.append(self.tr("spelled letters joined: {after}").format(after=change.after))
            else:
                lines.append(self.tr("spacing: {after}").format(after=change.after))
        return "\n".join(lines)

    def save(self) -> None:
        """Write the file when the list was edited (checked first with :meth:`check`)."""
        if not self.changed():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.text(), encoding="utf-8")
        self._loaded = self.text()
