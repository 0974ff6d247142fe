"""How far the work units in flight have got, between their completions.

A unit (a chunk of files, or a segment of a large file) can run for minutes; the orchestrator
hears of it only when it ends. So a running unit writes the bytes it has moved to the work
container, three times per `DDD_PROGRESS_SECONDS` at most (one small PUT):

    progress/<run>/chunk-NNNNNN.json  {"segment": S, "bytes": N}

and the orchestrator, woken by a timer while units run, reads those of the units it has in
flight (`bytes_moving`) and shows them in its status. The file is overwritten by each attempt
and each segment; a reader keeps it only when it is of the segment asked about.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.core.messages import ProgressInput, UnitsMoving, unit_key
from shared.core.models import ChunkRef
from shared.core.naming import check_run_id
from shared.storage.work import WorkStore

PROGRESS_PREFIX = "progress"


def progress_name(run_id: str, index: int) -> str:
    return f"{PROGRESS_PREFIX}/{check_run_id(run_id)}/chunk-{index:06d}.json"


class UnitProgress:
    """Counts the bytes one running unit has moved; writes the count now and then."""

    def __init__(self, work: WorkStore | None, chunk: ChunkRef, *, every_seconds: float) -> None:
        self._work = work
        self._chunk = chunk
        self._every = every_seconds
        self._bytes = 0
        self._written_at = time.monotonic()
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        total = self.count(count)
        if total is not None:
            # outside the lock: a slow write holds up no other copy thread
            self.write(total)

    def count(self, count: int) -> int | None:
        """Count `count` more bytes; the total to `write` when a write is due, else None."""
        with self._lock:
            self._bytes += count
            now = time.monotonic()
            if self._work is None or now - self._written_at < self._every:
                return None
            self._written_at = now
            return self._bytes

    def write(self, total: int) -> None:
        assert self._work is not None
        self._work.write_json(progress_name(self._chunk.run_id, self._chunk.index),
                              {"segment": self._chunk.segment, "bytes": total})


def bytes_moving(work: WorkStore, progress: ProgressInput) -> UnitsMoving:
    """What each unit in flight last wrote; a unit that wrote nothing yet is left out."""
    moving: dict[str, int] = {}
    for unit in progress.units:
        try:
            written = work.read_json(progress_name(progress.run_id, unit.index))
        except ResourceNotFoundError:
            continue
        if isinstance(written, dict) and written.get("segment") == unit.segment:
            moving[unit_key(unit)] = int(written.get("bytes") or 0)
    return UnitsMoving(bytes_by_unit=moving)


def units_named(run_id: str, keys: list[str]) -> list[ChunkRef]:
    """The units behind `unit_key`s (as the custom status lists those in flight)."""
    units = []
    for key in keys:
        index, _, segment = key.partition(".")
        units.append(ChunkRef(run_id=run_id, index=int(index), segment=int(segment or 0)))
    return units


def bytes_copied_now(work: WorkStore, run_id: str, status: dict[str, Any]) -> int | None:
    """The bytes copied by a running delivery as of now: its finished units' bytes (from the
    custom status, `shared.core.run.DeliveryRun.progress`) and what its units in flight have
    written of their progress, read here rather than at the orchestrator's last tick. None
    when the status lists no units in flight (nothing running, or dropped for its budget)."""
    keys = status.get("units_in_flight")
    copied = status.get("bytes_copied")
    if not keys or not isinstance(copied, int):
        return None
    finished = copied - int(status.get("bytes_in_flight") or 0)
    moving = bytes_moving(work, ProgressInput(run_id=run_id, units=units_named(run_id, keys)))
    return finished + sum(moving.bytes_by_unit.values())


class LiveBytes:
    """Live reads for the status endpoint, cheap under frequent polling: at most one per
    delivery every `every_seconds` (or `tick_seconds`, if shorter) in a process (each costs a
    read per unit in flight).

    Whatever the age of the orchestrator's status: the status stands still between its
    measurements, and when no slot is free a measurement waits behind the copy units while the
    instance's episodes (a timer firing, a measurement scheduled) keep its last update recent,
    so neither tells how old the status's figure is. The reads are spaced instead."""

    MAX_REMEMBERED = 1024

    def __init__(self, every_seconds: float = 5.0) -> None:
        self._every = every_seconds
        self._read_at: dict[str, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def bytes_copied(self, work: WorkStore, run_id: str, status: dict[str, Any],
                     tick_seconds: float) -> int | None:
        now = time.monotonic()
        with self._lock:
            remembered = self._read_at.get(run_id)
        # never spaced wider than a progress tick (a short DDD_PROGRESS_SECONDS is read as often)
        if remembered is None or now - remembered[0] >= min(self._every, tick_seconds):
            remembered = (now, bytes_copied_now(work, run_id, status))
            with self._lock:
                if len(self._read_at) >= self.MAX_REMEMBERED:
                    self._read_at.pop(next(iter(self._read_at)))
                self._read_at[run_id] = remembered
        live = remembered[1]
        shown = status.get("bytes_copied")
        if live is None or not isinstance(shown, int):
            return live
        return max(live, shown)  # a unit that ended since the read is in the status now
