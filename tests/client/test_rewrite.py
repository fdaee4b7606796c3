"""The streaming chat-completions client against a real local OpenAI-compatible server."""

from __future__ import annotations

import threading

import pytest

from capswriter.client.rewrite import (
    AnswerTooSlow,
    EndpointFailed,
    EndpointUnreachable,
    KeyRefused,
    NoFirstToken,
    Rewrite,
    RewriteInput,
    ThinkFilter,
    chat_messages,
)
from capswriter.client.roles import Role

from .chat_server import KEY, ChatServer
from .servers import free_port


@pytest.fixture(scope="module")
def chat_server():
    server = ChatServer().start()
    yield server
    server.stop()


def role(server, model="upper", **fields) -> Role:
    return Role(name="test", model=model, endpoint=server.base_url, enabled=True,
                **{"first_token_timeout_s": 10.0, "total_timeout_s": 20.0, **fields})


def run(r: Role, text="make this loud") -> tuple[Rewrite, list[str]]:
    rewrite = Rewrite(r, RewriteInput(text)).start()
    return rewrite, list(rewrite.pieces())


def test_the_answer_streams_in_pieces_and_completes(chat_server):
    rewrite, pieces = run(role(chat_server), "make this loud, please")
    assert rewrite.error is None and not rewrite.cancelled
    assert "".join(pieces) == rewrite.text == "MAKE THIS LOUD, PLEASE"
    assert len(pieces) > 1  # it came as it was written, not at the end
    request = chat_server.requests[-1]
    assert request["body"]["stream"] is True and request["auth"] is None
    assert request["body"]["messages"][0]["role"] == "system"


def test_think_blocks_are_left_out_even_when_split_across_events(chat_server):
    rewrite, pieces = run(role(chat_server, "think"), "quiet")
    assert rewrite.error is None
    assert rewrite.text == "QUIET" and "think" not in "".join(pieces).lower()


@pytest.mark.parametrize(("pieces", "shown"), [
    (["<think>a</think>b"], "b"),
    (["<", "think>x", "</", "think>", "\n\nok <b>"], "ok <b>"),
    (["a <thin", "g>"], "a <thing>"),
    (["<think>never closed"], ""),
    (["plain text"], "plain text"),
])
def test_think_filter(pieces, shown):
    think = ThinkFilter()
    out = "".join(think.feed(p) for p in pieces) + think.flush()
    assert out == shown


def test_a_slow_first_token_past_the_timeout_fails_with_a_reason(chat_server):
    rewrite, pieces = run(role(chat_server, "slow-first", first_token_timeout_s=0.5))
    assert pieces == [] and isinstance(rewrite.error, NoFirstToken)
    assert "no answer" in str(rewrite.error) and "0.5 s" in str(rewrite.error)


def test_a_slow_first_token_within_the_timeout_is_waited_for(chat_server):
    rewrite, _ = run(role(chat_server, "slow-first", first_token_timeout_s=8.0), "ok")
    assert rewrite.error is None and rewrite.text == "OK"


def test_a_reply_that_never_ends_stops_at_the_total_timeout(chat_server):
    rewrite, pieces = run(role(chat_server, "endless", total_timeout_s=3.0))
    assert pieces == ["WORKING"] and isinstance(rewrite.error, AnswerTooSlow)


def test_a_server_that_sends_nothing_fails_at_the_first_token_timeout(chat_server):
    rewrite, _ = run(role(chat_server, "silent", first_token_timeout_s=0.5))
    assert isinstance(rewrite.error, NoFirstToken)


def test_a_refused_key_is_named(chat_server, monkeypatch):
    monkeypatch.setenv("CAPSWRITER_TEST_LLM_KEY", "sk-wrong")
    rewrite, _ = run(role(chat_server, api_key_env="CAPSWRITER_TEST_LLM_KEY"))
    assert isinstance(rewrite.error, KeyRefused)
    assert "HTTP 401" in str(rewrite.error) and "Incorrect API key" in str(rewrite.error)
    assert "CAPSWRITER_TEST_LLM_KEY" in str(rewrite.error)
    monkeypatch.setenv("CAPSWRITER_TEST_LLM_KEY", KEY)
    rewrite, _ = run(role(chat_server, api_key_env="CAPSWRITER_TEST_LLM_KEY"), "ok")
    assert rewrite.error is None and chat_server.requests[-1]["auth"] == f"Bearer {KEY}"


def test_a_missing_key_variable_is_named_before_anything_is_sent(chat_server, monkeypatch):
    monkeypatch.delenv("CAPSWRITER_TEST_LLM_KEY", raising=False)
    sent = len(chat_server.requests)
    rewrite, _ = run(role(chat_server, api_key_env="CAPSWRITER_TEST_LLM_KEY"))
    assert isinstance(rewrite.error, KeyRefused) and "is not set" in str(rewrite.error)
    assert len(chat_server.requests) == sent


def test_a_server_error_is_named_with_its_message(chat_server):
    rewrite, _ = run(role(chat_server, "fail-500"))
    assert isinstance(rewrite.error, EndpointFailed)
    assert "HTTP 500" in str(rewrite.error) and "model crashed" in str(rewrite.error)


def test_a_refused_connection_is_named():
    r = Role(name="test", model="m", endpoint=f"http://127.0.0.1:{free_port()}/v1")
    rewrite, _ = run(r)
    assert isinstance(rewrite.error, EndpointUnreachable)
    assert "nothing answers at http://127.0.0.1" in str(rewrite.error)


def test_cancel_ends_the_answer_and_keeps_what_arrived(chat_server):
    rewrite = Rewrite(role(chat_server, "endless", total_timeout_s=30.0),
                      RewriteInput("x")).start()
    got = []
    for piece in rewrite.pieces():
        got.append(piece)
        threading.Timer(0.2, rewrite.cancel).start()
    assert got == ["WORKING"] and rewrite.cancelled and rewrite.error is None
    assert rewrite.text == "WORKING"


def test_hot_words_and_the_selection_go_to_the_model_when_the_role_asks():
    given = RewriteInput("fix it", selection="old text", hot_words=("CapsWriter", "Ollama"))
    plain = Role(name="r", model="m", hot_words=False)
    assert chat_messages(plain, given)[1]["content"] == "fix it"
    assert "CapsWriter" not in chat_messages(plain, given)[0]["content"]
    both = Role(name="r", model="m", hot_words=True, selection=True)
    system, user = chat_messages(both, given)
    assert "CapsWriter, Ollama" in system["content"]
    assert "old text" in user["content"] and "fix it" in user["content"]
