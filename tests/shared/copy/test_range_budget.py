"""The process's budget of ranges in flight, shared between the reads at once (plain Python)."""

from __future__ import annotations

import threading

from shared.copy.ranged_read import RangeBudget


def test_a_read_alone_takes_the_whole_budget_and_no_more() -> None:
    budget = RangeBudget(4)
    budget.join()
    assert [budget.acquire(blocking=False, held=held) for held in range(5)] == [True] * 4 + [False]


def test_reads_at_once_hold_at_most_their_even_part() -> None:
    budget = RangeBudget(4)
    for _ in range(3):
        budget.join()
    # three reads: an even part of 4 is 2 (rounded up), however long one has been reading
    assert budget.acquire(blocking=False, held=0) and budget.acquire(blocking=False, held=1)
    assert not budget.acquire(blocking=False, held=2)
    # the second read takes its two; the third finds the budget used up
    assert budget.acquire(blocking=False, held=0) and budget.acquire(blocking=False, held=1)
    assert not budget.acquire(blocking=False, held=0)


def test_a_read_holding_none_gets_the_next_range_before_the_others_take_more() -> None:
    budget = RangeBudget(2)
    budget.join()
    assert budget.acquire(held=0) and budget.acquire(held=1)  # the first read, alone, took all
    got = threading.Event()

    def second_read() -> None:
        budget.join()
        budget.acquire(held=0)  # waits: it holds none
        got.set()

    waiting = threading.Thread(target=second_read)
    waiting.start()
    while not budget.waiting:
        threading.Event().wait(0.001)
    budget.release()  # the first read hashed a range: it goes to the waiting read...
    waiting.join(timeout=10)
    assert got.is_set()
    # ...and the first read, even holding none, cannot take one back before it is given back
    assert not budget.acquire(blocking=False, held=0)


def test_a_waiting_read_is_not_overtaken_by_reads_that_give_back_and_take_again() -> None:
    """Reads that give a range back and at once ask for one (holding none) do not take it
    before a read that was waiting already."""
    budget = RangeBudget(2)
    for _ in range(3):
        budget.join()
    assert budget.acquire(held=0) and budget.acquire(held=0)  # two busy reads
    served: list[str] = []

    def waiting_read() -> None:
        budget.acquire(held=0)
        served.append("waiting")

    thread = threading.Thread(target=waiting_read)
    thread.start()
    while not budget.waiting:
        threading.Event().wait(0.001)
    budget.release()
    assert not budget.acquire(blocking=False, held=0)  # the busy read asks again: not yet
    thread.join(timeout=10)
    assert served == ["waiting"]
