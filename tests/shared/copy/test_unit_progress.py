"""Progress between unit ends: what the units in flight write, and how the status reads it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from shared.copy.progress import LiveBytes, UnitProgress, bytes_copied_now
from shared.core.config import Settings
from shared.core.messages import unit_key
from shared.core.models import ChunkRef, ChunkResult, FileFailure, Plan
from shared.core.request import DeliveryRequest
from shared.core.run import DeliveryRun
from shared.core.status import STATUS_BUDGET_CHARS
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore

REQUEST = DeliveryRequest.model_validate({
    "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
    "Source_TopLevelFolder": "jdoe/run", "Sink_StorageAccount": "labsmith",
    "Sink_FileSystem": "incoming", "Sink_TopLevelFolder": "jdoe/run",
    "Webhook_DeliveryID": 3, "Webhook_TransferUUID": "0f4b3c0e-7d55-4b8e-9a55-2f1f0d5c9a10"})


def running(units: int) -> DeliveryRun:
    run = DeliveryRun(request=REQUEST, run_id="progress-run", parallel_chunks=units,
                      plan=Plan(run_id="progress-run", files=units, bytes=units * 1000,
                                chunk_count=units))
    run.in_flight = [unit_key(ChunkRef(run_id="progress-run", index=i)) for i in range(units)]
    return run


def test_a_measurement_counts_only_the_units_still_in_flight():
    run = running(2)
    run.add_result(ChunkRef(run_id="progress-run", index=0),
                   ChunkResult(index=0, files=1, bytes=1000, verified_files=1,
                               verified_bytes=1000, failed_files=0))
    run.in_flight = ["1.0"]
    run.show_moving({"0.0": 900, "1.0": 400})  # measured before unit 0 ended
    status = run.progress()
    assert status["bytes_copied"] == 1000 + 400
    assert (status["bytes_in_flight"], status["units_in_flight"]) == (400, ["1.0"])


def test_a_wide_window_drops_the_unit_list_before_any_failure():
    run = running(256)
    run.in_flight = [f"{index:06d}.{index:05d}" for index in range(256)]
    run.add_result(ChunkRef(run_id="progress-run", index=0), ChunkResult(
        index=0, files=1, bytes=0, verified_files=0, verified_bytes=0, failed_files=1,
        failures=[FileFailure(path="lane-1/" * 40, reason="the source changed " * 20)]))
    status = run.progress()
    assert len(json.dumps(status)) <= STATUS_BUDGET_CHARS
    assert status["units_in_flight"] is None and len(status["failures"]) == 1


@pytest.fixture
def work(settings: Settings) -> Iterator[WorkStore]:
    """The work container, where running units write their progress."""
    with StorageClients(settings) as clients:
        store = WorkStore(clients)
        store.ensure_container()
        yield store


def test_the_status_endpoint_reads_the_units_progress_live(work):
    run = running(3)
    first = UnitProgress(work, ChunkRef(run_id="progress-run", index=0), every_seconds=0)
    first.add(700)
    # unit 1 is at its segment 2 now; what it wrote at segment 1 is not of this segment
    stale = UnitProgress(work, ChunkRef(run_id="progress-run", index=1, segment=1),
                         every_seconds=0)
    stale.add(5000)
    run.in_flight = ["0.0", "1.2", "2.0"]  # unit 2 has written nothing yet
    run.show_moving({"0.0": 100})  # the orchestrator's last measurement
    status = run.progress()
    assert status["bytes_copied"] == 100
    assert bytes_copied_now(work, "progress-run", status) == 700
    first.add(50)
    assert bytes_copied_now(work, "progress-run", status) == 750
    assert bytes_copied_now(work, "progress-run", {**status, "units_in_flight": []}) is None


def test_live_reads_are_spaced_out_whatever_the_status_age(work):
    run = running(1)
    unit = UnitProgress(work, ChunkRef(run_id="progress-run", index=0), every_seconds=0)
    unit.add(300)
    status = run.progress()
    live = LiveBytes(every_seconds=3600)
    # read although the instance was updated a moment ago: a timer firing or a measurement
    # waiting for an activity slot updates it without moving the status's figure
    assert live.bytes_copied(work, "progress-run", status, 30) == 300
    unit.add(200)
    # read again only after `every_seconds`: the remembered figure, never below the status's
    assert live.bytes_copied(work, "progress-run", status, 30) == 300
    assert live.bytes_copied(work, "progress-run", {**status, "bytes_copied": 400}, 30) == 400
    # never spaced wider than a progress tick
    assert live.bytes_copied(work, "progress-run", status, 0) == 500
    assert LiveBytes(every_seconds=0).bytes_copied(work, "progress-run", status, 30) == 500
