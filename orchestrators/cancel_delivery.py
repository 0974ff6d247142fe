"""The `cancel_delivery` orchestrator: what follows an operator's cancel of a delivery.

The admin endpoint has already terminated the delivery's orchestration (no new work is
scheduled; an activity already running still finishes). Then, here: remove the partial copy
but keep the folder's claim; tell the website once that the delivery was cancelled; mail the
operators; wait until any copy activity of the terminated run must have ended (the host's
`functionTimeout`, one hour, plus a margin); remove whatever such an activity left, claim
included, unless the website's retry has adopted the folder meanwhile. Its custom status is
what the delivery's status view shows under `operatorActions.cancel`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators import steps
from orchestrators.steps import Steps, wait_out
from shared.core.activities import Activity
from shared.core.config import DEFAULT_OUTAGE_WAIT_MINUTES
from shared.core.messages import (
    CancelInput,
    CleanupOutcome,
    NotifyInput,
    PlanInput,
    ReportInput,
    cancel_message,
)
from shared.core.outage import OutageRetry

NAME = "cancel_delivery"
bp = df.Blueprint()

# the clean-up of a cancelled attempt waits a storage outage out as a failed attempt's does
CLEANUP_RETRY = OutageRetry.minutes(DEFAULT_OUTAGE_WAIT_MINUTES).for_cleanup()
REPORT_ROUNDS = 8  # about four hours of waiting for a website that is down
# host.json functionTimeout (one hour) and a margin: no activity of the run outlives it
LATE_COPIES_GRACE = timedelta(minutes=65)


@bp.orchestration_trigger(context_name="context", orchestration=NAME)
def cancel_delivery(context: df.DurableOrchestrationContext) -> Steps[dict[str, Any]]:
    cancel = CancelInput.from_json(context.get_input())
    message = cancel_message(cancel.reason)
    status: dict[str, Any] = {"action": "cancel", "phase": "removing-partial-copy",
                              "reason": cancel.reason, "removed": 0, "report": None}
    context.set_custom_status(status)
    removed = yield from wait_out(context, Activity.DISCARD_CANCELLED_DELIVERY, cancel,
                                  CleanupOutcome, CLEANUP_RETRY)
    status["removed"] = removed.removed

    status["phase"] = "reporting"
    context.set_custom_status(status)
    status["report"] = yield from steps.report_rounds(
        context, ReportInput(request=cancel.request, run_id=cancel.run_id,
                             error_message=message, receiver=cancel.options.receiver),
        REPORT_ROUNDS)
    progress = {**cancel.progress, "phase": "cancelled", "message": message}
    yield from steps.notify(context, NotifyInput(
        request=cancel.request, run_id=cancel.run_id, progress=progress))

    status["phase"] = "waiting-for-late-copies"
    context.set_custom_status(status)
    yield context.create_timer(context.current_utc_datetime + LATE_COPIES_GRACE)
    swept = yield from wait_out(context, Activity.DISCARD_PARTIAL_DELIVERY,
                                PlanInput(request=cancel.request, run_id=cancel.run_id,
                                          options=cancel.options),
                                CleanupOutcome, CLEANUP_RETRY)
    status["removed"] += swept.removed
    status["phase"] = "done"
    context.set_custom_status(status)
    return status
