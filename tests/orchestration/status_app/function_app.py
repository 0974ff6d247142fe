"""The real `delivery` orchestrator with fake activities: one chunk whose every file failed
with a long path and reason, so that an unbounded custom status would be far over 16 KB.
With STATUS_BUDGET=off the status's bounds are lifted, to show what Azure does then.
"""

import json
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

import orchestrators.delivery as delivery_orchestrator
import shared.progress as progress
from activities import (
    copy_chunk,
    discard_partial_delivery,
    plan_delivery,
    record_failures,
    report_to_website,
    write_manifest,
)
from shared.models import ChunkResult, FileFailure, Plan, ReportOutcome
from shared.progress import ChunkInput, FailuresInput, PlanInput, ReportInput

delivery_orchestrator.ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=50,
                                                       max_number_of_attempts=1)
if os.environ.get("STATUS_BUDGET") == "off":
    progress.FAILURES_SHOWN = progress.FAILURE_PATH_CHARS = progress.FAILURE_REASON_CHARS = \
        progress.MESSAGE_CHARS = progress.STATUS_BUDGET_CHARS = 10**9
EVENTS = Path(os.environ["STATUS_EVENTS"])
FAILED_FILES = 20

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(delivery_orchestrator.bp)


def record(kind: str, **fields) -> None:
    with EVENTS.open("a") as events:
        events.write(json.dumps({"kind": kind, **fields}) + "\n")


@app.function_name(plan_delivery.NAME)
@app.activity_trigger(input_name="plan_input")
def fake_plan(plan_input: PlanInput) -> Plan:
    return Plan(run_id=plan_input.run_id, files=FAILED_FILES, bytes=FAILED_FILES, chunk_count=1)


@app.function_name(copy_chunk.NAME)
@app.activity_trigger(input_name="chunk_input")
def fake_copy_chunk(chunk_input: ChunkInput) -> ChunkResult:
    failures = [FileFailure(path=f"lane-{n}/" + "deep-folder/" * 80 + f"reads-{n}.fastq.gz",
                            reason="the source changed after planning " * 12)
                for n in range(FAILED_FILES)]
    return ChunkResult(index=0, files=FAILED_FILES, bytes=FAILED_FILES, verified_files=0,
                       verified_bytes=0, failed_files=FAILED_FILES, failures=failures)


@app.function_name(record_failures.NAME)
@app.activity_trigger(input_name="failures_input")
def fake_record_failures(failures_input: FailuresInput) -> int:
    return FAILED_FILES


@app.function_name(discard_partial_delivery.NAME)
@app.activity_trigger(input_name="discard_input")
def fake_discard(discard_input: PlanInput) -> int:
    return 0


@app.function_name(write_manifest.NAME)
@app.activity_trigger(input_name="manifest_input")
def fake_manifest(manifest_input: PlanInput) -> None:
    raise AssertionError("a failed delivery writes no manifest")


@app.function_name(report_to_website.NAME)
@app.activity_trigger(input_name="report_input")
def fake_report(report_input: ReportInput) -> ReportOutcome:
    record("reported", error_message=report_input.error_message)
    return ReportOutcome(status="recorded", http_status=200, attempts=1)
