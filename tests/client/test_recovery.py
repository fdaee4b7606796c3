"""The records a crash leaves behind: recordings in progress and the lock state owed."""

from __future__ import annotations

import numpy as np

from capswriter.client.recovery import LockDebt, RecordingSpool


def test_a_recording_cut_off_mid_write_is_read_back_to_its_last_whole_sample(tmp_path):
    spool = RecordingSpool(tmp_path / "recording")
    recording = spool.begin()
    tone = (0.5 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    recording.append(tone[:8000])
    recording.append(tone[8000:])
    recording.close()
    with recording.path.open("ab") as f:
        f.write(b"\x01")  # half a sample: the process died inside a write
    [left] = spool.leftovers()
    audio = spool.read(left)
    assert len(audio) == 16000 and spool.seconds(audio) == 1.0
    assert np.max(np.abs(audio - tone)) < 1e-4


def test_a_finished_recording_leaves_nothing_and_an_unwritable_folder_costs_no_dictation(
    tmp_path,
):
    spool = RecordingSpool(tmp_path / "recording")
    first, second = spool.begin(), spool.begin()
    first.append(np.zeros(160, np.float32))
    second.append(np.zeros(160, np.float32))
    first.discard()
    assert spool.leftovers() == [second.path]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    broken = RecordingSpool(blocked).begin()
    broken.append(np.zeros(160, np.float32))  # no copy is kept, and nothing raises
    broken.discard()


def test_the_lock_state_owed_is_kept_until_paid_and_only_for_its_key(tmp_path):
    debt = LockDebt(tmp_path / "lock.json")
    assert debt.outstanding("caps_lock") is None
    debt.owe("caps_lock", False)
    assert debt.outstanding("caps_lock") is False
    assert debt.outstanding("num_lock") is None
    debt.paid()
    assert debt.outstanding("caps_lock") is None
    (tmp_path / "lock.json").write_text("{half a file")
    assert debt.outstanding("caps_lock") is None
