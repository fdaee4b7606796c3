"""Every model kind the catalogue offers, end to end: a tiny generated model packed as its
publisher's archive, installed by `capswriter models install`, served, and asked for a file
and a dictation. The text is noise; the install, the manifest, languages and errors are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_helpers import (
    ServerProcess,
    dictate,
    pcm16,
    recv_until,
    send,
    start_server,
)
from tiny_models import RELEASES, make_release, pack_release, sense_voice

from capswriter.asr.catalogue import load_catalogue
from capswriter.asr.manifest import load_manifest
from capswriter.config import PROJECT_ROOT
from capswriter.wire import protocol

CLIP = "zh_aishell_BAC009S0724W0121.wav"  # Mandarin speech, checked in under tests/data/real


def _cli(models_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAPSWRITER_CONFIG": str(models_dir / "no-config.toml"),
           "PYTHONPATH": str(PROJECT_ROOT)}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "capswriter", "--models-dir", str(models_dir), *args],
        capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kinds")
    (root / "models").mkdir()
    (root / "models" / "silero-vad").symlink_to(PROJECT_ROOT / "models" / "silero-vad")
    return root


def test_the_catalogue_offers_no_kind_without_a_tiny_model() -> None:
    kinds = {entry.kind for entry in load_catalogue().values()} - {"vad", "whisper"}
    # Whisper runs through our own decoder, proven by the real whisper-base in every test.
    assert kinds <= set(RELEASES), kinds - set(RELEASES)


@pytest.fixture(scope="module", params=sorted(RELEASES))
def installed(request: pytest.FixtureRequest, models_root: Path) -> Iterator[tuple[str, str]]:
    """(kind, installed folder name) after `capswriter models install ARCHIVE`."""
    kind = request.param
    folder = make_release(kind, models_root / "build" / kind)
    archive = pack_release(folder, models_root / "archives")
    models_dir = models_root / "models"
    done = _cli(models_dir, "models", "install", str(archive), "--any-text")
    assert done.returncode == 0, done.stdout + done.stderr
    name = folder.name.removeprefix("sherpa-onnx-")
    assert f"{name} installed in {models_dir / name}" in done.stdout
    assert "sample transcribed as" in done.stdout or "verifying" in done.stdout
    yield kind, name


@pytest.fixture(scope="module")
def served(installed: tuple[str, str], models_root: Path) -> Iterator[ServerProcess]:
    kind, name = installed
    server = start_server(
        models_root, workers=1,
        env={"CAPSWRITER_MODELS_DIR": str(models_root / "models"), "CAPSWRITER_ASR_MODEL": name},
    )  # fmt: skip
    yield server
    server.stop()


def test_install_writes_the_manifest_of_the_kind(installed, models_root: Path) -> None:
    kind, name = installed
    manifest = load_manifest(models_root / "models" / name)
    assert manifest.kind == kind
    for file in manifest.files.values():
        assert (models_root / "models" / name / file).is_file()
    listing = _cli(models_root / "models", "models", "list")
    assert any(line.split()[:2] == [name, kind] for line in listing.stdout.splitlines()), (
        listing.stdout
    )


def test_a_file_and_a_dictation_come_back_through_the_server(installed, served) -> None:
    kind, name = installed
    wav = (PROJECT_ROOT / "tests" / "data" / "real" / CLIP).read_bytes()
    reply = httpx.post(
        f"{served.http}/v1/audio/transcriptions",
        files={"file": (CLIP, wav, "audio/wav")},
        data={"model": name, "response_format": "verbose_json"}, timeout=120,
    )  # fmt: skip
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert isinstance(body["text"], str) and body["duration"] == pytest.approx(4.28, abs=0.1)
    with served.ws() as ws:
        task = f"dictation-{uuid.uuid4().hex[:6]}"
        dictate(ws, task, pcm16(CLIP))
        result = recv_until(ws, (protocol.Result, protocol.Error))
    assert isinstance(result, protocol.Result), result
    assert result.task_id == task and isinstance(result.text, str)


def _dictate_in(ws, task: str, language: str) -> protocol.Message:
    send(ws, protocol.Start(task_id=task, source="mic", language=language))
    reply = recv_until(ws, (protocol.Accepted, protocol.Error))
    if isinstance(reply, protocol.Error):
        return reply
    ws.send(pcm16(CLIP)[: 16000 * 2 * 3])
    send(ws, protocol.End(task_id=task))
    return recv_until(ws, (protocol.Result, protocol.Error))


def test_languages_follow_the_kind(installed, served) -> None:
    """SenseVoice takes its five languages and refuses others in one line; kinds without a
    language argument read any request the same way."""
    kind, _ = installed
    with served.ws() as ws:
        spoken = _dictate_in(ws, "zh", "zh")
        other = _dictate_in(ws, "fr", "fr")
    assert isinstance(spoken, protocol.Result), spoken
    if kind == "sense_voice":
        assert isinstance(other, protocol.Error)
        assert "'fr'" in other.message and "zh" in other.message
    else:
        assert isinstance(other, protocol.Result), other


def _metadata_without(folder: Path, file: str, key: str) -> None:
    import onnx

    path = folder / file
    model = onnx.load(path)
    kept = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, path)


@pytest.mark.parametrize(
    ("kind", "file", "key"),
    [("sense_voice", "model.int8.onnx", "lfr_window_size"),
     ("paraformer", "model.int8.onnx", "neg_mean"),
     ("transducer", "decoder-epoch-99-avg-1.onnx", "context_size"),
     ("nemo_ctc", "model.int8.onnx", "model_type"),
     ("streaming_paraformer", "encoder.int8.onnx", "decoder_num_blocks"),
     ("streaming_transducer", "encoder-epoch-99-avg-1.int8.onnx", "left_context_len")],
)  # fmt: skip
def test_a_model_missing_what_its_kind_needs_is_refused_at_install(
    tmp_path: Path, models_root: Path, kind: str, file: str, key: str
) -> None:
    folder = make_release(kind, tmp_path / "build")
    _metadata_without(folder, file, key)
    archive = pack_release(folder, tmp_path)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    done = _cli(models_dir, "models", "install", str(archive), "--any-text")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and key in lines[-1] and file in lines[-1] and "not installed" in lines[-1]
    assert "Traceback" not in done.stderr
    assert [p.name for p in models_dir.iterdir()] == []  # nothing half-installed


def test_files_of_another_kind_are_refused_at_install(tmp_path: Path) -> None:
    # SenseVoice's files in a folder named as a Paraformer release: the name says paraformer.
    folder = make_release("paraformer", tmp_path / "build", build=sense_voice)
    archive = pack_release(folder, tmp_path)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    done = _cli(models_dir, "models", "install", str(archive), "--any-text")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "paraformer" in last and "inputs" in last, done.stderr
    assert not any(models_dir.iterdir())


def test_a_hand_written_manifest_of_the_wrong_kind_stops_the_server_with_one_line(
    tmp_path: Path, models_root: Path
) -> None:
    folder = make_release("sense_voice", tmp_path / "models")
    (folder / "manifest.toml").write_text(
        'name = "wrong"\nkind = "nemo_ctc"\n[files]\nmodel = "model.int8.onnx"\n'
        'tokens = "tokens.txt"\n'
    )
    (tmp_path / "models" / "silero-vad").symlink_to(PROJECT_ROOT / "models" / "silero-vad")
    server = start_server(
        tmp_path, workers=1, wait=False,
        env={"CAPSWRITER_MODELS_DIR": str(tmp_path / "models"),
             "CAPSWRITER_ASR_MODEL": folder.name},
    )  # fmt: skip
    try:
        assert server.proc.wait(timeout=60) != 0
    finally:
        server.stop()
    log = server.log_path.read_text() if server.log_path else ""
    assert "model_type" in log and "nemo_ctc" in log, log
    assert log.count("worker") == 0 or "died" not in log
