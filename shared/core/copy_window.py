"""The copy window's decisions, as plain deterministic Python (the orchestrator only turns them
into activities and timers, `orchestrators/delivery.py`).

The window keeps `DeliveryRun.parallel_chunks` work units in flight and starts the next as one
ends (a file's next segment first). A unit that fails (its activity raised: storage failing, a
host gone) is tried again after a durable timer, with the capped backoff of `OutageRetry`,
until the outage window since its first failure is over: then it fails for good. A unit that
comes back with a `refusal` (storage refused in a way no retry changes) fails at once. After a
failure no unit starts; the units in flight finish (so no copy lands after a clean-up), waiting
retries are dropped. After `generation_events` unit ends, retries and progress ticks the window
stops starting units and drains, and the orchestration continues as new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.core.messages import unit_key
from shared.core.models import ChunkRef, ChunkResult
from shared.core.outage import OutageRetry, waiting_message
from shared.core.run import DeliveryRun


@dataclass
class Slot:
    """One unit in flight: its activity running, or waiting for its retry timer."""

    unit: ChunkRef
    attempt: int = 1
    first_failure: datetime | None = None
    retry_at: datetime | None = None  # set while waiting for the retry timer

    @property
    def waiting(self) -> bool:
        return self.retry_at is not None


class CopyWindow:
    def __init__(self, run: DeliveryRun, retry: OutageRetry, generation_events: int) -> None:
        self.run = run
        self.retry = retry
        self.generation_events = generation_events
        self.slots: list[Slot] = []
        self.events = 0
        self.failure: str | None = None

    # ----- starting -----------------------------------------------------------------------
    def fill(self) -> list[Slot]:
        """The units to start now (their activities), as slots in flight."""
        started: list[Slot] = []
        while (self.failure is None and self.events < self.generation_events
               and len(self.slots) < self.run.parallel_chunks):
            unit = self.run.take_next()
            if unit is None:
                break
            slot = Slot(unit)
            self.slots.append(slot)
            started.append(slot)
        self._show_in_flight()
        return started

    @property
    def running(self) -> list[Slot]:
        """The slots whose activity runs now (measured by a progress tick)."""
        return [slot for slot in self.slots if not slot.waiting]

    # ----- what an event means --------------------------------------------------------------
    def ticked(self) -> None:
        self.events += 1

    def ended(self, slot: Slot, result: ChunkResult) -> list[Slot]:
        """A unit's activity returned: count it (or take its refusal); the units to start."""
        self.events += 1
        self.slots.remove(slot)
        if result.refusal is not None:
            self._fail(result.refusal)
            return []
        following = self.run.add_result(slot.unit, result)
        if following is not None:
            self.run.carried.insert(0, following)  # a file's next segment goes first
        self._clear_waiting_message()
        return self.fill()

    def failed(self, slot: Slot, problem: str, now: datetime) -> datetime | None:
        """A unit's activity raised at `now`: when to try it again (a timer), or None when its
        outage window is over and the delivery fails."""
        self.events += 1
        first = slot.first_failure or now
        wait = self.retry.wait_after(slot.attempt, first, now) if self.failure is None else None
        if wait is None:
            self.slots.remove(slot)
            self._show_in_flight()
            if self.failure is None:
                self._fail(f"work unit {unit_key(slot.unit)} still failed after "
                           f"{slot.attempt} tries over {self._minutes(first, now)}: {problem}")
            return None
        slot.first_failure, slot.retry_at = first, now + wait
        self.run.message = waiting_message(f"work unit {unit_key(slot.unit)}", slot.attempt,
                                           slot.retry_at, self.retry.gives_up_at(first), problem)
        self._show_in_flight()
        return slot.retry_at

    def retry_due(self, slot: Slot) -> None:
        """Its retry timer fired: the unit's activity is started again."""
        self.events += 1
        slot.retry_at = None
        slot.attempt += 1
        self._show_in_flight()

    def dropped_waiting(self) -> list[Slot]:
        """After a failure: the slots waiting for a retry, removed (their timers to cancel)."""
        waiting = [slot for slot in self.slots if slot.waiting]
        for slot in waiting:
            self.slots.remove(slot)
        self._show_in_flight()
        return waiting

    # ----- helpers -------------------------------------------------------------------------
    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason

    def _clear_waiting_message(self) -> None:
        if not any(slot.waiting for slot in self.slots) and self.run.message and \
                self.run.message.startswith("Storage is failing"):
            self.run.message = None

    def _show_in_flight(self) -> None:
        self.run.in_flight = [unit_key(slot.unit) for slot in self.running]

    @staticmethod
    def _minutes(first: datetime, now: datetime) -> str:
        seconds = (now - first).total_seconds()
        return f"{seconds / 60:.1f} minutes" if seconds >= 60 else f"{seconds:.0f} s"
