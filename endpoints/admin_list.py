"""GET /api/deliveries (admin key): the deliveries, one page at a time (in the order the task
hub keeps them; no order is promised).

Query: `status` (comma-separated runtime statuses: pending, running, completed, failed,
terminated), `since` (created at or after, ISO 8601), `top` (1-100, default 50),
`continuationToken` (from the previous page's answer). Answer: `deliveries` (id, runtime
status, phase, delivery id, transfer UUID, times, counts, message), `continuationToken` and
`next` (the URL of the next page), null on the last page.
"""

import asyncio
from urllib.parse import urlencode

import azure.durable_functions as df
import azure.functions as func

from endpoints.answers import api_url, json_answer
from shared.core.config import load_settings
from shared.operations.admin import ListQuery, QueryRefused, delivery_summary
from shared.operations.instance_query import InstanceQueryError, query_page, rpc_base_url

NAME = "list_deliveries"
ROUTE = "deliveries"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ADMIN)
@bp.generic_input_binding(arg_name="client", type="durableClient")
async def list_deliveries(req: func.HttpRequest, client: str) -> func.HttpResponse:
    try:
        query = ListQuery.parse(dict(req.params))
    except QueryRefused as refused:
        return json_answer(refused.body(), 400)
    try:
        page, token = await asyncio.to_thread(query_page, rpc_base_url(client),
                                              query.durable_params(), query.continuation_token)
    except InstanceQueryError as error:
        return json_answer({"error": f"The deliveries could not be listed: {error}."}, 503)
    following = None
    if token:
        kept = {name: value for name, value in req.params.items()
                if name not in ("continuationToken", "code")}
        following = api_url(load_settings(), ROUTE) + "?" + urlencode(
            {**kept, "continuationToken": token})
    return json_answer({"deliveries": [delivery_summary(status) for status in page],
                  "continuationToken": token, "next": following})
