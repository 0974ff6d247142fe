"""The real `cancel_delivery` orchestrator with fake activities under the real NAMEs and a
grace of one second instead of an hour, to test the order of its steps through devhost."""

import os
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

import orchestrators.cancel_delivery as cancel_orchestrator
from activities import (
    discard_cancelled_delivery,
    discard_partial_delivery,
    notify_operators,
    report_to_website,
)
from shared.core.messages import CancelInput, CleanupOutcome, NotifyInput, PlanInput, ReportInput
from shared.core.models import ReportOutcome
from tests.orchestration.fake_activities import record as record_event

cancel_orchestrator.LATE_COPIES_GRACE = timedelta(seconds=1)
EVENTS = Path(os.environ["CANCEL_EVENTS"])

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(cancel_orchestrator.bp)


@app.function_name(discard_cancelled_delivery.NAME)
@app.activity_trigger(input_name="cancel_input")
def fake_discard_keeping_the_claim(cancel_input: CancelInput) -> CleanupOutcome:
    record_event(EVENTS, "discarded-keeping-claim", run_id=cancel_input.run_id)
    return CleanupOutcome(removed=3, claim_kept=True)


@app.function_name(discard_partial_delivery.NAME)
@app.activity_trigger(input_name="discard_input")
def fake_final_discard(discard_input: PlanInput) -> CleanupOutcome:
    record_event(EVENTS, "discarded-all", run_id=discard_input.run_id)
    return CleanupOutcome(removed=2)


@app.function_name(report_to_website.NAME)
@app.activity_trigger(input_name="report_input")
def fake_report(report_input: ReportInput) -> ReportOutcome:
    record_event(EVENTS, "reported", error_message=report_input.error_message)
    return ReportOutcome(status="recorded", http_status=200, attempts=1)


@app.function_name(notify_operators.NAME)
@app.activity_trigger(input_name="notify_input")
def fake_notify(notify_input: NotifyInput) -> None:
    record_event(EVENTS, "notified", phase=notify_input.progress.get("phase"))
