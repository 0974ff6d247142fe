"""GET /api/deliveries/{id}: phase, files and bytes planned, copied and verified, failures.

While a delivery runs, the first few failures come from its custom status (which has a size
budget); once it has ended, every failed file comes from the list kept in the work container.
"""

import asyncio
import re

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from endpoints.answers import api_url, bad_id, json_answer
from shared.copy.failures import FAILURES_SERVED, failures_name, read_failures
from shared.copy.progress import LiveBytes
from shared.core.config import Settings, load_settings
from shared.core.status import status_view
from shared.operations.admin import ACTIONS, action_instance_id
from shared.storage.clients import shared_clients
from shared.storage.work import WorkStore

NAME = "delivery_status"
ROUTE_PREFIX = "deliveries"
# what this service's instance ids are made of (`shared.core.run.instance_id_for`), and at most
# the 256 characters Durable Functions allows an instance id
INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,255}")
LIVE_BYTES = LiveBytes()
bp = df.Blueprint()


def status_url(settings: Settings, instance_id: str) -> str:
    """The URL of this endpoint for one delivery, at the app's public URL; without any key
    (whoever calls it brings their own)."""
    return api_url(settings, f"{ROUTE_PREFIX}/{instance_id}")


@bp.function_name(NAME)
@bp.route(route=ROUTE_PREFIX + "/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def delivery_status(req: func.HttpRequest,
                          client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params.get("id", "")
    if not INSTANCE_ID.fullmatch(instance_id):
        message = "must be a delivery id as the start call answered it: up to 256 letters, " \
                  "digits, '.', '_', ':' or '-', starting with a letter or digit"
        return bad_id(message)
    status = await client.get_status(instance_id)
    if not status:
        return json_answer({"error": f"No delivery with id '{instance_id}'."}, 404)
    view = status_view(status.to_json())
    if view["runtimeStatus"] == "Running" and isinstance(status.custom_status, dict):
        # the units in flight report their bytes to the work container as they go: read them,
        # spaced out (`LiveBytes`), whatever the orchestrator's status says it measured
        settings = load_settings()
        try:
            moved = await asyncio.to_thread(
                LIVE_BYTES.bytes_copied, WorkStore(shared_clients(settings)), instance_id,
                status.custom_status, settings.progress_seconds)
        except AzureError:  # the work storage did not answer: the orchestrator's figure stands
            moved = None
        if moved is not None:
            view["copied"]["bytes"] = moved
    if view["runtimeStatus"] in ("Completed", "Failed", "Terminated") and view["failed"]["files"]:
        settings = load_settings()
        recorded = await asyncio.to_thread(read_failures, instance_id, settings)
        if recorded is not None:
            view["failures"] = recorded
            view["failures_list"] = {
                "account": settings.work_account, "container": settings.work_container,
                "path": failures_name(instance_id),
                "served": f"the first {FAILURES_SERVED} at most",
            }
    view["operatorActions"] = await operator_actions(client, instance_id)
    if "cancel" in view["operatorActions"]:
        view["phase"] = "cancelled"
    return json_answer(view)


async def operator_actions(client: df.DurableOrchestrationClient, instance_id: str) -> dict:
    """The operators' cancel and resend of this delivery (their orchestrations' state), if any."""
    actions = {}
    for action in ACTIONS:
        status = await client.get_status(action_instance_id(action, instance_id))
        if status and status.runtime_status:
            shown = status.to_json()
            progress = shown.get("output") if shown.get("runtimeStatus") == "Completed" \
                else shown.get("customStatus")
            actions[action] = {"runtimeStatus": shown.get("runtimeStatus"),
                               "createdTime": shown.get("createdTime"),
                               "lastUpdatedTime": shown.get("lastUpdatedTime"),
                               **(progress if isinstance(progress, dict) else {})}
    return actions
