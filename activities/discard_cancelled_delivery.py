"""Activity: remove a cancelled run's partial copy, keeping its claim on the folder (its copy
activities may still be finishing; the final sweep removes the claim too)."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import CancelInput, CleanupOutcome
from shared.destination.cleanup import discard_partial_delivery as discard
from shared.operations.telemetry import logged_activity

NAME = Activity.DISCARD_CANCELLED_DELIVERY.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="cancel_input")
@logged_activity("cancelling")
def discard_cancelled_delivery(cancel_input: CancelInput) -> CleanupOutcome:
    return discard(cancel_input.request, cancel_input.run_id, load_settings(), keep_claim=True,
                   policy=cancel_input.options.conflict_policy)
