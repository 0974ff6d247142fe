"""Activity: the delivery's plan without the delivery (`shared.plan.dry_run`); nothing is written to
the destination."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import DryRunInput, DryRunReport
from shared.operations.telemetry import logged_activity
from shared.plan.dry_run import dry_run

NAME = Activity.PLAN_DRY_RUN.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="dry_run_input")
@logged_activity("dry-run")
def plan_dry_run(dry_run_input: DryRunInput) -> DryRunReport:
    return dry_run(dry_run_input.request, dry_run_input.run_id, load_settings(),
                   options=dry_run_input.options)
