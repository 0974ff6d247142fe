"""Activity: list the source folder, check the destination, write the plan as chunk pages."""

import azure.durable_functions as df

from shared.config import load_settings
from shared.models import Plan
from shared.planner import build_plan
from shared.progress import PlanInput
from shared.telemetry import logged_activity

NAME = "plan_delivery"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="plan_input")
@logged_activity("planning")
def plan_delivery(plan_input: PlanInput) -> Plan:
    return build_plan(plan_input.request, plan_input.run_id, load_settings())
