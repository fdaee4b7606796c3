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
