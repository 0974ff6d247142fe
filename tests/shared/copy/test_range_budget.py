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


class Piece(bytes):
    """A range's bytes that say when they are freed."""

    freed: list[int] = []

    def __del__(self) -> None:
        Piece.freed.append(self[0])


def test_a_range_read_is_freed_before_the_read_asks_for_the_next(monkeypatch) -> None:
    """A range the reader has hashed and dropped is held by nothing of the read's own (not its
    future) when the read asks the budget for its next range: else every read waiting for the
    budget keeps a range outside it, and a process reading many files at once holds hundreds
    of MiB more than its budget."""
    from shared.copy import ranged_read

    alive_at_ask: list[list[int]] = []
    fetched: list[int] = []

    class Watched(ranged_read.RangeBudget):
        def acquire(self, blocking: bool = True, held: int = 0) -> bool:
            alive_at_ask.append([n for n in fetched if n not in Piece.freed])
            return super().acquire(blocking, held)

    def read_span(blob, span, etag) -> bytes:
        fetched.append(span[0])
        return Piece([span[0]])

    Piece.freed.clear()
    monkeypatch.setattr(ranged_read, "_read_span", read_span)
    monkeypatch.setattr(ranged_read._RangePool, "budget", Watched(1))
    read = []
    spans = [(offset, 1) for offset in range(3)]
    for piece in ranged_read.read_in_order(object(), spans, in_flight=1):  # type: ignore[arg-type]
        read.append(piece[0])
        del piece  # as the copy does once it has hashed a range
    assert read == [0, 1, 2]
    # each ask (the last one finds no span left) came with every earlier range freed
    assert alive_at_ask == [[], [], [], []]
