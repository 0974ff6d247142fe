"""POST /api/deliveries: the website's start call. Checks everything, then starts once.

A new attempt of a delivery (the website's "restart transfer": same delivery id, new transfer
UUID) first stops the earlier attempts of that delivery still running; its plan then adopts the
folder they claimed. The website's calls keep its contract: conflict policy `fail`, the website
told; the source is moved only from a container `DDD_MOVE_ALWAYS` names. The 202 answer carries
the delivery's id and its own status URL (`GET /api/deliveries/{id}`, which needs a function
key of its own), never the Durable management URLs or the system key.
"""

import azure.durable_functions as df
import azure.functions as func

from endpoints import delivery_status
from endpoints.answers import json_answer, read_request
from endpoints.instances import Attempt, start_attempt
from shared.api.start_request import parse_start_request
from shared.core.config import Settings
from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest

NAME = "start_delivery"
ROUTE = "deliveries"
RETRY_AFTER_SECONDS = 10
bp = df.Blueprint()


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
    options = DeliveryOptions(move_source=settings.moves_always(request.source_account,
                                                                request.source_container))
    attempt = await start_attempt(client, settings, request, options)
    return attempt_answer(settings, request, attempt)


def attempt_answer(settings: Settings, request: DeliveryRequest,
                   attempt: Attempt) -> func.HttpResponse:
    """202 with the status URL; 409 naming the fields when the delivery id and transfer UUID
    were started with another request."""
    if attempt.differing:
        return json_answer({
            "error": f"Delivery {request.delivery_id} with transfer UUID "
                     f"{request.transfer_uuid} was started with another request; this one "
                     f"differs in {', '.join(attempt.differing)}. Nothing was started: a new "
                     "request needs a new transfer UUID.",
            "errors": [{"field": field, "message": "differs from the request this delivery "
                        "id and transfer UUID were first started with"}
                       for field in attempt.differing]}, 409)
    status_url = delivery_status.status_url(settings, attempt.instance_id)
    return json_answer({"id": attempt.instance_id, "deliveryStatusUri": status_url}, 202,
                       headers={"Location": status_url, "Retry-After": str(RETRY_AFTER_SECONDS)})
