"""Start and stop cues: heard on a real output device, silent (and said once) without one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from capswriter.client.sounds import CUES, cue_path
from capswriter.config import PROJECT_ROOT


def run_probe(env: dict[str, str], *args: str) -> tuple[dict, str]:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.client.sound_probe", *args], cwd=PROJECT_ROOT, env=env,
        capture_output=True, text=True, timeout=60,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    return json.loads(probe.stdout.strip().splitlines()[-1]), probe.stderr


def test_the_cues_ship_with_the_package():
    for cue in CUES:
        assert cue_path(cue).is_file()


def test_without_a_sound_output_the_cues_are_silent_and_say_so_once():
    # Without the private sound server this machine has no sound card at all.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    result, stderr = run_probe(env)
    if result["outputs"]:
        pytest.skip("this machine has a sound output of its own")
    assert result == {"outputs": 0, "played": 0, "available": False, "closed": True}
    assert stderr.count("sound cues are off") == 1


def test_the_cues_play_on_a_real_output_device(pulse_source):
    # The private PulseAudio's output is a null sink; its monitor hears what is played.
    env = {**os.environ, **pulse_source.env, "PULSE_SOURCE": "silence.monitor"}
    result, _ = run_probe(env, "--listen")
    assert result["played"] == 3 and result["available"] and result["closed"]
    assert result["peak"] > 0.05
    assert result["tone_to_noise"] > 10  # the cue's two notes, not noise
