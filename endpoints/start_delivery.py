"""POST /api/deliveries: the website's start call. Checks everything, then starts once.

A new attempt of a delivery (the website's "restart transfer": same delivery id, new transfer
UUID) first stops the earlier attempts of that delivery still running; its plan then adopts the
folder they claimed. The 202 answer carries the delivery's id and its own status URL
(`GET /api/deliveries/{id}`, which needs a function key of its own), never the Durable
management URLs or the system key.
"""

import json

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from endpoints import delivery_status
from endpoints.answers import json_answer, read_request
from endpoints.instances import STILL_RUNNING, start_once
from orchestrators import delivery
from shared.api.start_request import parse_start_request
from shared.core.instances import (
    attempts_prefix,
    differing_fields,
    instance_id_for,
    is_earlier_attempt,
    is_same_delivery,
)
from shared.core.run import DeliveryRun

NAME = "start_delivery"
ROUTE = "deliveries"
RETRY_AFTER_SECONDS = 10
bp = df.Blueprint()


def _input_of(status: DurableOrchestrationStatus) -> object:
    """The orchestration input as JSON (the status API may give it as a JSON string)."""
    value = status.input_
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_delivery(req: func.HttpRequest,
                         client: df.DurableOrchestrationClient) -> func.HttpResponse:
    read = read_request(lambda settings: parse_start_request(
        req.headers.get("content-type"), req.get_body(), settings.access))
    if isinstance(read, func.HttpResponse):
        return read
    settings, request = read

    instance_id = instance_id_for(request)
    existing = await client.get_status(instance_id, show_input=True)
    if existing:
        differing = differing_fields(request, _input_of(existing))
        if differing:
            return json_answer({
                "error": f"Delivery {request.delivery_id} with transfer UUID "
                         f"{request.transfer_uuid} was started with another request; this one "
                         f"differs in {', '.join(differing)}. Nothing was started: a new request "
                         "needs a new transfer UUID.",
                "errors": [{"field": field, "message": "differs from the request this delivery "
                            "id and transfer UUID were first started with"}
                           for field in differing]}, 409)
    else:
        earlier = await client.get_status_by(instance_id_prefix=attempts_prefix(request),
                                             runtime_status=STILL_RUNNING)
        for attempt in earlier:
            if not attempt.instance_id or not is_earlier_attempt(request, attempt.instance_id):
                continue
            shown = await client.get_status(attempt.instance_id, show_input=True)
            if shown and is_same_delivery(request, _input_of(shown)):
                await client.terminate(attempt.instance_id,
                                       f"superseded by the website's attempt {instance_id}")
        run = DeliveryRun(request=request, run_id=instance_id,
                          parallel_chunks=settings.parallel_chunks,
                          progress_seconds=settings.progress_seconds,
                          outage_wait_seconds=settings.outage_wait_minutes * 60)
        await start_once(client, delivery.NAME, instance_id, run.to_json())
    status_url = delivery_status.status_url(settings, instance_id)
    return json_answer({"id": instance_id, "deliveryStatusUri": status_url}, 202,
                 headers={"Location": status_url, "Retry-After": str(RETRY_AFTER_SECONDS)})
