"""The `delivery` orchestrator replayed by the Durable SDK in this process, in virtual time
(`tests.orchestration.replay`): its order of steps, how it waits outages out, its sealed and
refused paths and its bounded history, in milliseconds each. The devhost tests beside these
run the same orchestrator under a host."""

from __future__ import annotations

from typing import Any

import pytest

import orchestrators.delivery as delivery_orchestrator
from shared.core.activities import Activity
from shared.core.copy_window import WindowMeasure
from shared.core.messages import (
    AccessOutcome,
    CleanupOutcome,
    FailuresRecorded,
    FoldersOutcome,
    NotifyOutcome,
)
from shared.core.models import (
    AccountKind,
    BlobLocation,
    ChunkResult,
    FileFailure,
    ManifestOutcome,
    Plan,
    ReportOutcome,
    SealedDelivery,
)
from shared.core.run import DeliveryRun
from tests.orchestration.replay import Run, Takes, orchestrator_function, replay
from tests.orchestration.runs import sample_request

DELIVERY = orchestrator_function(delivery_orchestrator.delivery)
WHERE = BlobLocation(account="labsmith", container="incoming", path="m")


def start(**fields: Any) -> dict[str, Any]:
    return DeliveryRun(request=sample_request(4321), run_id="replayed", **fields).to_json()


def unit_done(given: Any) -> ChunkResult:
    return ChunkResult(index=given.chunk.index, files=2, bytes=20, verified_files=2,
                       verified_bytes=20, failed_files=0)


def fakes(plan: Plan, **overrides: Any) -> dict[str, Any]:
    calls: dict[str, Any] = {
        Activity.PLAN_DELIVERY: lambda given: plan,
        Activity.COPY_CHUNK: lambda given: Takes(unit_done(given), 20),
        Activity.MEASURE_PROGRESS: lambda given: WindowMeasure(),
        Activity.RECORD_FAILURES: lambda given: FailuresRecorded(files=1),
        Activity.CREATE_FOLDERS: lambda given: FoldersOutcome(kind=AccountKind.FLAT, folders=1,
                                                              created=1),
        Activity.WRITE_MANIFEST: lambda given: ManifestOutcome(
            file_count=6, folder_count=1, total_size=60, manifest=WHERE, checksums=WHERE,
            callback=WHERE, callback_bytes=100, truncated=False),
        Activity.GRANT_ACCESS: lambda given: AccessOutcome(readers=0),
        Activity.SEAL_DELIVERY: lambda given: SealedDelivery(run_id=given.run_id),
        Activity.REPORT_TO_WEBSITE: lambda given: ReportOutcome(status="recorded",
                                                                http_status=200, attempts=1),
        Activity.DISCARD_PARTIAL_DELIVERY: lambda given: CleanupOutcome(removed=3),
        Activity.NOTIFY_OPERATORS: lambda given: NotifyOutcome(status="not-configured"),
    }
    calls.update({name.value if isinstance(name, Activity) else name: answer
                  for name, answer in overrides.items()})
    return {str(name): answer for name, answer in calls.items()}


def three_units() -> Plan:
    return Plan(run_id="replayed", files=6, bytes=60, chunk_count=3, unit_count=3)


def order(run: Run) -> list[str]:
    """The activities called, a unit's copies and measurements folded into one step."""
    steps: list[str] = []
    for _, name, _ in run.calls:
        if name == Activity.MEASURE_PROGRESS:
            continue
        if not steps or steps[-1] != name:
            steps.append(name)
    return steps


def test_a_delivery_copies_seals_before_it_reports_and_ends_delivered() -> None:
    run = replay(DELIVERY, start(parallel_chunks=2), fakes(three_units()))
    assert run.status == "Completed", run.error
    assert run.output["phase"] == "delivered" and run.output["files_verified"] == 6
    assert order(run) == ["plan_delivery", "copy_chunk", "create_folders", "write_manifest",
                          "grant_access", "seal_delivery", "report_to_website",
                          "notify_operators"]
    # two units at a time: the third starts as the first ends
    starts = [at for at, name, _ in run.calls if name == Activity.COPY_CHUNK]
    assert [at - starts[0] for at in starts] == [0.0, 0.0, 20.0]


def test_a_failing_unit_is_tried_again_with_backoff_and_the_delivery_ends_delivered() -> None:
    tries: list[int] = []

    def flaky(given: Any) -> Any:
        if given.chunk.index == 1 and len(tries) < 3:
            tries.append(1)
            return Takes(RuntimeError("HTTP 503 ServerBusy"), 2)
        return Takes(unit_done(given), 2)

    run = replay(DELIVERY, start(parallel_chunks=3), fakes(three_units(), copy_chunk=flaky))
    assert run.status == "Completed" and run.output["phase"] == "delivered", run.error
    unit_1 = [at for at, name, given in run.calls
              if name == Activity.COPY_CHUNK and given.chunk.index == 1]
    # each try takes 2 s; then 5, 10, 20 s of durable timer before the next
    assert [round(b - a) for a, b in zip(unit_1, unit_1[1:], strict=False)] == [7, 12, 22]
    assert any("Storage is failing" in str(status.get("message"))
               for _, status in run.statuses)
    assert run.output["message"] is None


