"""A deadline for work done while an HTTP caller waits, and running that work within it.

Azure's front end gives an HTTP-triggered function at most 230 s to answer, whatever its
functionTimeout (the load balancer's idle timeout; Azure Functions docs, "Function app timeout
duration"). The synchronous endpoints (the project summary, a share, an instant dry run)
therefore give their work a `Deadline` (`DDD_HTTP_DEADLINE_SECONDS`) and answer past it with
something other than the result: 202 and a background run, or a 4xx saying what to do.

The work is stopped cooperatively: it calls `Deadline.check()` between steps (a listing's
entries, a hash's pieces), which raises `DeadlinePassed` once the time is up or the waiting
caller has stopped it. `run_within` runs the work in a thread and waits for it at most
`grace` seconds past the deadline: a thread held up inside one storage request (which the
storage SDK may retry for minutes) does not hold the answer back. Whatever the outcome,
`run_within` stops the deadline before it returns, so a thread it no longer waits for ends at
its next check instead of going on for nobody.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")

# How long past its deadline the caller waits for work held up in a request, at most.
STOP_GRACE_SECONDS = 5.0


class DeadlinePassed(Exception):
    """The work stopped at its deadline, or because the caller waiting for it stopped it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"not done within {seconds:g} s")
        self.seconds = seconds


class Deadline:
    """`seconds` from now on a monotonic clock; `stop()` ends it early (thread-safe)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError("a deadline is 0 or more seconds away")
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds
        self._stopped = threading.Event()

    @classmethod
    def unbounded(cls) -> Deadline:
        """A deadline that never passes unless stopped (work run where nobody waits)."""
        return cls(float("inf"))

    @property
    def grace(self) -> float:
        """How long past the deadline a caller waits for work held up in one request."""
        return min(STOP_GRACE_SECONDS, self.seconds)

    def remaining(self) -> float:
        """Seconds left (0 once passed or stopped)."""
        if self._stopped.is_set():
            return 0.0
        return max(0.0, self._at - self._clock())

    @property
    def passed(self) -> bool:
        return self._stopped.is_set() or self._clock() >= self._at

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """End the deadline now: the work stops at its next check."""
        self._stopped.set()

    def check(self) -> None:
        """Raise DeadlinePassed once the deadline has passed or was stopped."""
        if self.passed:
            raise DeadlinePassed(self.seconds)


async def run_within(deadline: Deadline, work: Callable[[], Result]) -> Result:
    """`work()` in a thread; its result, or its exception (DeadlinePassed when it checked the
    deadline too late). DeadlinePassed too when it has not returned `deadline.grace` seconds
    after the deadline: the caller answers then, and the thread ends at its next check."""
    running = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        return await asyncio.wait_for(asyncio.shield(running),
                                      deadline.remaining() + deadline.grace)
    except TimeoutError:
        raise DeadlinePassed(deadline.seconds) from None
    finally:
        deadline.stop()
        if not running.done():  # its outcome is nobody's now: do not log it as never retrieved
            running.add_done_callback(_forget)


def _forget(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
