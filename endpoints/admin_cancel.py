"""POST /api/deliveries/{id}/cancel?reason=... (admin key): stop a delivery that is still
planning or copying (409 otherwise): terminate its orchestration, then the `cancel_delivery`
orchestration `cancel-<id>` removes its partial copy and tells the website once. 202 with the
action's id and the delivery's status URL, where the action shows under
`operatorActions.cancel`.
"""

import azure.durable_functions as df
import azure.functions as func

from endpoints.admin_common import (
    RUNNING,
    accepted,
    find_delivery,
    options_in,
    refused,
    request_in,
)
from orchestrators import cancel_delivery
from shared.core.messages import CancelInput
from shared.operations.admin import CANCELLABLE_PHASES, action_instance_id
from shared.operations.telemetry import log_event

NAME = "cancel_delivery_request"
REASON_CHARS = 300
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route="deliveries/{id}/cancel", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def cancel_delivery_request(req: func.HttpRequest,
                                  client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params.get("id", "")
    status, refusal = await find_delivery(client, instance_id)
    if refusal is not None:
        return refusal
    progress = status.custom_status if isinstance(status.custom_status, dict) else {}
    if status.runtime_status.value not in RUNNING:
        return refused(409, f"Delivery '{instance_id}' has already ended "
                             f"({status.runtime_status.value}); there is nothing to cancel.")
    if progress.get("phase") not in CANCELLABLE_PHASES:
        return refused(409, f"Delivery '{instance_id}' has copied and verified everything and "
                             f"is {progress.get('phase')}; it can no longer be cancelled.")
    request = request_in(status)
    if request is None:
        return refused(409, f"Delivery '{instance_id}' has no request to cancel.")
    reason = " ".join(req.params.get("reason", "").split())[:REASON_CHARS]
    said = f": {reason}" if reason else ""
    await client.terminate(instance_id, f"cancelled by an operator{said}")
    action_id = action_instance_id("cancel", instance_id)
    await client.start_new(cancel_delivery.NAME, action_id, CancelInput(
        request=request, run_id=instance_id, progress=progress, reason=reason,
        options=options_in(status)).to_json())
    log_event("admin.cancel", instance_id=instance_id, action_id=action_id)
    return accepted(instance_id, action_id)
