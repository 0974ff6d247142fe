"""Fake activities under the real NAMEs, for the apps that run the real `delivery` orchestrator
in devhost: the end of a failed delivery (record failures, discard, report), each writing what
it was asked to do as one JSON line to an events file the test reads."""

import json
import time
from pathlib import Path

import azure.durable_functions as df

from activities import (
    discard_partial_delivery,
    notify_operators,
    record_failures,
    report_to_website,
    write_manifest,
)
from shared.core.messages import (
    CleanupOutcome,
    FailuresInput,
    FailuresRecorded,
    ManifestInput,
    NotifyInput,
    PlanInput,
    ReportInput,
)
from shared.core.models import ReportOutcome


def record(events: Path, kind: str, **fields) -> None:
    with events.open("a") as lines:
        lines.write(json.dumps({"kind": kind, "at": time.time(), **fields}) + "\n")


def failed_delivery_end(events: Path) -> df.Blueprint:
    """The activities a failed delivery calls after copying; writing a manifest is an error."""
    bp = df.Blueprint()

    @bp.function_name(record_failures.NAME)
    @bp.activity_trigger(input_name="failures_input")
    def fake_record_failures(failures_input: FailuresInput) -> FailuresRecorded:
        record(events, "failures-recorded")
        return FailuresRecorded(files=0)

    @bp.function_name(discard_partial_delivery.NAME)
    @bp.activity_trigger(input_name="discard_input")
    def fake_discard(discard_input: PlanInput) -> CleanupOutcome:
        record(events, "discarded")
        return CleanupOutcome(removed=2)

    @bp.function_name(write_manifest.NAME)
    @bp.activity_trigger(input_name="manifest_input")
    def fake_manifest(manifest_input: ManifestInput) -> None:
        raise AssertionError("a failed delivery writes no manifest")

    @bp.function_name(report_to_website.NAME)
    @bp.activity_trigger(input_name="report_input")
    def fake_report(report_input: ReportInput) -> ReportOutcome:
        record(events, "reported", error_message=report_input.error_message)
        return ReportOutcome(status="recorded", http_status=200, attempts=1)

    @bp.function_name(notify_operators.NAME)
    @bp.activity_trigger(input_name="notify_input")
    def fake_notify(notify_input: NotifyInput) -> None:
        record(events, "notified", phase=notify_input.progress.get("phase"))
        raise RuntimeError("the e-mail service is down")  # which must change nothing

    return bp
