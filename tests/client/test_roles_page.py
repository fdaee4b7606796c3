"""The Roles page of Settings: the privacy mark, switching a role on, and the Test button
against a real local OpenAI-compatible server."""

from __future__ import annotations

import pytest

from capswriter.client.roles import RoleBook, parse_roles
from capswriter.client.ui.roles_page import OFF_MACHINE_COLOUR, RolesPage
from capswriter.client.ui.settings_dialog import SettingsDialog
from capswriter.config import Settings

from .chat_server import ChatServer
from .servers import free_port


@pytest.fixture(scope="module")
def chat_server():
    server = ChatServer().start()
    yield server
    server.stop()


def write_roles(path, *roles: tuple[str, str, str]) -> RoleBook:
    path.write_text("".join(
        f'[[role]]\nname = "{name}"\nendpoint = "{endpoint}"\nmodel = "{model}"\n'
        f"first_token_timeout_s = 10.0\n" for name, endpoint, model in roles), encoding="utf-8")
    return RoleBook(path)


def test_a_role_off_this_machine_is_marked_and_a_local_one_is_not(qtbot, tmp_path):
    book = write_roles(tmp_path / "roles.toml", ("local", "ollama", "qwen"),
                       ("cloud", "deepseek", "deepseek-chat"))
    page = RolesPage(book)
    qtbot.addWidget(page)
    assert page.table.rowCount() == 2
    local, cloud = page.table.item(0, 3), page.table.item(1, 3)
    assert local.text() == "Stays on this machine: http://127.0.0.1:11434/v1"
    assert cloud.text() == "Sends your words off this machine: https://api.deepseek.com/v1"
    assert cloud.foreground().color() == OFF_MACHINE_COLOUR
    assert local.foreground().color() != OFF_MACHINE_COLOUR
    # nothing is on until the user switches it on
    assert all(page.table.item(r, 0).checkState().value == 0 for r in range(2))


def test_switching_a_role_on_writes_the_file(qtbot, tmp_path):
    book = write_roles(tmp_path / "roles.toml", ("polish", "ollama", "qwen"))
    page = RolesPage(book)
    qtbot.addWidget(page)
    from PySide6.QtCore import Qt

    page.table.item(0, 0).setCheckState(Qt.CheckState.Checked)
    assert parse_roles(book.path.read_text(encoding="utf-8"))[0].enabled
    assert [r.name for r in book.enabled()] == ["polish"]


def test_the_test_button_shows_the_answer_of_the_selected_role(qtbot, tmp_path, chat_server):
    book = write_roles(tmp_path / "roles.toml", ("loud", chat_server.base_url, "upper"))
    page = RolesPage(book)
    qtbot.addWidget(page)
    page.test_button.click()
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=5000)
    assert page.result.text().startswith("Answer: SO UM THIS IS A TEST")
    assert "to the first word" in page.result.text()


def test_the_test_button_names_why_a_role_fails(qtbot, tmp_path):
    book = write_roles(tmp_path / "roles.toml",
                       ("gone", f"http://127.0.0.1:{free_port()}/v1", "m"))
    page = RolesPage(book)
    qtbot.addWidget(page)
    page.test_button.click()
    qtbot.waitUntil(lambda: page.test_button.isEnabled(), timeout=5000)
    assert page.result.text().startswith("It failed: gone: nothing answers at http://127.0.0.1")


def test_settings_has_a_roles_tab_over_the_config_folders_roles(qtbot, tmp_path):
    write_roles(tmp_path / "roles.toml", ("polish", "ollama", "qwen"))
    dialog = SettingsDialog(Settings(), path=tmp_path / "config.toml", rules_dir=tmp_path)
    qtbot.addWidget(dialog)
    names = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert names[-1] == "Roles"
    assert dialog.roles_page.book.path == tmp_path / "roles.toml"
    assert dialog.roles_page.table.item(0, 1).text() == "polish"


def test_a_broken_roles_file_is_named_on_the_page(qtbot, tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text('[[role]]\nname = "x"\n', encoding="utf-8")
    page = RolesPage(RoleBook(path))
    qtbot.addWidget(page)
    assert "'model' is missing" in page.problem.text()
