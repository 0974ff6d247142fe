"""The `dry_run` orchestrator: one plan-only activity for a folder too large to plan while the
caller waits (`endpoints.start_dry_run`). Its output is the `DryRunReport`: counts, the
destination's outlook, where the file list went; no SAS, key or token, no per-file list, so the
history stays two activity events long whatever the folder's size."""

from __future__ import annotations

import azure.durable_functions as df

from activities import plan_dry_run
from shared.plan.dry_run import DryRunInput

NAME = "dry_run"
bp = df.Blueprint()

ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000,
                                 max_number_of_attempts=5)


@bp.orchestration_trigger(context_name="context", orchestration=NAME)
def dry_run(context: df.DurableOrchestrationContext):
    run = DryRunInput.from_json(context.get_input())
    context.set_custom_status({"phase": "planning", "run_id": run.run_id})
    report = yield context.call_activity_with_retry(plan_dry_run.NAME, ACTIVITY_RETRY, run)
    context.set_custom_status({"phase": "planned", "run_id": run.run_id})
    return report.to_json()
