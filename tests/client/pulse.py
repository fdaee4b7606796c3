"""The private PulseAudio of the client tests (``capswriter.tools.desktop_session``), and
what only tests need around it."""

from __future__ import annotations

import shutil

from capswriter.tools.desktop_session import PulseServer

from .xsession import unavailable

__all__ = ["PulseServer", "require_pulse", "use_pulse_in_this_process"]


def require_pulse() -> None:
    if shutil.which("pulseaudio") is None:
        unavailable("needs pulseaudio, libportaudio2 and libasound2-plugins")


def use_pulse_in_this_process(server: PulseServer) -> None:
    """Make PortAudio enumerate again, now that the ALSA pulse plugin can reach ``server``.

    The caller sets ``server.env`` first; the plugin reads it when a device is opened.
    """
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
