"""The protocol module: round trips, validation, and fuzzing of the parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capswriter.wire import protocol

EXAMPLES = [
    protocol.Start(task_id="t1", source="file", language="en", options={"filename": "a.mp3"}),
    protocol.End(task_id="t1"),
    protocol.Cancel(task_id="t1"),
    protocol.Accepted(task_id="t1", model="whisper-base"),
    protocol.QueueStatus(task_id="t1", position=2, jobs_ahead=1, audio_seconds_ahead=3.5,
                         eta_seconds=0.4),
    protocol.Progress(task_id="t1", segments_done=1, segments_total=3, audio_seconds_done=2.0,
                      audio_seconds_total=9.0),
    protocol.SegmentResult(task_id="t1", index=0, start=0.0, end=2.0, text="你好", worker_id=1),
    protocol.Result(task_id="t1", text="hello", segments=[{"start": 0, "end": 1, "text": "x"}],
                    timings={"queue_wait": 0.1, "decode": 0.2, "total": 0.3}),
    protocol.Error(code=protocol.BAD_JSON, message="nope"),
    protocol.Busy(retry_after=2.0, message="full", task_id="t1"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_every_message_survives_a_json_round_trip(message: protocol.Message) -> None:
    text = message.to_json()
    assert json.loads(text)["v"] == protocol.PROTOCOL_VERSION
    assert protocol.Message.from_json(text) == message


def test_server_messages_are_not_accepted_from_clients() -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse_client_message(protocol.Accepted(task_id="x").to_json())
    assert info.value.code == protocol.UNKNOWN_TYPE


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", protocol.BAD_JSON),
        ("[1, 2]", protocol.BAD_MESSAGE),
        ('{"type": "dance"}', protocol.UNKNOWN_TYPE),
        ('{"type": "start", "v": 99, "task_id": "a"}', protocol.UNSUPPORTED_VERSION),
        ('{"type": "start"}', protocol.BAD_MESSAGE),
        ('{"type": "start", "task_id": 5}', protocol.BAD_MESSAGE),
        ('{"type": "start", "task_id": "a", "sample_rate": 44100}', protocol.BAD_SAMPLE_RATE),
        ('{"type": "start", "task_id": "a", "sample_rate": true}', protocol.BAD_MESSAGE),
        ('{"type": "start", "task_id": "a", "source": "tape"}', protocol.BAD_MESSAGE),
        ('{"type": "end"}', protocol.BAD_MESSAGE),
    ],
)
def test_bad_messages_raise_protocol_errors_with_codes(text: str, code: str) -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.parse_client_message(text)
    assert info.value.code == code
    reply = info.value.reply()
    assert isinstance(reply, protocol.Error) and reply.code == code


def test_file_sources_may_declare_any_sample_rate() -> None:
    # A file's own header decides its rate; only raw mic PCM must be 16 kHz.
    start = protocol.parse_client_message(
        '{"type": "start", "task_id": "a", "source": "file", "sample_rate": 44100}'
    )
    assert isinstance(start, protocol.Start)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "end", "cancel", "result", "x", ""])},
    optional={
        "v": st.sampled_from([1, 2, "1", None]),
        "task_id": json_values,
        "source": st.sampled_from(["mic", "file", "", 3]),
        "sample_rate": json_values,
        "language": json_values,
        "options": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), json_values.map(json.dumps), message_like.map(json.dumps)))
def test_the_parser_only_ever_raises_protocol_errors(text: str) -> None:
    try:
        message = protocol.parse_client_message(text)
    except protocol.ProtocolError as exc:
        assert exc.code and exc.message
    else:
        assert isinstance(message, (protocol.Start, protocol.End, protocol.Cancel))
        assert protocol.parse_client_message(message.to_json()) == message
