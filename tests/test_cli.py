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
