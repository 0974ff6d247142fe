"""Activity: the delivery's plan without the delivery (`shared.dry_run`); nothing is written to
the destination."""

import azure.durable_functions as df

from shared.config import load_settings
from shared.dry_run import DryRunInput, DryRunReport, dry_run
from shared.telemetry import logged_activity

NAME = "plan_dry_run"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="dry_run_input")
@logged_activity("dry-run")
def plan_dry_run(dry_run_input: DryRunInput) -> DryRunReport:
    return dry_run(dry_run_input.request, dry_run_input.run_id, load_settings())
