"""At most `SERVICE_COPIES` service-checked small-file copies in flight in a process, shared
between the work units copying at once (`shared.copy.service`).

Each unit keeps up to `DDD_COPY_THREADS` of its files going; the gate lets `SERVICE_COPIES` of
them through in the whole process, and when one ends the next permit goes to the waiting unit
that holds the fewest: a unit started beside others (a small delivery beside large ones) gets
its first copies going at once instead of queueing behind theirs. Fewer requests in flight also
keep the storage service's queue short, so every other request of the app (a plan's listing,
a manifest, a status read) waits less behind the copies. Measured on the benchmark's 2 cores:
see `bench/README.md`.

Lives on the process's event loop (`shared.storage.aio.EVENT_LOOP`): only coroutines running
there may use it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# the service-checked copies in flight in one process, whatever the number of units
SERVICE_COPIES = 48


class FairGate:
    """Permits shared between units (any hashable key): a permit freed goes to the waiting unit
    that holds the fewest; a unit's own waiters are served in order."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._used = 0
        self._held: dict[object, int] = {}
        self._waiting: dict[object, deque[asyncio.Future[None]]] = {}

    @asynccontextmanager
    async def permit(self, unit: object) -> AsyncIterator[None]:
        await self._acquire(unit)
        try:
            yield
        finally:
            self._release(unit)

    def held(self, unit: object) -> int:
        return self._held.get(unit, 0)

    async def _acquire(self, unit: object) -> None:
        if self._used < self.total and not self._waiting:
            self._take(unit)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(unit, deque()).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(unit)  # granted as it was cancelled: hand the permit on
            else:
                self._forget(unit, waiter)
            raise

    def _take(self, unit: object) -> None:
        self._used += 1
        self._held[unit] = self._held.get(unit, 0) + 1

    def _release(self, unit: object) -> None:
        self._used -= 1
        left = self._held[unit] - 1
        if left:
            self._held[unit] = left
        else:
            del self._held[unit]
        self._grant()

    def _forget(self, unit: object, waiter: asyncio.Future[None]) -> None:
        queue = self._waiting.get(unit)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._waiting[unit]

    def _grant(self) -> None:
        while self._used < self.total and self._waiting:
            unit = min(self._waiting, key=self.held)
            queue = self._waiting[unit]
            waiter = queue.popleft()
            if not queue:
                del self._waiting[unit]
            if waiter.cancelled():
                continue
            self._take(unit)
            waiter.set_result(None)


_gates: dict[asyncio.AbstractEventLoop, FairGate] = {}


def service_gate() -> FairGate:
    """The gate of the running loop (one per loop: the process's `EVENT_LOOP`, or a test's)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = FairGate(SERVICE_COPIES)
    return gate
