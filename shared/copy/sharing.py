"""The deliveries copying at the same time, and each one's share of the units in flight.

Every copying delivery keeps one empty blob in the work container, its demand (how many units
it could run now) and when it last asked in the blob's metadata:

    copying/<run>  metadata: demand=N, asked=<unix seconds>, every=<its progress seconds>

A delivery writes its entry when its planning starts, with the demand `planning`
(`announce_planning`): it does not know its demand yet, so the others count it as one that
could use the whole budget. Deliveries started together then see each other at their first ask
and do not start more units between them than the budget (the first to finish planning would
otherwise split the budget with only those that had asked). Planning that refuses or fails
removes the entry (`withdraw`).

`measure_window` (the `measure_progress` activity) writes this delivery's blob, lists them all
(one listing, metadata included) and answers its share (`shared.core.copy_window.fair_shares`)
beside the bytes its units have moved. A delivery that no longer asks (it ended without
leaving: a host gone, an instance terminated) is left out once it has missed three of its
asks; its empty blob stays (a delivery removes only its own entry, never another's). Nothing
here is a secret; a blob is a few hundred bytes of metadata.
"""

from __future__ import annotations

import contextlib
import time

from azure.core.exceptions import AzureError, ResourceNotFoundError

from shared.copy.progress import bytes_moving
from shared.core.copy_window import TURN_ASKS, WindowInput, WindowMeasure, fair_shares
from shared.core.naming import check_run_id
from shared.storage.work import WorkStore

COPYING_PREFIX = "copying"
PLANNING = "planning"  # the demand of a delivery that is still planning
MISSED_ASKS = 3  # a delivery that has not asked for this many of its intervals is not copying


def copying_name(run_id: str) -> str:
    return f"{COPYING_PREFIX}/{check_run_id(run_id)}"


def announce_planning(work: WorkStore, run_id: str, every_seconds: int, *,
                      now: float | None = None) -> None:
    """Write this delivery's entry before it has a plan (its demand: `PLANNING`)."""
    now = time.time() if now is None else now
    try:
        _write_entry(work, run_id, PLANNING, now, every_seconds)
    except ResourceNotFoundError:  # the first delivery: planning creates the work container
        work.ensure_container()
        _write_entry(work, run_id, PLANNING, now, every_seconds)


def _write_entry(work: WorkStore, run_id: str, demand: str, now: float,
                 every_seconds: int) -> None:
    work.container.get_blob_client(copying_name(run_id)).upload_blob(
        b"", overwrite=True, metadata={"demand": demand, "asked": f"{now:.3f}",
                                       "every": str(every_seconds)})


def withdraw(work: WorkStore, run_id: str) -> None:
    """Remove this delivery's entry (it will not copy, or its copy is over)."""
    with contextlib.suppress(ResourceNotFoundError):
        work.container.delete_blob(copying_name(run_id))


def measure_window(work: WorkStore, asked: WindowInput, *, now: float | None = None
                   ) -> WindowMeasure:
    """The bytes `asked.units` have moved, and this delivery's share of `asked.budget` among
    the deliveries copying now (None when it is leaving, or the others could not be read)."""
    moving = bytes_moving(work, asked).bytes_by_unit if asked.units else {}
    if asked.leaving:
        withdraw(work, asked.run_id)
        return WindowMeasure(bytes_by_unit=moving)
    now = time.time() if now is None else now
    try:
        demands = _copying(work, asked, now)
    except AzureError:  # the share stays as it was; the bytes are still worth showing
        return WindowMeasure(bytes_by_unit=moving)
    # with more deliveries than units, deliveries of equal demand take turns: every TURN_ASKS
    # intervals, the same turn for every delivery asking within it
    turn = int(now // (TURN_ASKS * asked.every_seconds))
    share = fair_shares(demands, asked.budget, turn)[asked.run_id]
    return WindowMeasure(bytes_by_unit=moving, share=share, deliveries=len(demands))


def _copying(work: WorkStore, asked: WindowInput, now: float) -> dict[str, int]:
    """Write this delivery's demand; every copying delivery's demand, by run id (one still
    planning could use the whole budget)."""
    _write_entry(work, asked.run_id, str(max(1, asked.demand)), now, asked.every_seconds)
    demands: dict[str, int] = {}
    for blob in work.container.list_blobs(name_starts_with=COPYING_PREFIX + "/",
                                          include=["metadata"]):
        run_id = blob.name[len(COPYING_PREFIX) + 1:]
        metadata = blob.metadata or {}
        try:
            demand = (asked.budget if metadata["demand"] == PLANNING
                      else int(metadata["demand"]))
            asked_at = float(metadata["asked"])
            every = float(metadata.get("every") or asked.every_seconds)
        except (KeyError, ValueError):
            continue
        if run_id == asked.run_id or now - asked_at <= MISSED_ASKS * every:
            demands[run_id] = max(1, demand)
    demands[asked.run_id] = max(1, asked.demand)
    return demands
