"""SQLite persistence for devhost: instances, their history, their inbox and activity work items.

Every change an episode makes (history appended, inbox consumed, work scheduled, status) is
written in one transaction, so a process killed at any point resumes from a consistent state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    runtime_status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_task_id INTEGER,
    generation INTEGER NOT NULL DEFAULT 0,
    retry_event_ids TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_time ON inbox (visible_at);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT
);
"""

TERMINAL = ("Completed", "Failed", "Terminated")


@dataclass
class Instance:
    instance_id: str
    name: str
    runtime_status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created_time: str
    last_updated_time: str
    parent_instance_id: str | None = None
    parent_task_id: int | None = None
    generation: int = 0
    retry_event_ids: set[int] = field(default_factory=set)

    @property
    def is_terminal(self) -> bool:
        return self.runtime_status in TERMINAL


@dataclass
class InboxItem:
    id: int
    instance_id: str
    generation: int
    visible_at: float
    event: dict


@dataclass
class WorkItem:
    id: int
    instance_id: str
    generation: int
    task_id: int
    name: str
    input: str | None


class Store:
    """One SQLite file, one connection, serialised by a lock (callers hold ``store.lock``).

    ``shared``: other processes use the file too (split instances), so no history is cached.
    """

    def __init__(self, path: Path, shared: bool = False):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.shared = shared
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._history_cache: dict[str, list[dict]] = {}

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                self._history_cache.clear()
                raise
            self._db.execute("COMMIT")

    # instances -----------------------------------------------------------------------------
    def get_instance(self, instance_id: str) -> Instance | None:
        row = self._db.execute(
            "SELECT instance_id, name, runtime_status, input, output, custom_status, created_time,"
            " last_updated_time, parent_instance_id, parent_task_id, generation, retry_event_ids"
            " FROM instances WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
        return _instance(row) if row else None

    def put_instance(self, instance: Instance) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                instance.instance_id, instance.name, instance.runtime_status, instance.input,
                instance.output, instance.custom_status, instance.created_time,
                instance.last_updated_time, instance.parent_instance_id, instance.parent_task_id,
                instance.generation, json.dumps(sorted(instance.retry_event_ids)),
            ),
        )

    def query_instances(
        self,
        statuses: Iterable[str] | None = None,
        created_from: str | None = None,
        created_to: str | None = None,
        prefix: str | None = None,
    ) -> list[Instance]:
        clauses: list[str] = []
        args: list[str | int] = []
        statuses = list(statuses or [])
        if statuses:
            clauses.append(f"runtime_status IN ({','.join('?' * len(statuses))})")
            args += statuses
        if created_from:
            clauses.append("created_time >= ?")
            args.append(created_from)
        if created_to:
            clauses.append("created_time <= ?")
            args.append(created_to)
        if prefix:
            clauses.append("substr(instance_id, 1, ?) = ?")
            args += [len(prefix), prefix]
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            "SELECT instance_id, name, runtime_status, input, output, custom_status, created_time,"
            " last_updated_time, parent_instance_id, parent_task_id, generation, retry_event_ids"
            f" FROM instances{where} ORDER BY created_time, instance_id",
            args,
        ).fetchall()
        return [_instance(row) for row in rows]

    def delete_instance(self, instance_id: str) -> None:
        for table in ("instances", "history", "inbox", "work"):
            self._db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
        self._history_cache.pop(instance_id, None)

    # history ------------------------------------------------------------------------------
    def history(self, instance_id: str) -> list[dict]:
        cached = None if self.shared else self._history_cache.get(instance_id)
        if cached is None:
            rows = self._db.execute(
                "SELECT event FROM history WHERE instance_id = ? ORDER BY seq", (instance_id,)
            ).fetchall()
            cached = [json.loads(row[0]) for row in rows]
            if not self.shared:
                self._history_cache[instance_id] = cached
        return cached

    def append_history(self, instance_id: str, events: list[dict]) -> None:
        history = self.history(instance_id)
        start = len(history)
        self._db.executemany(
            "INSERT INTO history VALUES (?,?,?)",
            [(instance_id, start + i, json.dumps(event)) for i, event in enumerate(events)],
        )
        history.extend(events)

    def clear_history(self, instance_id: str) -> None:
        self._db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
        self._history_cache[instance_id] = []

    # inbox --------------------------------------------------------------------------------
    def add_inbox(self, instance_id: str, generation: int, event: dict, visible_at: float) -> None:
        self._db.execute(
            "INSERT INTO inbox (instance_id, generation, visible_at, event) VALUES (?,?,?,?)",
            (instance_id, generation, visible_at, json.dumps(event)),
        )

    def ready_instances(self, now: float) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT instance_id FROM inbox WHERE visible_at <= ?", (now,)
        ).fetchall()
        return [row[0] for row in rows]

    def next_visible_at(self) -> float | None:
        row = self._db.execute("SELECT MIN(visible_at) FROM inbox").fetchone()
        return row[0] if row else None

    def take_inbox(self, instance_id: str, now: float) -> list[InboxItem]:
        rows = self._db.execute(
            "SELECT id, instance_id, generation, visible_at, event FROM inbox"
            " WHERE instance_id = ? AND visible_at <= ? ORDER BY id",
            (instance_id, now),
        ).fetchall()
        return [InboxItem(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def delete_inbox(self, ids: list[int]) -> None:
        self._db.executemany("DELETE FROM inbox WHERE id = ?", [(i,) for i in ids])

    def delete_inbox_of(self, instance_id: str) -> None:
        self._db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))

    # work ---------------------------------------------------------------------------------
    def add_work(self, instance_id: str, generation: int, task_id: int, name: str,
                 input_json: str | None) -> int:
        cursor = self._db.execute(
            "INSERT INTO work (instance_id, generation, task_id, name, input) VALUES (?,?,?,?,?)",
            (instance_id, generation, task_id, name, input_json),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def all_work(self) -> list[WorkItem]:
        rows = self._db.execute(
            "SELECT id, instance_id, generation, task_id, name, input FROM work ORDER BY id"
        ).fetchall()
        return [WorkItem(*row) for row in rows]

    def work_exists(self, work_id: int) -> bool:
        row = self._db.execute("SELECT 1 FROM work WHERE id = ?", (work_id,)).fetchone()
        return row is not None

    def delete_work(self, work_id: int) -> None:
        self._db.execute("DELETE FROM work WHERE id = ?", (work_id,))

    def delete_work_of(self, instance_id: str) -> None:
        self._db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))


def _instance(row: tuple[Any, ...]) -> Instance:
    return Instance(*row[:11], retry_event_ids=set(json.loads(row[11])))  # type: ignore[misc]
