"""The `resend_callback` orchestrator: POST a delivery's stored result to the website again
(an operator's re-send, after fixing the token or the URL), trying again later while the
website is down. Its custom status and output are what the delivery's status view shows under
`operatorActions.resend`."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators import steps
from orchestrators.steps import Steps
from shared.core.messages import ReportInput, ResendInput

NAME = "resend_callback"
bp = df.Blueprint()

REPORT_ROUNDS = 8


@bp.orchestration_trigger(context_name="context", orchestration=NAME)
def resend_callback(context: df.DurableOrchestrationContext) -> Steps[dict[str, Any]]:
    resend = ResendInput.from_json(context.get_input())
    status: dict[str, Any] = {"action": "resend", "phase": "reporting", "report": None}
    context.set_custom_status(status)
    status["report"] = yield from steps.report_rounds(
        context, ReportInput(request=resend.request, run_id=resend.run_id,
                             receiver=resend.options.receiver), REPORT_ROUNDS)
    status["phase"] = "done"
    context.set_custom_status(status)
    return status
