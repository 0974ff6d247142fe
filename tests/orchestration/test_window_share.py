"""The copy window as one delivery's share of the units in flight (`measure_progress` answers
it), replayed in virtual time (`tests.orchestration.replay`): asked before the first unit,
taken at every tick, given back at the copy's end."""

from __future__ import annotations

from typing import Any

from shared.core.activities import Activity
from shared.core.copy_window import WAITING_FOR_TURN, WindowMeasure
from shared.core.models import Plan
from tests.orchestration.replay import Run, Takes, replay
from tests.orchestration.test_delivery_replay import DELIVERY, fakes, start, unit_done

UNIT_SECONDS = 20.0


def units(count: int) -> Plan:
    return Plan(run_id="replayed", files=2 * count, bytes=20 * count, chunk_count=count,
                unit_count=count)


def most_in_flight(run: Run, since: float = 0.0) -> int:
    """The most copy units in flight at once from `since` on (each takes UNIT_SECONDS)."""
    starts = [at for at, name, _ in run.calls if name == Activity.COPY_CHUNK]
    return max(sum(1 for other in starts if other <= at < other + UNIT_SECONDS)
               for at in starts if at >= since)


def test_the_window_starts_only_its_share_and_asks_before_the_first_unit() -> None:
    run = replay(DELIVERY, start(parallel_chunks=4, progress_seconds=5), fakes(
        units(8), copy_chunk=lambda given: Takes(unit_done(given), UNIT_SECONDS),
        measure_progress=lambda given: WindowMeasure(share=2, deliveries=2)))
    assert run.status == "Completed" and run.output["files_verified"] == 16, run.error
    calls = [name for _, name, _ in run.calls]
    first_copy = calls.index(Activity.COPY_CHUNK)
    asked = run.called(Activity.MEASURE_PROGRESS)[0]
    assert calls[first_copy - 1] == Activity.MEASURE_PROGRESS and asked.units == []
    assert (asked.demand, asked.budget, asked.every_seconds) == (4, 4, 5)
    assert most_in_flight(run) == 2
    assert len(run.called(Activity.COPY_CHUNK)) == 8


def test_the_window_grows_when_the_share_grows_and_shrinks_as_units_end() -> None:
    answers = iter([1, 1, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    run = replay(DELIVERY, start(parallel_chunks=4, progress_seconds=5), fakes(
        units(12), copy_chunk=lambda given: Takes(unit_done(given), UNIT_SECONDS),
        measure_progress=lambda given: WindowMeasure(share=next(answers), deliveries=2)))
    assert run.status == "Completed" and run.output["files_verified"] == 24, run.error
    starts = [at for at, name, _ in run.calls if name == Activity.COPY_CHUNK]
    # one unit first (planned in 1 s, asked in 1 s); the first tick (5 s, measured in 1 s)
    # answers 1 again, the second 4: the three others start at once
    assert starts[:4] == [2.0, 14.0, 14.0, 14.0]
    # once the share is 1 again, the units in flight end before the next starts
    assert most_in_flight(run, since=starts[4] + UNIT_SECONDS) == 1


def test_the_share_is_given_back_once_the_copy_is_over() -> None:
    run = replay(DELIVERY, start(parallel_chunks=2), fakes(units(3)))
    assert run.status == "Completed", run.error
    measured = [(at, given) for at, name, given in run.calls
                if name == Activity.MEASURE_PROGRESS]
    last_copy_end = max(at for at, name, _ in run.calls
                        if name == Activity.COPY_CHUNK) + UNIT_SECONDS
    leaving = [given for at, given in measured if given.leaving]
    assert len(leaving) == 1 and leaving[0].units == []
    assert [at for at, given in measured if given.leaving][0] >= last_copy_end
    # between generations the share is kept: only the copy's end gives it back
    long = replay(DELIVERY, start(parallel_chunks=4), fakes(units(100)))
    assert long.generations > 1
    assert sum(1 for given in long.called(Activity.MEASURE_PROGRESS) if given.leaving) == 1


def test_a_failed_ask_leaves_the_window_at_the_deliverys_own_size() -> None:
    def failing(given: Any) -> Any:
        return RuntimeError("HTTP 503 ServerBusy")

    run = replay(DELIVERY, start(parallel_chunks=3), fakes(units(6), measure_progress=failing))
    assert run.status == "Completed" and run.output["files_verified"] == 12, run.error
    starts = [at for at, name, _ in run.calls if name == Activity.COPY_CHUNK]
    assert starts[:3] == [starts[0]] * 3


def test_a_delivery_waits_its_turn_with_nothing_in_flight_and_starts_when_it_comes() -> None:
    """A share of 0 (more deliveries than units): no unit starts, the window keeps asking at
    every tick with the status saying so, and the units start once a share comes."""
    answers = iter([0, 0, 0, 1, 2])

    def measure(given: Any) -> WindowMeasure:
        return WindowMeasure(share=next(answers, 2), deliveries=9)

    run = replay(DELIVERY, start(parallel_chunks=2, progress_seconds=5), fakes(
        units(4), copy_chunk=lambda given: Takes(unit_done(given), UNIT_SECONDS),
        measure_progress=measure))
    assert run.status == "Completed" and run.output["files_verified"] == 8, run.error
    starts = [at for at, name, _ in run.calls if name == Activity.COPY_CHUNK]
    asks = [at for at, name, given in run.calls
            if name == Activity.MEASURE_PROGRESS and not given.leaving]
    # asked before the first unit (0) and at two ticks (0, 0): the third tick answers 1
    assert len(starts) == 4 and starts[0] > asks[2]
    assert starts[0] >= 3 * 5.0
    # while it waited, the status said why
    messages = [(status or {}).get("message") for _, status in run.statuses]
    assert WAITING_FOR_TURN in messages
    assert messages[-1] != WAITING_FOR_TURN
