"""POST /api/deliveries/{id}/resend (admin key): POST a delivery's stored result (its callback
body with the manifest) to the website again, in the `resend_callback` orchestration
`resend-<id>`: for a delivery that has ended and whose manifest was written (409 otherwise, or
while a resend still runs). 202 with the action's id and the delivery's status URL, where the
action shows under `operatorActions.resend`.
"""

import asyncio

import azure.durable_functions as df
import azure.functions as func

from endpoints.admin_common import (
    ENDED,
    RUNNING,
    accepted,
    callback_stored,
    find_delivery,
    options_in,
    refused,
    request_in,
)
from orchestrators import resend_callback
from shared.core.messages import ResendInput
from shared.operations.admin import action_instance_id
from shared.operations.telemetry import log_event

NAME = "resend_delivery"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route="deliveries/{id}/resend", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def resend_delivery(req: func.HttpRequest,
                          client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params.get("id", "")
    status, refusal = await find_delivery(client, instance_id)
    if refusal is not None:
        return refusal
    if status.runtime_status.value not in ENDED:
        return refused(409, f"Delivery '{instance_id}' is still running; it reports itself.")
    request = request_in(status)
    if request is None or not await asyncio.to_thread(callback_stored, instance_id):
        return refused(409, f"Delivery '{instance_id}' has no stored result to send: it ended "
                             "before its manifest was written.")
    action_id = action_instance_id("resend", instance_id)
    earlier = await client.get_status(action_id)
    if earlier and earlier.runtime_status and earlier.runtime_status.value in RUNNING:
        return refused(409, f"A resend of '{instance_id}' is still running.")
    await client.start_new(resend_callback.NAME, action_id,
                           ResendInput(request=request, run_id=instance_id,
                                       options=options_in(status)).to_json())
    log_event("admin.resend", instance_id=instance_id, action_id=action_id)
    return accepted(instance_id, action_id)
