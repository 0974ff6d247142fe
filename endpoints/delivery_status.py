"""GET /api/deliveries/{id}: phase, files and bytes planned, copied and verified, failures."""

import json

import azure.durable_functions as df
import azure.functions as func

from shared.progress import status_view

NAME = "delivery_status"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route="deliveries/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def delivery_status(req: func.HttpRequest,
                          client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params["id"]
    status = await client.get_status(instance_id)
    if not status:
        return func.HttpResponse(json.dumps({"error": f"No delivery with id '{instance_id}'."}),
                                 status_code=404, mimetype="application/json")
    return func.HttpResponse(json.dumps(status_view(status.to_json())),
                             mimetype="application/json")
