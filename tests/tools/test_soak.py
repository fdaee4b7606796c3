"""The desktop soak in small: the real tray app on a private desktop, twenty dictations (some
with pauses), files dropped mid-way and its server killed once; nothing may be lost."""

from __future__ import annotations

import shutil

import pytest

from capswriter.tools.soak import Soak, SoakConfig, write_jsonl

pytestmark = pytest.mark.slow


def test_twenty_dictations_in_the_real_app_lose_nothing(tmp_path, models_dir) -> None:
    missing = [t for t in ("Xvfb", "xdotool", "xclip", "pulseaudio") if not shutil.which(t)]
    if missing:
        pytest.fail(f"the soak needs {', '.join(missing)} (scripts/setup.sh installs them)")
    records = []
    summary = Soak(SoakConfig(dictations=20, workdir=tmp_path / "soak"),
                   on_dictation=records.append).run()
    print(summary.table())
    assert len(summary.dictations) == 20 and records == summary.dictations
    assert summary.crashes == 0
    assert not summary.lost, summary.table()
    assert not summary.garbled, summary.table()
    assert all(d.caps_lock_ok for d in summary.dictations), summary.table()
    assert all(d.clipboard_ok for d in summary.dictations), summary.table()
    assert any(" + " in d.clip for d in summary.dictations)  # dictations with pauses ran
    assert summary.server_restarts == 1
    assert summary.files_sent == 2 and summary.files_written == 2
    assert summary.client_rss_mb[1] > 0 and summary.server_rss_mb[1] > 0
    lines = write_jsonl(summary, tmp_path / "soak.jsonl").read_text().splitlines()
    assert len(lines) == 21
