"""Activity: after a failed run, remove its partial copy from the destination folder."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import CleanupOutcome, PlanInput
from shared.destination.cleanup import discard_partial_delivery as discard
from shared.operations.telemetry import logged_activity

NAME = Activity.DISCARD_PARTIAL_DELIVERY.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="discard_input")
@logged_activity("discarding")
def discard_partial_delivery(discard_input: PlanInput) -> CleanupOutcome:
    return discard(discard_input.request, discard_input.run_id, load_settings(),
                   policy=discard_input.options.conflict_policy)
