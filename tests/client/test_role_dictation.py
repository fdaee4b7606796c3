"""A dictation that calls a role, typed into a real window under Xvfb from a real local
OpenAI-compatible server; every way the model can fail still delivers the words as said."""

from __future__ import annotations

import threading
import time

import pytest

from capswriter.client.delivery import Clipboard, TextOutput
from capswriter.client.dictation import Shortfall
from capswriter.client.history import History
from capswriter.client.role_dictation import RoleDictation, read_selection
from capswriter.client.roles import RoleBook
from capswriter.config import Settings

from .chat_server import ChatServer
from .servers import free_port
from .xsession import wait_until

SAID = "Polish, make this loud."


@pytest.fixture(scope="module")
def chat_server():
    server = ChatServer().start()
    yield server
    server.stop()


class Setup:
    def __init__(self, tmp_path, endpoint: str, model: str, output: str = "type",
                 mode: str = "type", **fields: object) -> None:
        # Generous by default: a loaded test machine must not look like a slow model.
        fields = {"first_token_timeout_s": 10.0, "total_timeout_s": 20.0, **fields}
        extra = "".join(f"{k} = {v}\n" for k, v in fields.items())
        (tmp_path / "roles.toml").write_text(
            f'[[role]]\nname = "polish"\nenabled = true\nendpoint = "{endpoint}"\n'
            f'model = "{model}"\noutput = "{output}"\n{extra}', encoding="utf-8")
        settings = Settings()
        settings.client.output_mode = mode
        self.history = History(tmp_path / "history.sqlite3")
        self.output = TextOutput(settings, rules_dir=tmp_path)
        self.notices: list = []
        self.progress: list = []
        self.roles = RoleDictation(RoleBook(tmp_path / "roles.toml"), self.output, self.history,
                                   on_notice=self.notices.append,
                                   on_progress=self.progress.append)

    def dictate(self, said: str = SAID):
        trigger = self.roles.called(said)
        assert trigger is not None
        return self.roles.deliver(trigger, said, 1.0, None, time.monotonic())

    def close(self) -> None:
        self.output.close()
        self.history.close()


@pytest.fixture
def setup(tmp_path, chat_server):
    made: list[Setup] = []

    def make(model: str, endpoint: str | None = None, **kwargs) -> Setup:
        made.append(Setup(tmp_path, endpoint or chat_server.base_url, model, **kwargs))
        return made[-1]

    yield make
    for s in made:
        s.close()


def test_the_rewritten_text_is_typed_as_it_streams_and_history_keeps_both(setup, focus_target):
    s = setup("upper")
    outcome = s.dictate()
    assert outcome.delivered and outcome.shortfall is None
    assert outcome.text == "MAKE THIS LOUD."
    assert wait_until(lambda: focus_target.text() == "MAKE THIS LOUD.", 5), focus_target.text()
    [entry] = s.history.recent()
    assert (entry.text, entry.raw_text, entry.role) == ("MAKE THIS LOUD.", SAID, "polish")
    # the panel saw the answer grow while it came, and the role is on this machine
    texts = [p.text for p in s.progress]
    assert texts[0] == "" and len(set(texts)) > 2 and not s.progress[0].off_machine
    assert s.progress[-1].done and s.notices == []


def test_pasting_pieces_restores_the_clipboard(setup, focus_target):
    clipboard = Clipboard()
    clipboard.write("the user's clipboard")
    s = setup("upper", mode="paste")
    assert s.dictate().delivered
    assert wait_until(lambda: focus_target.text() == "MAKE THIS LOUD.", 5), focus_target.text()
    assert clipboard.read() == "the user's clipboard"


