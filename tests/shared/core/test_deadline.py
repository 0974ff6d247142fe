"""The deadline of the synchronous endpoints, without a host or storage: when it passes, how work
run within it ends, and that a thread nobody waits for any more stops at its next check."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from shared.core.config import SettingsError, load_settings
from shared.core.deadline import STOP_GRACE_SECONDS, Deadline, DeadlinePassed, run_within
from tests.shared.core.test_config import REQUIRED

Result = TypeVar("Result")
# how long a test waits for a thread it expects to end; never reached unless the test fails
WAIT = 30.0


def answer(waiting: Coroutine[Any, Any, Result]) -> Result:
    """Run on a loop that lives on, as a host's does (`asyncio.run` would wait for every thread
    of its executor before it returns)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(waiting)
    finally:
        loop.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_deadline_passes_at_its_time_or_when_stopped() -> None:
    clock = Clock()
    deadline = Deadline(10, clock=clock)
    clock.now += 9.5
    deadline.check()
    assert deadline.remaining() == pytest.approx(0.5) and not deadline.passed
    clock.now += 0.5
    assert deadline.passed and deadline.remaining() == 0
    with pytest.raises(DeadlinePassed, match="10 s"):
        deadline.check()

    early = Deadline(10, clock=clock)
    early.stop()
    assert early.passed and early.stopped and early.remaining() == 0
    with pytest.raises(DeadlinePassed):
        early.check()


def test_the_grace_past_a_deadline_is_short_and_never_longer_than_the_deadline() -> None:
    assert Deadline(1).grace == 1
    assert Deadline(45).grace == Deadline(180).grace == STOP_GRACE_SECONDS <= 10
    unbounded = Deadline.unbounded()
    unbounded.check()
    assert not unbounded.passed
    with pytest.raises(ValueError):
        Deadline(-1)


def test_work_done_in_time_gives_its_result_or_its_own_error() -> None:
    deadline = Deadline(30)
    assert answer(run_within(deadline, lambda: 42)) == 42

    def fails() -> None:
        raise KeyError("its own")

    with pytest.raises(KeyError, match="its own"):
        answer(run_within(Deadline(30), fails))


def test_work_that_checks_the_deadline_stops_at_it_and_is_answered_then() -> None:
    steps: list[int] = []
    ended = threading.Event()
    deadline = Deadline(0.3)

    def listing() -> None:
        try:
            for step in range(100_000):
                deadline.check()
                steps.append(step)
                time.sleep(0.01)
        finally:
            ended.set()

    with pytest.raises(DeadlinePassed):
        answer(run_within(deadline, listing))

    assert ended.is_set()  # the caller answered once the work had stopped itself
    assert 0 < len(steps) < 100_000


def test_a_thread_held_up_past_the_grace_is_left_and_stops_at_its_next_check() -> None:
    release = threading.Event()
    ended = threading.Event()
    steps_after_release: list[int] = []
    deadline = Deadline(0.2)

    def held_up() -> None:
        try:
            deadline.check()
            release.wait(WAIT)  # one storage request that does not end
            for step in range(100):
                deadline.check()
                steps_after_release.append(step)
        finally:
            ended.set()

    with pytest.raises(DeadlinePassed):
        answer(run_within(deadline, held_up))

    assert not ended.is_set() and deadline.stopped  # answered without the thread
    release.set()
    assert ended.wait(WAIT)
    assert steps_after_release == []  # it did nothing more once its request ended


def test_a_caller_that_goes_away_stops_the_work() -> None:
    ended = threading.Event()
    deadline = Deadline(60)
    started = threading.Event()

    def long_work() -> None:
        started.set()
        try:
            while True:
                deadline.check()
                time.sleep(0.01)
        finally:
            ended.set()

    async def caller_cancelled() -> None:
        waiting = asyncio.ensure_future(run_within(deadline, long_work))
        while not started.is_set():
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    answer(caller_cancelled())
    assert ended.wait(WAIT) and deadline.stopped


def test_the_setting_defaults_well_under_the_front_end_s_230_s() -> None:
    assert load_settings(REQUIRED).http_deadline_seconds == 45
    assert load_settings({**REQUIRED, "DDD_HTTP_DEADLINE_SECONDS": "1"}) \
        .http_deadline_seconds == 1
    for refused in ("0.5", "181", "nan", "soon"):
        with pytest.raises(SettingsError) as error:
            load_settings({**REQUIRED, "DDD_HTTP_DEADLINE_SECONDS": refused})
        assert [problem.split(":")[0] for problem in error.value.problems] == [
            "DDD_HTTP_DEADLINE_SECONDS"], refused
