"""The move step of the `delivery` orchestrator, replayed by the Durable SDK in virtual time:
it runs only after an acknowledged report, page by page until done, and what it cannot remove
never makes a delivered delivery fail."""

from __future__ import annotations

from typing import Any

from shared.core.activities import Activity
from shared.core.messages import SourceMoved
from shared.core.models import FileFailure, Plan, ReportOutcome
from shared.core.options import DeliveryOptions
from tests.orchestration.replay import replay
from tests.orchestration.test_delivery_replay import DELIVERY, fakes, order, start

MOVING = DeliveryOptions(move_source=True)


def nine_pages() -> Plan:
    return Plan(run_id="replayed", files=18, bytes=180, chunk_count=9, unit_count=9)


def moved_pages(given: Any) -> SourceMoved:
    last = min(given.first_page + 4, given.chunk_count)
    return SourceMoved(files_removed=2 * (last - given.first_page),
                       bytes_removed=20 * (last - given.first_page),
                       next_page=last if last < given.chunk_count else None,
                       folders_removed=1 if last == given.chunk_count else 0)


def test_the_source_is_moved_after_the_acknowledged_report_in_bounded_calls() -> None:
    run = replay(DELIVERY, start(parallel_chunks=3, options=MOVING),
                 fakes(nine_pages(), move_source=moved_pages))
    assert run.status == "Completed", run.error
    assert order(run)[-3:] == ["report_to_website", "move_source", "notify_operators"]
    assert [given.first_page for given in run.called(Activity.MOVE_SOURCE)] == [0, 4, 8]
    assert run.output["phase"] == "delivered"
    assert run.output["source_removed"] == {"files": 18, "bytes": 180, "files_kept": 0,
                                           "files_left": 0}
    assert "The source folder was removed (18 files, 1 folder(s))" in run.output["message"]


def test_nothing_is_moved_without_the_option_or_an_acknowledgement() -> None:
    for options, report in [
        (DeliveryOptions(), ReportOutcome(status="recorded", http_status=200, attempts=1)),
        (MOVING, ReportOutcome(status="stale", http_status=400, attempts=1)),
        (MOVING, ReportOutcome(status="refused", http_status=401, attempts=1)),
    ]:
        run = replay(DELIVERY, start(options=options), fakes(
            nine_pages(), move_source=moved_pages, report_to_website=lambda given, r=report: r))
        assert run.called(Activity.MOVE_SOURCE) == [], (options, report.status)


def test_a_kept_file_or_a_failing_move_leaves_the_delivery_delivered() -> None:
    def keeps_one(given: Any) -> SourceMoved:
        moved = moved_pages(given)
        if given.first_page == 0:
            return moved.model_copy(update={"files_removed": moved.files_removed - 1,
                                            "files_kept": 1, "kept": [FileFailure(
                                                path="a.txt", reason="changed")]})
        return moved

    kept = replay(DELIVERY, start(options=MOVING), fakes(nine_pages(), move_source=keeps_one))
    assert kept.status == "Completed"
    assert kept.output["phase"] == "delivered-source-kept"
    assert "a.txt" in kept.output["message"]

    added = replay(DELIVERY, start(options=MOVING), fakes(
        nine_pages(), move_source=lambda given: moved_pages(given).model_copy(
            update={"files_left": 1, "left": ["late.txt"]}
            if given.first_page == 8 else {})))
    assert added.output["phase"] == "delivered-source-kept"
    assert "still holds 1 file(s): late.txt" in added.output["message"]

    failing = replay(DELIVERY, start(options=MOVING, outage_wait_seconds=60), fakes(
        nine_pages(), move_source=lambda given: RuntimeError("HTTP 403 AuthorizationFailure")))
    assert failing.status == "Completed", failing.error
    assert failing.output["phase"] == "delivered-source-kept"
    assert "could not all be removed" in failing.output["message"]
