"""The SQLite history: every dictation and file job, searchable, with optional audio."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from capswriter.client.history import History


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path / "history.sqlite3")
    yield h
    h.close()


def test_entries_come_back_newest_first_with_all_fields(history):
    first = history.add("dictation", "hello", duration_s=1.5, latency_s=0.2, source="gedit",
                        created=100.0)
    second = history.add("file", "a transcript", duration_s=60, source="/tmp/a.wav", created=200.0)
    recent = history.recent()
    assert [e.id for e in recent] == [second, first]
    entry = history.get(first)
    assert (entry.kind, entry.text, entry.duration_s, entry.latency_s, entry.source) == (
        "dictation", "hello", 1.5, 0.2, "gedit"
    )
    assert entry.status == "done" and not entry.has_audio


def test_search_matches_text_and_source_case_insensitively_and_literally(history):
    history.add("dictation", "Ask not what your country can do")
    history.add("file", "minutes", source="/home/u/Meeting.mp3")
    history.add("dictation", "100% sure")
    history.add("dictation", "100 percent")
    assert [e.text for e in history.search("COUNTRY")] == ["Ask not what your country can do"]
    assert [e.source for e in history.search("meeting")] == ["/home/u/Meeting.mp3"]
    assert [e.text for e in history.search("100%")] == ["100% sure"]
    assert history.search("_") == []


def test_audio_is_kept_as_16_bit_pcm_and_read_back(history):
    audio = np.sin(np.linspace(0, 100, 16000)).astype(np.float32) * 0.5
    entry_id = history.add("dictation", "", status="pending", audio=audio, duration_s=1.0)
    assert history.get(entry_id).has_audio
    back = history.audio(entry_id)
    assert back.dtype == np.float32 and back.shape == audio.shape
    assert np.max(np.abs(back - audio)) < 1 / 32768 + 1e-7
    assert [e.id for e in history.pending()] == [entry_id]
    history.update(entry_id, text="recovered", status="done")
    history.drop_audio(entry_id)
    assert history.pending() == []
    assert history.audio(entry_id) is None
    assert history.get(entry_id).text == "recovered"


def test_entries_survive_reopening(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = History(path)
    h.add("dictation", "persisted")
    h.close()
    h = History(path)
    assert [e.text for e in h.recent()] == ["persisted"]
    h.close()


def test_invalid_kind_status_or_field_is_refused(history):
    with pytest.raises(ValueError):
        history.add("shout", "x")
    entry_id = history.add("dictation", "x")
    with pytest.raises(ValueError):
        history.update(entry_id, status="lost")
    with pytest.raises(ValueError):
        history.update(entry_id, created=0)


def test_concurrent_writers_lose_nothing(history):
    def write(n):
        for i in range(50):
            history.add("dictation", f"{n}-{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(history.recent(limit=1000)) == 200


def test_deleted_entries_are_gone_with_their_audio(history):
    keep = history.add("dictation", "keep me", created=1.0)
    drop = history.add("dictation", "drop me", created=2.0, audio=np.zeros(1600, np.float32))
    other = history.add("file", "x", source="/tmp/x.wav", created=3.0)
    assert history.delete([drop, other]) == 2
    assert [e.id for e in history.recent()] == [keep]
    assert history.audio(drop) is None
    assert history.delete([drop]) == 0


def test_retention_keeps_recent_days_and_the_newest_entries_but_never_pending(history):
    day = 86400.0
    now = 100 * day
    old = history.add("dictation", "old", created=now - 40 * day)
    waiting = history.add("dictation", status="pending", created=now - 90 * day,
                          audio=np.zeros(1600, np.float32))
    recent = [history.add("dictation", f"r{i}", created=now - i * day) for i in range(5)]
    assert history.prune(keep_days=0, keep_entries=0, now=now) == 0  # 0 keeps everything
    assert history.prune(keep_days=30, now=now) == 1
    assert history.get(old) is None and history.get(waiting) is not None
    assert history.prune(keep_entries=3, now=now) == 2
    assert {e.id for e in history.recent()} == {*recent[:3], waiting}


def test_file_entries_keep_the_paths_of_their_transcripts(tmp_path):
    path = tmp_path / "h.sqlite3"
    history = History(path)
    outputs = [tmp_path / "talk.txt", tmp_path / "talk.srt"]
    entry_id = history.add("file", "words", source=str(tmp_path / "talk.mp3"), outputs=outputs)
    history.close()
    assert History(path).get(entry_id).outputs == tuple(outputs)


def test_a_database_from_before_outputs_were_kept_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, created REAL NOT NULL, kind TEXT NOT NULL,"
        " text TEXT NOT NULL DEFAULT '', duration_s REAL NOT NULL DEFAULT 0, latency_s REAL,"
        " status TEXT NOT NULL DEFAULT 'done', error TEXT NOT NULL DEFAULT '',"
        " source TEXT NOT NULL DEFAULT '', audio BLOB);"
        "INSERT INTO entries (created, kind, text) VALUES (1.0, 'dictation', 'from before');"
    )
    db.commit()
    db.close()
    history = History(path)
    assert [(e.text, e.outputs) for e in history.recent()] == [("from before", ())]
    history.close()


def test_the_raw_text_is_kept_beside_the_corrected_one_and_searched(history):
    changed = history.add("dictation", "傅平写了20行", raw_text="付平写了二十行")
    same = history.add("dictation", "hello", raw_text="hello")
    assert history.get(changed).raw_text == "付平写了二十行"
    assert history.get(same).raw_text == ""  # nothing to show when nothing changed
    assert [e.id for e in history.search("付平")] == [changed]
    history.update(changed, raw_text="")
    assert history.get(changed).raw_text == ""


def test_a_database_from_before_raw_text_gains_the_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, created REAL NOT NULL, kind TEXT"
               " NOT NULL, text TEXT NOT NULL DEFAULT '', duration_s REAL NOT NULL DEFAULT 0,"
               " latency_s REAL, status TEXT NOT NULL DEFAULT 'done', error TEXT NOT NULL"
               " DEFAULT '', source TEXT NOT NULL DEFAULT '', audio BLOB)")
    db.execute("INSERT INTO entries (created, kind, text) VALUES (1, 'dictation', 'old words')")
    db.commit()
    db.close()
    h = History(path)
    try:
        assert h.recent()[0].text == "old words" and h.recent()[0].raw_text == ""
        entry = h.add("dictation", "new", raw_text="neu")
        assert h.get(entry).raw_text == "neu"
    finally:
        h.close()


def test_a_rewritten_dictation_keeps_what_was_said_and_the_role(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)  # a database from before roles
    old.execute("CREATE TABLE entries (id INTEGER PRIMARY KEY, created REAL NOT NULL, kind TEXT"
                " NOT NULL, text TEXT NOT NULL DEFAULT '', duration_s REAL NOT NULL DEFAULT 0,"
                " latency_s REAL, status TEXT NOT NULL DEFAULT 'done', error TEXT NOT NULL"
                " DEFAULT '', source TEXT NOT NULL DEFAULT '', audio BLOB)")
    old.execute("INSERT INTO entries (created, kind, text) VALUES (1, 'dictation', 'before')")
    old.commit()
    old.close()
    history = History(path)
    entry_id = history.add("dictation", "said", raw_text="said", role="polish")
    history.update(entry_id, text="Rewritten.")
    new, before = history.recent()
    assert (new.text, new.raw_text, new.role) == ("Rewritten.", "said", "polish")
    assert (before.text, before.raw_text, before.role) == ("before", "", "")
    history.close()
