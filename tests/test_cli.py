"""The two programs of the desktop build share one CLI: the windowed one opens the tray app
unless it is given a command."""

from __future__ import annotations

from capswriter.cli import desktop_arguments


def test_the_desktop_program_without_a_command_is_the_tray_app() -> None:
    assert desktop_arguments([]) == ["client"]
    # Files dropped on the program icon go to the app.
    assert desktop_arguments(["talk.mp3", "b.wav"]) == ["client", "talk.mp3", "b.wav"]


def test_the_desktop_program_with_a_command_or_option_is_the_cli() -> None:
    assert desktop_arguments(["models", "list"]) == ["models", "list"]
    assert desktop_arguments(["--version"]) == ["--version"]
    assert desktop_arguments(["server", "--port", "6016"]) == ["server", "--port", "6016"]


def _run(*args: str, cwd=None) -> tuple[int, str, str]:
    import os
    import subprocess
    import sys

    env = {**os.environ, "CAPSWRITER_CONFIG": "/nonexistent/capswriter-test.toml"}
    done = subprocess.run([sys.executable, "-m", "capswriter", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


def test_values_that_cannot_work_are_refused_before_anything_starts(tmp_path) -> None:
    cases = {
        ("server", "--workers", "-1"): "error: command line: [server] workers must be 0 or more",
        ("server", "--port", "99999"): "error: command line: [server] port = 99999 is not "
                                       "1–65535",
        ("transcribe", "a.wav", "--formats", "docx"): "error: command line: [files] formats "
            "must name at least one of txt, srt, vtt, json (not 'docx')",
        ("--config", str(tmp_path / "nothere.toml"), "models", "list"):
            f"error: no settings file at {tmp_path / 'nothere.toml'}",
    }
    for args, line in cases.items():
        code, out, err = _run(*args)
        assert code == 2 and err.strip().splitlines()[-1] == line, (args, out, err)
    code, _, err = _run("--log-level", "LOUD", "models", "list")
    assert code == 2 and "invalid choice: 'LOUD'" in err and "Traceback" not in err


def test_files_that_cannot_be_read_and_silence_are_named_not_counted_as_done(tmp_path) -> None:
    import numpy as np
    import soundfile as sf

    silence = tmp_path / "quiet.wav"
    sf.write(silence, np.zeros(5 * 16000, np.float32), 16000)
    folder = tmp_path / "recordings"
    folder.mkdir()
    code, out, err = _run("transcribe", "--in-process", str(tmp_path / "missing.wav"),
                          str(folder), str(silence), "--formats", "txt")
    lines = [line for line in err.splitlines() if not line.startswith(("INFO", "20"))
             and "seg" not in line]
    assert f"error: {tmp_path / 'missing.wav'} cannot be read (No such file or directory); " \
           "check the path and its permissions." in lines
    assert f"error: {folder} is a folder, not an audio file; name the files in it." in lines
    assert f"no speech found in {silence}" in lines
    assert out.strip().splitlines()[-1].startswith("0 of 3 files (1 without speech):")
    assert code == 1


def test_the_tray_app_without_a_display_says_so_in_one_line() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "capswriter", "client"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: no display: the tray app needs a desktop session "
                                   "(X11 or Wayland); on a server, transcribe files with "
                                   "`capswriter transcribe`")


def test_transcribe_writes_hot_words_and_numbers_and_refuses_a_bad_hot_word_file(tmp_path) -> None:
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    clip = tmp_path / "clip.wav"
    shutil.copy(Path(__file__).parent / "data" / "real" / "zh_aishell_BAC009S0724W0121.wav", clip)
    hot = tmp_path / "hot_words.txt"
    hot.write_text("房地产\n中介协会\n", encoding="utf-8")
    env = {**os.environ, "CAPSWRITER_CONFIG_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "capswriter", "transcribe", "--in-process", "--formats",
               "txt", "--itn", "--hot-words"]
    done = subprocess.run([*command, str(hot), str(clip)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "房地产中介协会" in (tmp_path / "clip.txt").read_text(encoding="utf-8")
    hot.write_text("房地产 @ 7\n", encoding="utf-8")
    bad = subprocess.run([*command, str(hot), str(clip)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2
    assert "hot words" in bad.stderr and "line 1" in bad.stderr
