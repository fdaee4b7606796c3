"""roles.toml: its fields, presets, keys from the environment, reloading, enabling a role."""

from __future__ import annotations

import os
import time

import pytest

from capswriter.client.roles import (
    DEFAULT_ROLES,
    PRESETS,
    ROLES_TEMPLATE,
    Role,
    RoleBook,
    RoleError,
    is_local_url,
    parse_roles,
)


def write_later(path, text):
    path.write_text(text, encoding="utf-8")
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))


def test_the_template_parses_and_its_one_role_is_disabled():
    roles = parse_roles(ROLES_TEMPLATE)
    assert [r.name for r in roles] == ["polish"]
    assert not roles[0].enabled
    assert roles[0].base_url == PRESETS["ollama"]
    assert roles[0].prompt.startswith("Rewrite the user's dictated text") and "\\" not in \
        roles[0].prompt


def test_fields_aliases_and_presets():
    [role] = parse_roles('''
[[role]]
name = "翻译"
aliases = "translate | 译"
enabled = true
endpoint = "lmstudio"
model = "qwen"
temperature = 1
max_tokens = 200
output = "panel"
''')
    assert role.triggers == ("翻译", "translate", "译")
    assert role.base_url == "http://127.0.0.1:1234/v1"
    assert role.temperature == 1.0 and role.max_tokens == 200 and role.output == "panel"
    assert not role.off_machine


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:11434/v1", True), ("http://localhost:1234/v1", True),
    ("http://[::1]:8080/v1", True), ("http://127.0.0.5/v1", True),
    ("https://api.deepseek.com/v1", False), ("http://192.168.1.20:11434/v1", False),
    ("http://localhost.example.com/v1", False),
])
def test_an_endpoint_off_this_machine_is_marked(url, local):
    assert is_local_url(url) is local
    assert Role(name="r", model="m", endpoint=url).off_machine is not local


@pytest.mark.parametrize(("text", "problem"), [
    ('[[role]]\nmodel = "m"\n', "'name' is missing"),
    ('[[role]]\nname = "a"\nmodel = "m"\nendpoint = "ftp://x"\n', "neither a preset"),
    ('[[role]]\nname = "a"\nmodel = "m"\noutput = "speak"\n', "output must be"),
    ('[[role]]\nname = "a"\nmodel = "m"\ncolour = 1\n', "unknown field 'colour'"),
    ('[[role]]\nname = "a"\nmodel = "m"\ntemperature = "hot"\n', "temperature must be"),
    ('[[role]]\nname = "a"\nmodel = "m"\n[[role]]\nname = "A"\nmodel = "m"\n',
     "calls more than one role"),
    ('[[role]\n', "not valid TOML"),
    ('api_key = "sk-1"\n', "unknown table or key"),
])
def test_a_bad_roles_file_is_refused_with_its_reason(text, problem):
    with pytest.raises(RoleError, match=problem):
        parse_roles(text)


def test_the_key_comes_from_the_named_environment_variable(monkeypatch):
    role = Role(name="r", model="m", api_key_env="CAPSWRITER_TEST_KEY")
    monkeypatch.delenv("CAPSWRITER_TEST_KEY", raising=False)
    with pytest.raises(RoleError, match="CAPSWRITER_TEST_KEY"):
        role.api_key()
    monkeypatch.setenv("CAPSWRITER_TEST_KEY", "sk-test")
    assert role.api_key() == "sk-test"
    assert Role(name="r", model="m").api_key() == ""


def test_the_book_reads_the_file_again_when_it_changes_and_keeps_good_roles(tmp_path):
    book = RoleBook(tmp_path / "roles.toml")
    assert book.roles() == DEFAULT_ROLES and book.enabled() == ()
    write_later(book.path, '[[role]]\nname = "a"\nmodel = "m"\nenabled = true\n')
    assert [r.name for r in book.enabled()] == ["a"]
    write_later(book.path, '[[role]]\nname = "a"\nmodel = ')  # half saved
    assert [r.name for r in book.enabled()] == ["a"]
    assert "not valid TOML" in book.problem()


def test_enabling_a_role_keeps_the_file_as_written(tmp_path):
    book = RoleBook(tmp_path / "roles.toml")
    book.ensure_file()
    book.set_enabled("polish", True)
    text = book.path.read_text(encoding="utf-8")
    assert "enabled = true" in text and text.startswith("# Roles:")
    assert parse_roles(text)[0].enabled
    with pytest.raises(RoleError, match="no role named"):
        book.set_enabled("nobody", True)
