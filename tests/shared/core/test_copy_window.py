"""The copy window's decisions and the outage backoff, as plain Python: no host, no storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.copy_window import WAITING_FOR_TURN, CopyWindow, WindowMeasure, fair_shares
from shared.core.models import ChunkResult, Plan
from shared.core.outage import OutageRetry
from shared.core.run import DeliveryRun
from tests.orchestration.runs import sample_request

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_backoff_doubles_is_capped_and_ends_with_the_window() -> None:
    retry = OutageRetry.minutes(30)
    waits, now, attempt = [], T0, 1
    while (wait := retry.wait_after(attempt, T0, now)) is not None:
        waits.append(wait.total_seconds())
        now += wait
        attempt += 1
    assert waits[:7] == [5, 10, 20, 40, 80, 160, 300]
    assert max(waits) == 300  # capped at 5 minutes
    assert now == T0 + timedelta(minutes=30)  # the last try is at the window's end
    assert sum(waits) == 30 * 60
    assert retry.for_cleanup().window == timedelta(hours=2)


def test_the_backoff_counts_from_the_first_failure_not_the_first_try() -> None:
    retry = OutageRetry.minutes(1)
    assert retry.wait_after(1, T0, T0) == timedelta(seconds=5)
    assert retry.wait_after(4, T0, T0 + timedelta(seconds=55)) == timedelta(seconds=5)
    assert retry.wait_after(5, T0, T0 + timedelta(seconds=60)) is None


def run_of(chunks: int, parallel: int = 2) -> DeliveryRun:
    return DeliveryRun(request=sample_request(5), run_id="window-run", parallel_chunks=parallel,
                       plan=Plan(run_id="window-run", files=chunks, bytes=chunks,
                                 chunk_count=chunks, unit_count=chunks))


def done(index: int, **fields) -> ChunkResult:
    counts = {"files": 1, "bytes": 1, "verified_files": 1, "verified_bytes": 1,
              "failed_files": 0}
    return ChunkResult(index=index, **{**counts, **fields})


def test_the_window_keeps_its_units_in_flight_and_starts_the_next_as_one_ends() -> None:
    window = CopyWindow(run_of(3), OutageRetry.minutes(30), generation_events=64)
    first = window.fill()
    assert [slot.unit.index for slot in first] == [0, 1]
    assert window.run.in_flight == ["0.0", "1.0"]
    following = window.ended(first[0], done(0))
    assert [slot.unit.index for slot in following] == [2]
    assert window.run.totals.verified_files == 1 and window.failure is None


def test_a_failing_unit_waits_and_runs_again_until_its_window_is_over() -> None:
    window = CopyWindow(run_of(2), OutageRetry.minutes(1), generation_events=64)
    slot, _other = window.fill()
    retry_at = window.failed(slot, "HTTP 503 ServerBusy", T0)
    assert retry_at == T0 + timedelta(seconds=5)
    assert slot.waiting and window.run.in_flight == ["1.0"]  # a waiting unit is not running
    assert "Storage is failing" in (window.run.message or "")
    window.retry_due(slot)
    assert not slot.waiting and slot.attempt == 2
    assert window.failed(slot, "HTTP 503 ServerBusy", T0 + timedelta(seconds=61)) is None
    assert window.failure is not None and "still failed after 2 tries" in window.failure
    assert window.fill() == []  # after a failure nothing more starts


def test_a_unit_that_recovers_clears_the_waiting_message() -> None:
    window = CopyWindow(run_of(3), OutageRetry.minutes(30), generation_events=64)
    slot, other = window.fill()
    window.failed(slot, "reset", T0)
    window.retry_due(slot)
    window.ended(slot, done(0))
    assert window.run.message is None and window.failure is None


def test_a_refusal_fails_at_once_and_drops_the_waiting_retries() -> None:
    window = CopyWindow(run_of(4, parallel=3), OutageRetry.minutes(30), generation_events=64)
    first, second, third = window.fill()
    window.failed(second, "reset", T0)
    window.ended(first, done(0, files=0, verified_files=0, refusal="no permission"))
    assert window.failure == "no permission"
    assert window.dropped_waiting() == [second]
    assert [slot.unit.index for slot in window.slots] == [2]  # still running: let it finish


@pytest.mark.parametrize("events", [2, 3])
def test_a_generation_stops_starting_units_after_its_events(events: int) -> None:
    window = CopyWindow(run_of(10), OutageRetry.minutes(30), generation_events=events)
    slots = window.fill()
    window.ticked()
    started = window.ended(slots[0], done(0))
    assert len(started) == (1 if events == 3 else 0)


@pytest.mark.parametrize(("demands", "budget", "shares"), [
    ({"a": 8}, 8, {"a": 8}),  # alone: the whole budget
    ({"a": 8, "b": 8}, 8, {"a": 4, "b": 4}),
    ({"a": 8, "b": 8, "c": 8}, 8, {"a": 2, "b": 3, "c": 3}),  # every unit of the budget used
    ({"a": 1, "b": 8, "c": 8}, 8, {"a": 1, "b": 3, "c": 4}),  # one unit left over goes on
    ({"tiny": 1, "large": 1, "x": 8, "y": 2}, 8, {"tiny": 1, "large": 1, "y": 2, "x": 4}),
    # more deliveries than units: the 8 that can use the fewest run one each, 2 wait their turn
    ({f"d{n}": 8 for n in range(10)}, 8, {**{f"d{n}": 1 for n in range(8)}, "d8": 0, "d9": 0}),
    ({"tiny": 1, **{f"d{n}": 8 for n in range(8)}}, 8,
     {"tiny": 1, **{f"d{n}": 1 for n in range(7)}, "d7": 0}),
])
def test_deliveries_share_the_budget_evenly_and_leave_what_they_cannot_use(
        demands: dict[str, int], budget: int, shares: dict[str, int]) -> None:
    assert fair_shares(demands, budget) == shares
    # the same demands give the same shares, whatever order they were listed in
    assert fair_shares(dict(reversed(demands.items())), budget) == shares


def test_with_more_deliveries_than_units_equal_ones_take_turns() -> None:
    demands = {f"d{n}": 4 for n in range(5)}
    waiting = [sorted(key for key, share in fair_shares(demands, 3, turn).items() if share == 0)
               for turn in range(5)]
    # two wait at each turn, never the same two twice in a row, and every one gets turns
    assert all(len(pair) == 2 for pair in waiting)
    assert all(waiting[turn] != waiting[turn + 1] for turn in range(4))
    assert {key for pair in waiting for key in pair} == set(demands)
    assert all(sum(fair_shares(demands, 3, turn).values()) == 3 for turn in range(5))
    # the one that can use fewer units than the others never waits
    assert all(fair_shares({**demands, "small": 1}, 3, turn)["small"] == 1 for turn in range(6))


def test_a_window_with_a_share_of_0_starts_nothing_and_waits_for_its_turn() -> None:
    window = CopyWindow(run_of(3, parallel=4), OutageRetry.minutes(30), generation_events=64)
    assert window.shared(WindowMeasure(share=0, deliveries=9)) == []
    assert window.waiting_for_turn and window.run.message == WAITING_FOR_TURN
    assert window.asking().demand == 3  # it still asks for what it could run
    started = window.shared(WindowMeasure(share=1, deliveries=8))
    assert [slot.unit.index for slot in started] == [0]
    assert not window.waiting_for_turn and window.run.message is None
    # its turn passes while its unit runs: the unit ends, nothing starts, it waits again
    assert window.shared(WindowMeasure(share=0, deliveries=9)) == []
    assert window.ended(started[0], done(0)) == []
    assert window.waiting_for_turn
    # a generation whose events are used up stops waiting (it continues as new and asks again)
    for _ in range(64):
        window.ticked()
    assert not window.waiting_for_turn


def test_the_window_takes_its_share_and_lets_units_end_before_it_shrinks() -> None:
    window = CopyWindow(run_of(10, parallel=4), OutageRetry.minutes(30), generation_events=64)
    assert window.asking().demand == 4 and window.asking().budget == 4
    # asked before the first unit: two deliveries copy, this one may run 2
    first = window.shared(WindowMeasure(share=2, deliveries=2))
    assert [slot.unit.index for slot in first] == [0, 1]
    # the other ended: the share grows at the next measurement, and the units start at once
    more = window.shared(WindowMeasure(share=4, deliveries=1))
    assert [slot.unit.index for slot in more] == [2, 3]
    # a third delivery came: nothing is stopped, and nothing starts until the window fits
    assert window.shared(WindowMeasure(share=1, deliveries=3)) == []
    assert window.ended(first[0], done(0)) == []
    assert window.ended(first[1], done(1)) == []
    assert window.ended(more[0], done(2)) == []
    assert [slot.unit.index for slot in window.ended(more[1], done(3))] == [4]
    # no share in the answer (the deliveries could not be read): the window stays
    assert window.shared(WindowMeasure()) == [] and window.limit == 1
    # never more than the delivery's own parallel_chunks
    window.shared(WindowMeasure(share=9))
    assert window.limit == 4


def test_the_demand_counts_what_could_run_and_nothing_while_draining() -> None:
    window = CopyWindow(run_of(3, parallel=8), OutageRetry.minutes(30), generation_events=2)
    assert window.demand == 3  # three chunks, fewer than its parallel_chunks
    slots = window.fill()
    window.ticked()
    window.ended(slots[0], done(0))  # the generation's events are spent: it drains
    assert window.demand == 2  # only the units still in flight
    assert window.asking(leaving=True).leaving


def test_the_budget_shared_is_its_own_setting_when_given() -> None:
    alone = run_of(10, parallel=8)
    assert CopyWindow(alone, OutageRetry.minutes(30), 64).asking().budget == 8
    # DDD_SHARED_UNITS 32: four instances' worth of units, shared by every copying delivery
    many = run_of(10, parallel=8)
    many.shared_units = 32
    asked = CopyWindow(many, OutageRetry.minutes(30), 64).asking()
    assert asked.budget == 32 and asked.demand == 8
