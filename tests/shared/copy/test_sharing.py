"""Deliveries copying at once share the units in flight: what each writes to the work
container, and the share `measure_progress` answers (against Azurite)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.copy.progress import UnitProgress
from shared.copy.sharing import (
    COPYING_PREFIX,
    announce_planning,
    copying_name,
    measure_window,
    withdraw,
)
from shared.core.config import Settings
from shared.core.copy_window import WindowInput
from shared.core.models import ChunkRef
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore

NOW = 1_800_000_000.0


@pytest.fixture
def work(settings: Settings) -> Iterator[WorkStore]:
    with StorageClients(settings) as clients:
        store = WorkStore(clients)
        store.ensure_container()
        for name in listed(store):  # each test starts with none of this module's entries
            store.container.delete_blob(name)
        yield store


def ask(run_id: str, demand: int, budget: int = 8, **fields) -> WindowInput:
    return WindowInput(run_id=run_id, units=[], demand=demand, budget=budget, every_seconds=30,
                       **fields)


def listed(work: WorkStore) -> list[str]:
    """This module's entries (`run-*`): the work container is shared with the other tests,
    whose deliveries may have left theirs."""
    return sorted(blob.name for blob in work.container.list_blobs(
        name_starts_with=COPYING_PREFIX + "/run-"))


def test_each_delivery_gets_its_share_of_the_budget(work: WorkStore) -> None:
    alone = measure_window(work, ask("run-a", demand=8), now=NOW)
    assert (alone.share, alone.deliveries) == (8, 1)
    # a second delivery comes: each now has half (the first learns it at its next ask)
    second = measure_window(work, ask("run-b", demand=8), now=NOW + 1)
    assert (second.share, second.deliveries) == (4, 2)
    first = measure_window(work, ask("run-a", demand=8), now=NOW + 30)
    assert (first.share, first.deliveries) == (4, 2)
    # one that can use a single unit leaves the rest to the others
    tiny = measure_window(work, ask("run-c", demand=1), now=NOW + 31)
    assert (tiny.share, tiny.deliveries) == (1, 3)
    assert measure_window(work, ask("run-b", demand=8), now=NOW + 32).share in (3, 4)


def test_a_delivery_that_left_or_stopped_asking_is_not_counted(work: WorkStore) -> None:
    measure_window(work, ask("run-a", demand=8), now=NOW)
    measure_window(work, ask("run-b", demand=8), now=NOW)
    measure_window(work, ask("run-c", demand=8), now=NOW)
    # run-b gave its share back at its copy's end: its entry is gone
    left = measure_window(work, ask("run-b", demand=0, leaving=True), now=NOW + 10)
    assert left.share is None
    assert listed(work) == [copying_name("run-a"), copying_name("run-c")]
    # run-c has not asked for three of its intervals (its host died, it was terminated)
    late = measure_window(work, ask("run-a", demand=8), now=NOW + 3 * 30 + 1)
    assert (late.share, late.deliveries) == (8, 1)
    # its entry stays: a delivery removes only its own, never another's
    measure_window(work, ask("run-a", demand=8), now=NOW + 7 * 24 * 3600)
    assert listed(work) == [copying_name("run-a"), copying_name("run-c")]


def test_the_measurement_still_reads_the_units_progress(work: WorkStore) -> None:
    unit = ChunkRef(run_id="run-p", index=2)
    UnitProgress(work, unit, every_seconds=0).add(1234)
    measured = measure_window(work, WindowInput(run_id="run-p", units=[unit], demand=1,
                                                budget=8), now=NOW)
    assert measured.bytes_by_unit == {"2.0": 1234} and measured.share == 1


def test_a_delivery_still_planning_counts_as_one_that_could_use_the_whole_budget(
        work: WorkStore) -> None:
    """Deliveries started together: the first to finish planning sees the others at its first
    ask, and does not take the budget they will ask for."""
    announce_planning(work, "run-p1", every_seconds=30, now=NOW)
    announce_planning(work, "run-p2", every_seconds=30, now=NOW)
    first = measure_window(work, ask("run-a", demand=8), now=NOW + 1)
    assert (first.share, first.deliveries) == (2, 3)
    # one that can use a single unit still gets it; the planning ones keep room for theirs
    tiny = measure_window(work, ask("run-t", demand=1), now=NOW + 2)
    assert (tiny.share, tiny.deliveries) == (1, 4)
    # planning ends: run-p1 was refused (its entry taken back), run-p2 asks with its demand
    withdraw(work, "run-p1")
    measure_window(work, ask("run-p2", demand=1), now=NOW + 3)
    again = measure_window(work, ask("run-a", demand=8), now=NOW + 30)
    assert (again.share, again.deliveries) == (6, 3)
    assert listed(work) == [copying_name(run) for run in ("run-a", "run-p2", "run-t")]


def test_more_deliveries_planning_than_the_budget_keep_the_first_asker_to_one_unit(
        work: WorkStore) -> None:
    for index in range(9):
        announce_planning(work, f"run-q{index}", every_seconds=30, now=NOW)
    first = measure_window(work, ask("run-a", demand=8), now=NOW + 1)
    assert (first.share, first.deliveries) == (1, 10)
    # a planning entry that no longer asks lapses as any other (its host died while planning)
    late = measure_window(work, ask("run-a", demand=8), now=NOW + 3 * 30 + 2)
    assert (late.share, late.deliveries) == (8, 1)
