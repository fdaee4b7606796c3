"""Every dictation and file job in SQLite, so no recognised word is ever lost.

An entry is written *before* output is attempted and when audio could not be transcribed
(status ``pending`` with its audio), so a crash, an output failure or a server outage leaves the
words or the sound in the database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capswriter.audio import from_pcm16, to_pcm16
from capswriter.config import data_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL DEFAULT '',
    duration_s REAL NOT NULL DEFAULT 0,
    latency_s REAL,
    status TEXT NOT NULL DEFAULT 'done',
    error TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    audio BLOB,
    outputs TEXT NOT NULL DEFAULT '',
    raw_text TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS entries_created ON entries(created);
CREATE INDEX IF NOT EXISTS entries_status ON entries(status);
"""

KINDS = ("dictation", "file")
STATUSES = ("done", "pending", "failed")


@dataclass
class Entry:
    id: int
    created: float
    kind: str
    text: str
    duration_s: float
    latency_s: float | None
    status: str
    error: str
    source: str
    has_audio: bool
    # The transcripts a file job wrote (txt, srt, …), in the order of the formats.
    outputs: tuple[Path, ...] = ()
    # What the recognizer wrote before hot words and number rules, when that differs from
    # text; for a dictation a role rewrote, what was said (``text`` is the rewritten text).
    raw_text: str = ""
    role: str = ""


_COLUMNS = (
    "id, created, kind, text, duration_s, latency_s, status, error, source, audio IS NOT NULL,"
    " outputs, raw_text, role"
)


def default_history_path() -> Path:
    return data_dir() / "history.sqlite3"


class History:
    """The history database; safe to use from the hotkey, network and Qt threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_history_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # WAL lets the History window read while a dictation is being written.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}
        if "outputs" not in columns:  # a database from before file entries kept their outputs
            self._db.execute("ALTER TABLE entries ADD COLUMN outputs TEXT NOT NULL DEFAULT ''")
        for column in ("raw_text", "role"):  # a database from before they were kept
            if column not in columns:
                self._db.execute(
                    f"ALTER TABLE entries ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(
        self,
        kind: str,
        text: str = "",
        duration_s: float = 0.0,
        latency_s: float | None = None,
        status: str = "done",
        error: str = "",
        source: str = "",
        audio: np.ndarray | None = None,
        created: float | None = None,
        outputs: Sequence[Path] = (),
        raw_text: str = "",
        role: str = "",
    ) -> int:
        """Record one dictation or file job; ``audio`` is 16 kHz mono float32 or int16."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO entries (created, kind, text, duration_s, latency_s, status, error,"
                " source, audio, outputs, raw_text, role)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time() if created is None else created,
                    kind, text, duration_s, latency_s, status, error, source,
                    _pcm_bytes(audio), "\n".join(str(p) for p in outputs),
                    # Kept when it differs, and always for a role, whose rewrite follows.
                    raw_text if raw_text != text or role else "", role,
                ),
            )
            return int(cur.lastrowid)

    def update(self, entry_id: int, **fields: object) -> None:
        allowed = {"text", "latency_s", "status", "error", "duration_s", "source", "raw_text",
                   "role"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if not fields:
            return
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._lock:
            self._db.execute(
                f"UPDATE entries SET {assignments} WHERE id = ?", (*fields.values(), entry_id)
            )

    def drop_audio(self, entry_id: int) -> None:
        with self._lock:
            self._db.execute("UPDATE entries SET audio = NULL WHERE id = ?", (entry_id,))

    def delete(self, entry_ids: Iterable[int]) -> int:
        """Remove entries (their text and any kept audio); returns how many there were."""
        ids = [(int(i),) for i in entry_ids]
        with self._lock:
            before = self._db.total_changes
            self._db.executemany("DELETE FROM entries WHERE id = ?", ids)
            return self._db.total_changes - before

    def prune(self, keep_days: int = 0, keep_entries: int = 0, now: float | None = None) -> int:
        """Delete entries older than ``keep_days`` or beyond the newest ``keep_entries`` (0 keeps
        all); dictations still waiting for the server are kept. Returns how many went."""
        now = time.time() if now is None else now
        with self._lock:
            before = self._db.total_changes
            if keep_days > 0:
                self._db.execute(
                    "DELETE FROM entries WHERE status != 'pending' AND created < ?",
                    (now - keep_days * 86400.0,),
                )
            if keep_entries > 0:
                self._db.execute(
                    "DELETE FROM entries WHERE status != 'pending' AND id NOT IN"
                    " (SELECT id FROM entries ORDER BY created DESC, id DESC LIMIT ?)",
                    (keep_entries,),
                )
            return self._db.total_changes - before

    def get(self, entry_id: int) -> Entry | None:
        rows = self._select("WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    def recent(self, limit: int = 100) -> list[Entry]:
        return self._select("ORDER BY created DESC, id DESC LIMIT ?", (limit,))

    def search(self, query: str, limit: int = 100) -> list[Entry]:
        """Entries whose text, raw text (as heard, or as said before a role rewrote it) or
        source contains ``query`` (any case), newest first."""
        like = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self._select(
            "WHERE text LIKE ? ESCAPE '\\' OR source LIKE ? ESCAPE '\\' "
            "OR raw_text LIKE ? ESCAPE '\\' ORDER BY created DESC, id DESC LIMIT ?",
            (like, like, like, limit),
        )

    def pending(self) -> list[Entry]:
        """Dictations whose audio is kept because the server could not transcribe it yet."""
        return self._select("WHERE status = 'pending' ORDER BY created, id", ())

    def audio(self, entry_id: int) -> np.ndarray | None:
        """The kept audio as 16 kHz mono float32, if any."""
        with self._lock:
            row = self._db.execute("SELECT audio FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        return from_pcm16(row[0])

    def _select(self, tail: str, params: tuple) -> list[Entry]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM entries {tail}", params).fetchall()
        return [
            Entry(
                id=r[0], created=r[1], kind=r[2], text=r[3], duration_s=r[4], latency_s=r[5],
                status=r[6], error=r[7], source=r[8], has_audio=bool(r[9]),
                outputs=tuple(Path(p) for p in r[10].split("\n") if p),
                raw_text=r[11], role=r[12],
            )
            for r in rows
        ]


def _pcm_bytes(audio: np.ndarray | None) -> bytes | None:
    if audio is None:
        return None
    return to_pcm16(audio)
