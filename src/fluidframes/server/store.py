"""The job store: one SQLite table under the data folder.

Decisions
---------
* One connection shared by the app and the worker threads, serialised by a lock. Writes are
  tiny (a row per job, progress at most every ~0.5 s per running job), so a lock is simpler and
  cheaper than a pool; WAL keeps readers (other processes inspecting the file) unblocked.
* Options and the run summary are JSON columns: the pipeline owns their shape, the store only
  keeps them.
* A job is a ``full`` render or a ``preview``: a few seconds cut from the upload around a point
  the user picked (``clip`` holds ``{"start", "seconds"}``), rendered before committing to the
  whole file. Older databases get the two columns added when opened.
* :meth:`JobStore.recover` runs at start-up: a job still marked ``running`` belonged to a process
  that died or stopped, so it becomes ``interrupted`` (re-runnable).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
TERMINAL = frozenset({"done", "failed", "cancelled", "interrupted"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    input_file TEXT NOT NULL,
    input_size INTEGER NOT NULL,
    options TEXT NOT NULL,
    format TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '{}',
    output_file TEXT,
    output_size INTEGER,
    error TEXT,
    frames_out INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER,
    frames_in INTEGER NOT NULL DEFAULT 0,
    elapsed REAL NOT NULL DEFAULT 0,
    fps REAL NOT NULL DEFAULT 0,
    eta REAL,
    summary TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    runs INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'full',
    clip TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
"""

_JSON_COLS = ("options", "source", "summary", "clip")
_ADDED_COLUMNS = {"kind": "TEXT NOT NULL DEFAULT 'full'", "clip": "TEXT"}
KINDS = ("full", "preview")


@dataclass
class Job:
    """One row; ``input_file``/``output_file`` are names inside the job's folder, never paths
    taken from the client."""

    id: str
    seq: int
    status: str
    filename: str  # the client's name, sanitised; metadata only
    input_file: str
    input_size: int
    options: dict[str, Any]
    format: str
    source: dict[str, Any] = field(default_factory=dict)
    output_file: str | None = None
    output_size: int | None = None
    error: str | None = None
    frames_out: int = 0
    frames_total: int | None = None
    frames_in: int = 0
    elapsed: float = 0.0
    fps: float = 0.0
    eta: float | None = None
    summary: dict[str, Any] | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    runs: int = 0
    kind: str = "full"  # or "preview"
    clip: dict[str, Any] | None = None  # preview window: {"start": s, "seconds": s}

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for col, decl in _ADDED_COLUMNS.items():
                if col not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {col} {decl}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- rows <-> jobs ---------------------------------------------------------------------
    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        d = dict(row)
        for c in _JSON_COLS:
            d[c] = json.loads(d[c]) if d[c] is not None else None
        d["source"] = d["source"] or {}
        return Job(**d)

    def add(self, job: Job) -> Job:
        with self._lock:
            job.seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            job.created = job.created or time.time()
            d = asdict(job)
            for c in _JSON_COLS:
                d[c] = json.dumps(d[c], default=str) if d[c] is not None else None
            cols = ", ".join(d)
            self._db.execute(f"INSERT INTO jobs ({cols}) VALUES ({', '.join('?' * len(d))})",
                             tuple(d.values()))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def list(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY seq DESC").fetchall()
        return [self._job(r) for r in rows]

    def update(self, job_id: str, *, expect: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set columns; with ``expect``, only if the status is one of those (atomic)."""
        for c in _JSON_COLS:
            if c in fields and fields[c] is not None:
                fields[c] = json.dumps(fields[c], default=str)
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql, args = f"UPDATE jobs SET {sets} WHERE id = ?", [*fields.values(), job_id]
        if expect:
            sql += f" AND status IN ({', '.join('?' * len(expect))})"
            args += list(expect)
        with self._lock:
            return self._db.execute(sql, args).rowcount == 1

    def delete(self, job_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 1

    def claim_next(self) -> Job | None:
        """The oldest queued job, marked running (atomically, so two workers never share one)."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self.update(row["id"], expect=("queued",), status="running", started=time.time(),
                        finished=None, error=None, frames_out=0, frames_in=0, frames_total=None,
                        elapsed=0.0, fps=0.0, eta=None)
            self._db.execute("UPDATE jobs SET runs = runs + 1 WHERE id = ?", (row["id"],))
            return self.get(row["id"])

    def recover(self) -> list[str]:
        """Start-up: jobs left ``running`` by a previous process become ``interrupted``."""
        with self._lock:
            ids = [r["id"] for r in self._db.execute(
                "SELECT id FROM jobs WHERE status = 'running'").fetchall()]
            self._db.execute(
                "UPDATE jobs SET status = 'interrupted', finished = ?, "
                "error = 'the server stopped while this job was running; re-run it' "
                "WHERE status = 'running'", (time.time(),))
        return ids
