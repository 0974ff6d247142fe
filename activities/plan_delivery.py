"""Activity: list the source folder, check the destination, write the plan as chunk pages."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import PlanInput
from shared.core.models import Plan
from shared.operations.telemetry import logged_activity
from shared.plan.planner import build_plan

NAME = Activity.PLAN_DELIVERY.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="plan_input")
@logged_activity("planning")
def plan_delivery(plan_input: PlanInput) -> Plan:
    return build_plan(plan_input.request, plan_input.run_id, load_settings(),
                      policy=plan_input.options.conflict_policy)
