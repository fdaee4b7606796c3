"""The Roles page of Settings: the roles of ``roles.toml``, which are on, which send the words
off this machine, and a Test button that sends a sample sentence to the selected role.

Switching a role on or off writes the file at once (the dictation flow reads it again before
the next dictation); everything else about a role is edited in the file, which the page opens.
"""

from __future__ import annotations

from PySide6.QtCore import QT_TRANSLATE_NOOP, Qt, QTimer, QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from capswriter.client.i18n import translate
from capswriter.client.rewrite import Rewrite, RewriteInput
from capswriter.client.roles import Role, RoleBook, RoleError

TAB_NAME = QT_TRANSLATE_NOOP("RolesPage", "Roles")
SAMPLE = QT_TRANSLATE_NOOP("RolesPage", "so um this is a test of the rewriting role does it work")
OFF_MACHINE_COLOUR = QColor("#b00020")


def privacy_text(role: Role) -> str:
    """Where the role sends the words, in the words of the page."""
    if role.off_machine:
        return translate("RolesPage", "Sends your words off this machine: {url}").format(
            url=role.base_url)
    return translate("RolesPage", "Stays on this machine: {url}").format(url=role.base_url)


class RolesPage(QWidget):
    """Lists the roles; the Test button's answer (or the reason it failed) shows below."""

    def __init__(self, book: RoleBook, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.book = book
        self.rewrite: Rewrite | None = None
        intro = QLabel(self.tr(
            "Say a role's name at the start of a dictation (\"polish, …\") and a language model "
            "rewrites the rest before it is typed. No role is on until you switch it on. Roles "
            "marked in red send what you dictate to another machine."))
        intro.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(
            [self.tr("On"), self.tr("Role (say)"), self.tr("Model"), self.tr("Where the words go")])
        header = self.table.horizontalHeader()
        for column in (0, 1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemChanged.connect(self._switched)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #b00020;")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_button = QPushButton(self.tr("Test"))
        self.test_button.setToolTip(self.tr("Send a sample sentence to the selected role"))
        self.test_button.clicked.connect(self.test_selected)
        edit = QPushButton(self.tr("Edit roles.toml"))
        edit.clicked.connect(self.open_file)
        reload = QPushButton(self.tr("Reload"))
        reload.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addStretch(1)
        buttons.addWidget(reload)
        buttons.addWidget(edit)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._show_answer)
        self.refresh()

    def refresh(self) -> None:
        """Show the roles as the file has them now."""
        self.roles = self.book.roles()
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for role in self.roles:
            row = self.table.rowCount()
            self.table.insertRow(row)
            on = QTableWidgetItem()
            on.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled
                        | Qt.ItemFlag.ItemIsSelectable)
            on.setCheckState(Qt.CheckState.Checked if role.enabled else Qt.CheckState.Unchecked)
            self.table.setItem(row, 0, on)
            self.table.setItem(row, 1, QTableWidgetItem(" | ".join(role.triggers)))
            self.table.setItem(row, 2, QTableWidgetItem(role.model))
            where = QTableWidgetItem(privacy_text(role))
            if role.off_machine:
                where.setForeground(QBrush(OFF_MACHINE_COLOUR))
            self.table.setItem(row, 3, where)
        self.table.blockSignals(False)
        if self.roles:
            self.table.selectRow(0)
        problem = self.book.problem()
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))

    def selected_role(self) -> Role | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        return self.roles[min(rows)] if rows else None

    def test_selected(self) -> None:
        """Send the sample sentence to the selected role; the answer streams into the page."""
        role = self.selected_role()
        if role is None or (self.rewrite is not None and self._poll.isActive()):
            return
        self.result.setText(self.tr("Asking {role}…").format(role=role.name))
        self.test_button.setEnabled(False)
        self.rewrite = Rewrite(role, RewriteInput(translate("RolesPage", str(SAMPLE)))).start()
        self._poll.start()

    def open_file(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.book.ensure_file())))

    # ---- inside ---------------------------------------------------------------------------

    def _show_answer(self) -> None:
        rewrite = self.rewrite
        if rewrite is None:
            return
        ended = not rewrite.running
        if rewrite.error is not None:
            self.result.setText(self.tr("It failed: {reason}").format(reason=rewrite.error))
        elif rewrite.text:
            took = "" if not ended else " " + self.tr("({seconds:.1f} s to the first word)").format(
                seconds=rewrite.first_piece_s or 0.0)
            self.result.setText(self.tr("Answer: {text}").format(text=rewrite.text) + took)
        if ended:
            self._poll.stop()
            self.test_button.setEnabled(True)

    def _switched(self, item: QTableWidgetItem) -> None:
        if item.column() != 0:
            return
        role = self.roles[item.row()]
        try:
            self.book.set_enabled(role.name, item.checkState() == Qt.CheckState.Checked)
        except (OSError, RoleError) as exc:
            self.problem.setText(str(exc))
            self.problem.show()
        self.refresh()
