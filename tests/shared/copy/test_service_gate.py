"""The gate of service-checked copies in a process: shared fairly between units (plain
asyncio)."""

from __future__ import annotations

import asyncio

from shared.copy.gate import FairGate


def test_a_freed_permit_goes_to_the_waiting_unit_that_holds_the_fewest() -> None:
    async def scenario() -> list[str]:
        gate, order = FairGate(2), []
        release = {name: asyncio.Event() for name in ("a1", "a2", "a3", "b1")}

        async def copy(unit: str, name: str) -> None:
            async with gate.permit(unit):
                order.append(name)
                await release[name].wait()

        tasks = [asyncio.create_task(copy("a", name)) for name in ("a1", "a2", "a3")]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(copy("b", "b1")))  # a small unit comes later
        await asyncio.sleep(0)
        assert order == ["a1", "a2"] and gate.held("a") == 2
        release["a1"].set()
        await asyncio.sleep(0.01)
        # b1 waited behind a3, but holds none: it goes first
        assert order == ["a1", "a2", "b1"]
        for event in release.values():
            event.set()
        await asyncio.gather(*tasks)
        assert gate.held("a") == gate.held("b") == 0
        return order

    assert asyncio.run(scenario()) == ["a1", "a2", "b1", "a3"]


def test_a_cancelled_waiter_leaves_no_permit_behind() -> None:
    async def scenario() -> None:
        gate = FairGate(1)
        hold = asyncio.Event()

        async def copy(unit: str) -> None:
            async with gate.permit(unit):
                await hold.wait()

        first = asyncio.create_task(copy("a"))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(copy("b"))
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        hold.set()
        await first
        async with gate.permit("c"):  # the one permit is free again
            assert gate.held("c") == 1

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
