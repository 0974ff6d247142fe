"""GET /api/dry-runs/{id}: a dry run planned in the background, and its result once done.

Dry runs of small folders are answered by `POST /api/dry-runs` itself and not kept: their id
is not found here.
"""

import re

import azure.durable_functions as df
import azure.functions as func

from endpoints.answers import api_url, bad_id, json_answer
from shared.core.config import Settings
from shared.plan.dry_run import DRY_RUN_PREFIX

NAME = "dry_run_status"
ROUTE_PREFIX = "dry-runs"
DRY_RUN_ID = re.compile(re.escape(DRY_RUN_PREFIX) + r"[A-Za-z0-9._:-]{1,200}")
bp = df.Blueprint()


def status_url(settings: Settings, run_id: str) -> str:
    """This endpoint's URL for one dry run, on the host that answered `request_url`, no key."""
    return api_url(settings, f"{ROUTE_PREFIX}/{run_id}")


@bp.function_name(NAME)
@bp.route(route=ROUTE_PREFIX + "/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def dry_run_status(req: func.HttpRequest,
                         client: df.DurableOrchestrationClient) -> func.HttpResponse:
    run_id = req.route_params.get("id", "")
    if not DRY_RUN_ID.fullmatch(run_id):
        message = (f"must be a dry run id as POST /api/dry-runs answered it ('{DRY_RUN_PREFIX}' "
                   "and up to 200 letters, digits, '.', '_', ':' or '-')")
        return bad_id(message)
    status = await client.get_status(run_id)
    shown = status.to_json() if status else {}
    runtime = shown.get("runtimeStatus")
    if not runtime:
        return json_answer({"error": f"No dry run with id '{run_id}' is kept (small folders are "
                               "answered at once)."}, 404)
    view: dict = {"id": run_id, "runtimeStatus": runtime,
                  "createdTime": shown.get("createdTime"),
                  "lastUpdatedTime": shown.get("lastUpdatedTime"),
                  "result": shown.get("output") if runtime == "Completed" else None}
    if runtime in ("Failed", "Terminated"):
        view["error"] = shown.get("output")
    return json_answer(view)
