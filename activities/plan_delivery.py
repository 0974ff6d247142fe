"""Activity: list the source folder, check the destination, write the plan as chunk pages (the
delivery counted among those copying from here on)."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import PlanInput
from shared.core.models import Plan
from shared.operations.telemetry import logged_activity
from shared.plan.planner import plan_among_copying

NAME = Activity.PLAN_DELIVERY.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="plan_input")
@logged_activity("planning")
def plan_delivery(plan_input: PlanInput) -> Plan:
    return plan_among_copying(plan_input.request, plan_input.run_id, load_settings(),
                              policy=plan_input.options.conflict_policy)