@pytest.mark.parametrize(("model", "endpoint", "cause", "first_token_s"), [
    ("fail-500", None, "HTTP 500", 10.0),
    ("slow-first", None, "no answer from", 0.5),
    ("silent", None, "no answer from", 0.5),
    ("upper", "refused", "nothing answers at", 10.0),
    ("reply:<think>only thinking</think>", None, "answered with no text", 10.0),
], ids=["500", "slow-first-token", "silent", "refused", "empty-answer"])
def test_a_failure_before_any_text_types_the_words_as_said(
    setup, focus_target, model, endpoint, cause, first_token_s
):
    if endpoint == "refused":
        endpoint = f"http://127.0.0.1:{free_port()}/v1"
    s = setup(model, endpoint=endpoint, first_token_timeout_s=first_token_s)
    outcome = s.dictate()
    assert outcome.shortfall is Shortfall.REWRITE_FAILED and outcome.delivered
    assert wait_until(lambda: focus_target.text() == SAID, 5), focus_target.text()
    [notice] = s.notices
    assert cause in notice.message and "typed instead" in notice.message
    [entry] = s.history.recent()
    assert (entry.text, entry.raw_text, entry.role) == (SAID, SAID, "polish")
    assert cause in entry.error


def test_a_refused_key_is_named_and_the_words_still_arrive(setup, focus_target, monkeypatch):
    monkeypatch.setenv("CAPSWRITER_TEST_LLM_KEY", "sk-wrong")
    s = setup("upper", api_key_env='"CAPSWRITER_TEST_LLM_KEY"')
    outcome = s.dictate()
    assert outcome.shortfall is Shortfall.REWRITE_FAILED
    assert wait_until(lambda: focus_target.text() == SAID, 5), focus_target.text()
    assert "refused the key (HTTP 401" in s.notices[0].message


def test_a_reply_that_never_ends_keeps_what_was_typed_and_puts_the_words_on_the_clipboard(
    setup, focus_target
):
    s = setup("endless", total_timeout_s=3.0)
    outcome = s.dictate()
    assert outcome.shortfall is Shortfall.REWRITE_FAILED and outcome.text == "WORKING"
    assert wait_until(lambda: focus_target.text() == "WORKING", 5), focus_target.text()
    assert Clipboard().read() == SAID
    assert "did not end within 3 s" in s.notices[0].message
    [entry] = s.history.recent()
    assert (entry.text, entry.raw_text) == ("WORKING", SAID)


def test_cancel_stops_the_answer_and_what_was_typed_stays(setup, focus_target):
    s = setup("endless", total_timeout_s=30.0)
    # Esc once the first words are in the window
    threading.Thread(target=lambda: wait_until(lambda: focus_target.text() == "WORKING", 10)
                     and s.roles.cancel(), daemon=True).start()
    outcome = s.dictate()
    assert outcome.delivered and outcome.text == "WORKING"
    assert wait_until(lambda: focus_target.text() == "WORKING", 5), focus_target.text()
    assert s.notices == []
    assert s.history.recent()[0].error == "stopped with Esc"


def test_panel_and_clipboard_outputs_type_nothing(setup, focus_target):
    s = setup("upper", output="clipboard")
    outcome = s.dictate()
    assert outcome.delivered and outcome.text == "MAKE THIS LOUD."
    assert Clipboard().read() == "MAKE THIS LOUD."
    assert "on the clipboard" in s.notices[0].message
    time.sleep(0.3)
    assert focus_target.text() == ""


def test_the_selection_goes_along_and_the_clipboard_is_not_touched(
    setup, focus_target, chat_server, x_server
):
    import subprocess

    clipboard = Clipboard()
    clipboard.write("the user's clipboard")
    # What another window has selected is X11's primary selection.
    owner = subprocess.Popen(["xclip", "-selection", "primary", "-i", "-loops", "3"],
                             stdin=subprocess.PIPE, env={"DISPLAY": x_server.display})
    owner.stdin.write(b"the selected paragraph")
    owner.stdin.close()
    try:
        assert wait_until(lambda: read_selection() == "the selected paragraph", 5)
        s = setup("upper", selection="true")
        assert s.dictate().delivered
        user = chat_server.requests[-1]["body"]["messages"][-1]["content"]
        assert "the selected paragraph" in user and "make this loud." in user
        assert clipboard.read() == "the user's clipboard"
    finally:
        owner.kill()
        owner.wait()
