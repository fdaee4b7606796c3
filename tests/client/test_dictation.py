"""The dictation flow end to end below the hotkey: real microphone path, server and window."""

from __future__ import annotations

import time

import numpy as np
import pytest

from capswriter.client.delivery import Clipboard, TextOutput
from capswriter.client.dictation import DictationFlow, DictationPhase, OutcomeKind
from capswriter.client.history import History
from capswriter.client.hotkey import Action
from capswriter.client.link import ServerLink
from capswriter.client.output_rules import PostProcessor
from capswriter.client.recorder import Recorder
from capswriter.config import Settings
from capswriter.server.worker import FAULT_HOOK_ENV, fault_marker

from .servers import ServerProcess, free_port, require_model
from .speech import clip_pcm, heard_clip, words
from .xsession import wait_until


class Flow:
    """A DictationFlow with everything real, and what it reported."""

    def __init__(self, tmp_path, port: int, save_audio: bool = False) -> None:
        self.settings = Settings()
        self.settings.client.save_audio = save_audio
        self.history = History(tmp_path / "history.sqlite3")
        self.recorder = Recorder(keep_open=True)
        self.link = ServerLink(port=port)
        self.phases: list[DictationPhase] = []
        self.notices = []
        self.outcomes = []
        self.output = TextOutput(self.settings, rules_dir=tmp_path)
        self.flow = DictationFlow(
            self.settings, self.recorder, self.link,
            PostProcessor(self.settings, rules_dir=tmp_path), self.output, self.history,
            on_phase=self.phases.append, on_notice=self.notices.append,
            on_outcome=self.outcomes.append,
        )

    def dictate(self, pulse_source, pcm) -> None:
        """Press, hold past the threshold, speak the clip, release."""
        self.flow.handle(Action.ARM)
        time.sleep(0.3)
        self.flow.handle(Action.START)
        pulse_source.play(pcm)
        time.sleep(len(pcm) / 16000 + 0.4)
        self.flow.handle(Action.STOP)

    def close(self) -> None:
        self.flow.close()
        self.output.close()
        self.recorder.close()
        self.link.close()
        self.history.close()


@pytest.fixture
def make_flow(tmp_path):
    flows = []

    def make(port: int, **kwargs) -> Flow:
        flows.append(Flow(tmp_path, port, **kwargs))
        return flows[-1]

    yield make
    for flow in flows:
        flow.close()


def test_held_dictation_lands_in_the_focused_field_and_in_history(
    make_flow, pulse_source, recognition_server, focus_target
):
    clipboard = Clipboard()
    clipboard.write("kept on the clipboard")
    f = make_flow(recognition_server.port)
    f.recorder.open()
    f.dictate(pulse_source, clip_pcm())
    assert wait_until(lambda: bool(f.outcomes), 30)
    outcome = f.outcomes[0]
    assert outcome.delivered and heard_clip(outcome.text), outcome
    assert wait_until(lambda: focus_target.text() == outcome.text, 5), focus_target.text()
    assert clipboard.read() == "kept on the clipboard"
    entry = f.history.get(outcome.entry_id)
    assert entry.text == outcome.text and entry.kind == "dictation"
    assert entry.duration_s > 2.5 and entry.latency_s == pytest.approx(outcome.release_to_text_s)
    assert entry.source.startswith("python")  # the focus target's process
    assert not entry.has_audio  # save_audio is off by default
    assert f.phases[:1] == [DictationPhase.RECORDING]
    assert DictationPhase.TRANSCRIBING in f.phases and f.phases[-1] is DictationPhase.IDLE


def test_a_tap_records_nothing(make_flow, pulse_source, recognition_server):
    f = make_flow(recognition_server.port)
    f.flow.handle(Action.ARM)
    time.sleep(0.1)
    f.flow.handle(Action.DISARM)
    f.flow.close()
    assert f.history.recent() == [] and f.outcomes == [] and f.phases == []


def test_server_down_keeps_the_audio_and_transcribes_it_when_the_server_returns(
    make_flow, pulse_source, tmp_path, x_server
):
    require_model()
    port = free_port()
    f = make_flow(port)
    f.recorder.open()
    f.dictate(pulse_source, clip_pcm())
    assert wait_until(lambda: bool(f.outcomes), 30)
    pending = f.history.pending()
    assert len(pending) == 1 and pending[0].has_audio and pending[0].duration_s > 2.5
    assert "no CapsWriter server" in pending[0].error
    assert [n.title for n in f.notices] == ["Dictation kept for later"]
    # Nothing can be done while the server is still away; the audio stays.
    assert f.flow.retry_pending() == 0 and f.history.pending()
    server = ServerProcess(tmp_path, port=port)
    server.start()
    try:
        assert f.flow.retry_pending() == 1
    finally:
        server.stop()
    entry = f.history.get(pending[0].id)
    assert entry.status == "done" and heard_clip(entry.text), entry.text
    assert not entry.has_audio  # kept only until transcribed, since save_audio is off


def test_audio_the_server_refuses_for_good_is_marked_failed_and_the_rest_still_go(
    make_flow, tmp_path,
):
    require_model()
    server = ServerProcess(tmp_path, env={FAULT_HOOK_ENV: "1"})
    server.start()
    try:
        f = make_flow(server.port)
        # Audio that takes a recognizer process down every time it is decoded.
        poison = np.concatenate([fault_marker("crash"), clip_pcm()])
        first = f.history.add("dictation", status="pending", duration_s=3.0,
                              error="the server was away", audio=poison)
        second = f.history.add("dictation", status="pending", duration_s=3.0,
                               error="the server was away", audio=clip_pcm())
        assert f.flow.retry_pending() == 1
        refused = f.history.get(first)
        assert refused.status == "failed" and "recognizer processes" in refused.error
        assert refused.has_audio  # kept: nothing the user said is thrown away
        kept = f.history.get(second)
        assert kept.status == "done" and heard_clip(kept.text), kept.text
        # Not sent again: a second pass has nothing left to do.
        assert f.history.pending() == [] and f.flow.retry_pending() == 0
    finally:
        server.stop()


def test_a_kept_dictation_of_minutes_is_transcribed_although_the_dictation_queue_is_small(
    make_flow, tmp_path,
):
    """Replayed at once as a dictation it would need more queue places than the server has."""
    require_model()
    server = ServerProcess(tmp_path, env={"CAPSWRITER_SERVER_MAX_DICTATION_QUEUE": "2"})
    server.start()
    try:
        f = make_flow(server.port)
        clip = clip_pcm().astype(np.float32) / 32768
        pause = np.zeros(16000, np.float32)
        long_audio = np.concatenate([clip, pause] * 20)  # over a minute of speech and pauses
        assert len(long_audio) > 60 * 16000
        entry = f.history.add("dictation", status="pending", duration_s=len(long_audio) / 16000,
                              error="the server was away", audio=long_audio)
        assert f.flow.retry_pending() == 1
        done = f.history.get(entry)
        assert done.status == "done", done.error
        assert words(done.text).count("forward") >= 15, done.text
    finally:
        server.stop()


def test_a_dictation_of_silence_ends_as_nothing_heard(make_flow, pulse_source, recognition_server):
    f = make_flow(recognition_server.port)
    f.recorder.open()
    f.dictate(pulse_source, np.zeros(16000, np.int16))  # a second of the source's silence
    assert wait_until(lambda: bool(f.outcomes), 30)
    [outcome] = f.outcomes
    assert outcome.kind is OutcomeKind.NOTHING_HEARD and outcome.text == ""
    assert f.history.recent() == []