def test_a_unit_failing_past_its_window_cleans_up_once_storage_answers_then_reports() -> None:
    cleanups: list[int] = []

    def cleanup(given: Any) -> Any:
        cleanups.append(1)
        if len(cleanups) < 3:
            return RuntimeError("HTTP 503 ServerBusy")
        return CleanupOutcome(removed=2)

    run = replay(DELIVERY, start(parallel_chunks=2, outage_wait_seconds=600), fakes(
        three_units(), copy_chunk=lambda given: Takes(RuntimeError("reset"), 30)
        if given.chunk.index == 0 else Takes(unit_done(given), 30),
        discard_partial_delivery=cleanup))
    assert run.status == "Failed"
    assert order(run)[-4:] == ["copy_chunk", "discard_partial_delivery", "report_to_website",
                               "notify_operators"]
    (report,) = run.called(Activity.REPORT_TO_WEBSITE)
    assert "still failed after" in report.error_message
    assert "Nothing of this attempt is left" in report.error_message
    unit_0 = [at for at, name, given in run.calls
              if name == Activity.COPY_CHUNK and given.chunk.index == 0]
    assert unit_0[-1] - unit_0[0] >= 600 - 60  # tried through the window
    assert len(cleanups) == 3


def test_a_refusal_fails_at_once_without_retries() -> None:
    refused = ChunkResult(index=0, files=0, bytes=0, verified_files=0, verified_bytes=0,
                          failed_files=0, refusal="chunk 0: no-permission (HTTP 403)")
    run = replay(DELIVERY, start(parallel_chunks=1), fakes(
        three_units(), copy_chunk=lambda given: refused))
    assert run.status == "Failed"
    assert len(run.called(Activity.COPY_CHUNK)) == 1
    (report,) = run.called(Activity.REPORT_TO_WEBSITE)
    assert report.error_message.startswith("chunk 0: no-permission (HTTP 403)")


def test_a_sealed_folder_is_verified_and_reported_again_with_nothing_written() -> None:
    sealed = Plan(run_id="replayed", files=6, bytes=60, chunk_count=3, unit_count=3,
                  sealed=SealedDelivery(run_id="earlier", files=6))
    run = replay(DELIVERY, start(), fakes(sealed))
    assert run.status == "Completed" and run.output["phase"] == "delivered", run.error
    assert order(run) == ["plan_delivery", "copy_chunk", "write_manifest", "report_to_website",
                          "notify_operators"]
    assert all(given.chunk.verify_only for given in run.called(Activity.COPY_CHUNK))
    (manifest,) = run.called(Activity.WRITE_MANIFEST)
    assert manifest.sealed
    assert run.output["message"].startswith("Already delivered on")


def test_a_sealed_folder_whose_source_changed_is_refused_and_nothing_is_removed() -> None:
    sealed = Plan(run_id="replayed", files=2, bytes=20, chunk_count=1, unit_count=1,
                  sealed=SealedDelivery(run_id="earlier", files=2))
    changed = ChunkResult(index=0, files=2, bytes=20, verified_files=1, verified_bytes=10,
                          failed_files=1, failures=[FileFailure(path="a.txt", reason="differs")])
    run = replay(DELIVERY, start(), fakes(sealed, copy_chunk=lambda given: changed))
    assert run.status == "Failed"
    assert order(run) == ["plan_delivery", "copy_chunk", "report_to_website",
                          "notify_operators"]
    assert "a.txt" in run.called(Activity.REPORT_TO_WEBSITE)[0].error_message


@pytest.mark.parametrize(("status", "phase"), [("recorded-after-error",
                                                "delivered-website-error"),
                                               ("stale", "stale")])
def test_the_websites_answer_decides_the_phase(status: str, phase: str) -> None:
    run = replay(DELIVERY, start(), fakes(three_units(), report_to_website=lambda given:
                                          ReportOutcome(status=status, http_status=400,
                                                        attempts=2)))
    shown = run.output if run.status == "Completed" else run.custom_status
    assert shown["phase"] == phase


def test_the_history_of_a_generation_is_bounded_whatever_the_units() -> None:
    small = replay(DELIVERY, start(parallel_chunks=4), fakes(Plan(
        run_id="replayed", files=100, bytes=100, chunk_count=100, unit_count=100)))
    large = replay(DELIVERY, start(parallel_chunks=4), fakes(Plan(
        run_id="replayed", files=300, bytes=300, chunk_count=300, unit_count=300)))
    assert small.status == large.status == "Completed"
    assert large.generations > small.generations > 1
    assert large.largest_history == small.largest_history
