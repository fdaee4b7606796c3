"""Text as Windows hands it to us: a settings file with a BOM, output redirected on a cp1252
system, models and recordings in folders named with Chinese letters and spaces."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from capswriter.config import PROJECT_ROOT, load_settings


def test_a_settings_file_saved_with_a_bom_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = '[client]\nhotkey = "f8"\n\n[server]\nport = 6123\n'
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    settings = load_settings(path, environ={})
    assert settings.server.port == 6123
    assert settings.client.hotkey == "f8"


def test_a_chinese_clip_in_chinese_folders_transcribes_into_a_redirected_file(
    tmp_path: Path, models_dir: Path, real_clips
) -> None:
    """`capswriter transcribe 中文 录音.wav > out.txt` with the models under a Chinese folder,
    output in the code page of a Western Windows (cp1252)."""
    models = tmp_path / "张三 的文件" / "CapsWriter 模型"
    models.mkdir(parents=True)
    # The VAD (sherpa-onnx) is copied; Whisper's large files are linked, opened by that path.
    shutil.copytree(models_dir / "silero-vad", models / "silero-vad")
    try:
        (models / "whisper-base").symlink_to((models_dir / "whisper-base").resolve())
    except OSError:  # Windows without the right to make links
        shutil.copytree(models_dir / "whisper-base", models / "whisper-base")
    clip = tmp_path / "录音 文件夹" / "中文 录音.wav"
    clip.parent.mkdir()
    shutil.copy(real_clips["zh_aishell_BAC009S0724W0121.wav"].path, clip)
    out = tmp_path / "out.txt"
    with out.open("wb") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "capswriter", "--models-dir", str(models), "transcribe",
             "--in-process", "--print-text", "--formats", "txt", "--language", "zh", str(clip)],
            env={**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0",
                 "CAPSWRITER_CONFIG": str(tmp_path / "none.toml")},
            stdout=handle, stderr=subprocess.PIPE, timeout=300, cwd=PROJECT_ROOT,
        )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    printed = out.read_bytes().decode("utf-8")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in printed), printed
    written = clip.with_suffix(".txt").read_text(encoding="utf-8")
    assert written.strip() and written.strip() in printed
