"""What the admin action endpoints share (`admin_resend`, `admin_cancel`); no function here.

The actions, POST /api/deliveries/{id}/resend and /cancel (admin key):

- resend: POST the delivery's stored result (its callback body with the manifest) to the
  website again, in the `resend_callback` orchestration `resend-<id>`; for a delivery that has
  ended and whose manifest was written (409 otherwise, or while a resend still runs).
- cancel: stop a delivery that is still planning or copying (409 otherwise): terminate its
  orchestration, then the `cancel_delivery` orchestration `cancel-<id>` removes its partial
  copy and tells the website once.
Both answer 202 with the action's id and the delivery's status URL, where the action shows
under `operatorActions`.
"""

import json
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from endpoints import delivery_status
from endpoints.answers import bad_id, json_answer
from endpoints.instances import STILL_RUNNING
from shared.core.config import load_settings
from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest
from shared.operations.admin import DELIVERY_PREFIX, options_of, request_of
from shared.storage.clients import shared_clients
from shared.storage.work import WorkStore, callback_name

ENDED = ("Completed", "Failed", "Terminated")
RUNNING = tuple(state.value for state in STILL_RUNNING)


def refused(status_code: int, message: str) -> func.HttpResponse:
    return json_answer({"error": message}, status_code)


async def find_delivery(client: df.DurableOrchestrationClient, instance_id: str):
    """The delivery's status with its input, or the answer that refuses the action."""
    if not delivery_status.INSTANCE_ID.fullmatch(instance_id) \
            or not instance_id.startswith(DELIVERY_PREFIX):
        return None, bad_id("must be a delivery id as the start call answered it")
    status = await client.get_status(instance_id, show_input=True)
    if not status or not status.runtime_status:
        return None, refused(404, f"No delivery with id '{instance_id}'.")
    return status, None


def accepted(instance_id: str, action_id: str) -> func.HttpResponse:
    url = delivery_status.status_url(load_settings(), instance_id)
    return func.HttpResponse(json.dumps({"id": instance_id, "actionId": action_id,
                                         "deliveryStatusUri": url}), status_code=202,
                             mimetype="application/json", headers={"Location": url})


def callback_stored(run_id: str) -> bool:
    blob = WorkStore(shared_clients(load_settings())).container.get_blob_client(
        callback_name(run_id))
    return bool(blob.exists())


def request_in(status: DurableOrchestrationStatus) -> DeliveryRequest | None:
    """The website's request in a delivery's orchestration input."""
    return request_of(_input_of(status))


def options_in(status: DurableOrchestrationStatus) -> DeliveryOptions:
    """The delivery's options in its orchestration input (the defaults when it has none)."""
    return options_of(_input_of(status))


def _input_of(status: DurableOrchestrationStatus) -> Any:
    value: Any = status.input_
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
