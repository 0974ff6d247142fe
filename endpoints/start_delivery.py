"""POST /api/deliveries: the website's start call (contract §1). Validates, then starts once."""

import json

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from orchestrators import delivery
from shared.config import SettingsError, load_settings
from shared.models import DeliveryRequest, validation_errors
from shared.progress import DeliveryRun, instance_id_for

NAME = "start_delivery"
ROUTE = "deliveries"
bp = df.Blueprint()


def _json(body: dict, status_code: int, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status_code,
                             mimetype="application/json", headers=headers)


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_delivery(req: func.HttpRequest,
                         client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        payload = req.get_json()
    except ValueError:
        return _json({"error": "The body must be a JSON object.",
                      "errors": [{"field": "body", "message": "is not valid JSON"}]}, 400)
    if not isinstance(payload, dict):
        return _json({"error": "The body must be a JSON object.",
                      "errors": [{"field": "body", "message": "must be a JSON object"}]}, 400)
    try:
        request = DeliveryRequest.model_validate(payload)
    except ValidationError as error:
        problems = validation_errors(error)
        return _json({"error": "Invalid transfer request: " + "; ".join(
            f"{p['field']} {p['message']}" for p in problems), "errors": problems}, 400)
    try:
        settings = load_settings()
    except SettingsError as error:
        return _json({"error": "The transfer service is misconfigured.",
                      "settings": error.problems}, 500)

    instance_id = instance_id_for(request)
    if not await client.get_status(instance_id):
        run = DeliveryRun(request=request, run_id=instance_id,
                          parallel_chunks=settings.parallel_chunks)
        try:
            await client.start_new(delivery.NAME, instance_id, run.to_json())
        except Exception:
            if not await client.get_status(instance_id):  # not a concurrent duplicate: a fault
                raise
    answer = client.create_check_status_response(req, instance_id)
    links = json.loads(answer.get_body())
    links["deliveryStatusUri"] = f"{req.url.split('?')[0].rstrip('/')}/{instance_id}"
    return _json(links, 202, headers={"Location": answer.headers["Location"],
                                      "Retry-After": "10"})
