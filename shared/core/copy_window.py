"""The copy window's decisions, as plain deterministic Python (the orchestrator only turns them
into activities and timers, `orchestrators/delivery.py`).

The window keeps up to `DeliveryRun.parallel_chunks` work units in flight and starts the next as
one ends (a file's next segment first). Deliveries copying at the same time share a budget of
units (`DeliveryRun.shared_units`, DDD_SHARED_UNITS; by default `parallel_chunks`):
each one's window is its share (`fair_shares`: split evenly, a delivery that can use fewer units
leaving the rest to the others), as the `measure_progress` activity last answered it
(`WindowMeasure.share`, read from what every copying delivery wrote to the work container). The
share comes in an activity's result, so a replay decides the same. With more deliveries than
units, each of the deliveries that can use the fewest runs one unit and the others wait their
turn (a share of 0: their units in flight end, none starts; the window keeps asking at every
tick), so the units in flight stay within the budget and the activity slots beyond it stay
free for every delivery's short steps (planning, progress, manifest, report).

A unit that fails (its activity raised: storage failing, a host gone) is tried again after a
durable timer, with the capped backoff of `OutageRetry`, until the outage window since its first
failure is over: then it fails for good. A unit that comes back with a `refusal` (storage
refused in a way no retry changes) fails at once. After a failure no unit starts; the units in
flight finish (so no copy lands after a clean-up), waiting retries are dropped. After
`generation_events` unit ends, retries and progress ticks the window stops starting units and
drains, and the orchestration continues as new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from shared.core.messages import ProgressInput, UnitsMoving, unit_key
from shared.core.models import ChunkRef, ChunkResult
from shared.core.outage import OutageRetry, waiting_message
from shared.core.run import DeliveryRun


class WindowInput(ProgressInput):
    """`measure_progress`'s input: the units in flight to measure (none when only asking for
    the share), how many units this delivery could run now (`demand`), the units all copying
    deliveries share (`budget`), how often it asks again (`every_seconds`), and `leaving` once
    its copy is over (its entry is removed)."""

    demand: int = Field(0, ge=0)
    budget: int = Field(1, ge=1)
    every_seconds: int = Field(30, ge=1)
    leaving: bool = False


class WindowMeasure(UnitsMoving):
    """`measure_progress`'s answer: the bytes the units in flight have moved, this delivery's
    share of the budget (None: not asked, or the deliveries could not be read) and how many
    deliveries were copying."""

    share: int | None = None
    deliveries: int = 1


# shown while a delivery waits for its turn (no unit in flight, a share of 0)
WAITING_FOR_TURN = ("Waiting for a turn: more deliveries are copying than the work units they "
                    "share; this one goes on as soon as units free up")
TURN_ASKS = 10  # with more deliveries than units, ties take turns every this many asks


def fair_shares(demands: dict[str, int], budget: int, turn: int = 0) -> dict[str, int]:
    """The budget of units in flight split between deliveries (by key): the one that can use
    the fewest units first, each given what it can use up to an even split of what is left, at
    least 1. With more deliveries than the budget, the `budget` deliveries that can use the
    fewest run one unit each and the others 0 (they wait their turn); deliveries of equal demand
    take turns as `turn` moves on. The same demands and turn always give the same shares."""
    if len(demands) > budget:
        keys = sorted(demands)
        rank = {key: (position - turn) % len(keys) for position, key in enumerate(keys)}
        ordered = sorted(keys, key=lambda key: (demands[key], rank[key]))
        return {key: int(position < budget) for position, key in enumerate(ordered)}
    shares: dict[str, int] = {}
    left = budget
    ordered = sorted(demands, key=lambda key: (demands[key], key))
    for position, key in enumerate(ordered):
        even = left // (len(ordered) - position)
        shares[key] = max(1, min(demands[key], even))
        left -= shares[key]
    return shares


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
        # units this delivery may have in flight: its share of the budget, once measured
        self.limit = run.parallel_chunks

    # ----- starting -----------------------------------------------------------------------
    def fill(self) -> list[Slot]:
        """The units to start now (their activities), as slots in flight."""
        started: list[Slot] = []
        while not self._draining and len(self.slots) < self.limit:
            unit = self.run.take_next()
            if unit is None:
                break
            slot = Slot(unit)
            self.slots.append(slot)
            started.append(slot)
        self._show_in_flight()
        return started

    @property
    def demand(self) -> int:
        """How many units this delivery could have in flight now (for its share): those in
        flight, the segments carried over and the chunks not started, at most its own
        `parallel_chunks` (a file in segments counts once: its segments run one at a time)."""
        waiting = 0 if self._draining else self._left_to_start
        return min(self.run.parallel_chunks, len(self.slots) + waiting)

    @property
    def _draining(self) -> bool:
        """Nothing more starts in this generation: a unit failed for good, or its events are
        used up (the units in flight end, then it continues as new)."""
        return self.failure is not None or self.events >= self.generation_events

    @property
    def _left_to_start(self) -> int:
        """The segments carried over and the chunks not started."""
        plan = self.run.plan
        return len(self.run.carried) + (plan.chunk_count - self.run.next_chunk if plan else 0)

    def asking(self, units: list[ChunkRef] | None = None, *, leaving: bool = False) -> WindowInput:
        """`measure_progress`'s input: measure `units` (none: only the share) and ask for the
        share."""
        return WindowInput(run_id=self.run.run_id, units=units or [], demand=self.demand,
                           budget=self.run.shared_units or self.run.parallel_chunks,
                           every_seconds=self.run.progress_seconds, leaving=leaving)

    def shared(self, measure: WindowMeasure) -> list[Slot]:
        """Take this delivery's share from a measurement; the units to start now (none when it
        shrank: the units in flight end first)."""
        if measure.share is not None:
            self.limit = max(0, min(measure.share, self.run.parallel_chunks))
        started = self.fill()
        if self.waiting_for_turn and not self.slots:
            self.run.message = WAITING_FOR_TURN
        elif self.run.message == WAITING_FOR_TURN:
            self.run.message = None
        return started

    @property
    def waiting_for_turn(self) -> bool:
        """A share of 0 while units are left to start: the window keeps asking, at every
        tick, until its turn comes (or the generation's events are used up)."""
        return self.limit == 0 and not self._draining and self._left_to_start > 0

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
