"""POST /api/operator/deliveries (admin key): an operator's start. The website's body plus the
operator's choices: `Conflict_Policy` (fail, merge, replace-different), `Move_Source` (where
`DDD_MOVE_SOURCES` allows it), `Report_To` (website, operators, or a webhook's URL) and
`Report_Token_Secret`. Checked and started as the website's call is; the same 202 and 409."""

import azure.durable_functions as df
import azure.functions as func

from endpoints.answers import read_request
from endpoints.instances import start_attempt
from endpoints.start_delivery import attempt_answer
from shared.api.operator_request import parse_operator_request
from shared.operations.telemetry import log_event

NAME = "start_operator_delivery"
ROUTE = "operator/deliveries"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ADMIN)
@bp.durable_client_input(client_name="client")
async def start_operator_delivery(req: func.HttpRequest,
                                  client: df.DurableOrchestrationClient) -> func.HttpResponse:
    read = read_request(lambda settings: parse_operator_request(
        req.headers.get("content-type"), req.get_body(), settings))
    if isinstance(read, func.HttpResponse):
        return read
    settings, (request, options) = read
    attempt = await start_attempt(client, settings, request, options)
    if attempt.started:
        log_event("operator.start", instance_id=attempt.instance_id,
                  conflict_policy=options.conflict_policy, move_source=options.move_source,
                  receiver=options.receiver.kind)
    return attempt_answer(settings, request, attempt)
