"""The `dry_run` orchestrator: one plan-only activity for a folder too large to plan while the
caller waits (`endpoints.start_dry_run`). Its output is the `DryRunReport`: counts, the
destination's outlook, where the file list went; no SAS, key or token, no per-file list, so the
history stays two activity events long whatever the folder's size."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.steps import Steps, wait_out
from shared.core.activities import Activity
from shared.core.config import DEFAULT_OUTAGE_WAIT_MINUTES
from shared.core.messages import DryRunInput, DryRunReport
from shared.core.outage import OutageRetry

NAME = "dry_run"
bp = df.Blueprint()

# a storage outage is waited out as a delivery's plan waits it out
PLAN_RETRY = OutageRetry.minutes(DEFAULT_OUTAGE_WAIT_MINUTES)


@bp.orchestration_trigger(context_name="context", orchestration=NAME)
def dry_run(context: df.DurableOrchestrationContext) -> Steps[dict[str, Any]]:
    run = DryRunInput.from_json(context.get_input())
    context.set_custom_status({"phase": "planning", "run_id": run.run_id})
    report = yield from wait_out(context, Activity.PLAN_DRY_RUN, run, DryRunReport, PLAN_RETRY)
    context.set_custom_status({"phase": "planned", "run_id": run.run_id})
    return report.to_json()
