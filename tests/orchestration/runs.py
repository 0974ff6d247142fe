"""What the orchestration tests share: a website request, and starting an orchestration in
devhost the way the start endpoint does (its webhook, the system key)."""

import uuid

import requests

from devhost.launcher import DevHostProcess
from shared.core.request import DeliveryRequest


def sample_request(delivery_id: int) -> DeliveryRequest:
    return DeliveryRequest.model_validate({
        "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
        "Source_TopLevelFolder": "jdoe/mouse-rnaseq", "Sink_StorageAccount": "labsmith",
        "Sink_FileSystem": "incoming", "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
        "Webhook_DeliveryID": delivery_id, "Webhook_TransferUUID": str(uuid.uuid4())})


def start_orchestration(host: DevHostProcess, name: str, instance_id: str, body: dict) -> None:
    started = requests.post(host.webhook(f"orchestrators/{name}/{instance_id}"),
                            params={"code": host.system_key}, json=body, timeout=30)
    assert started.status_code == 202, started.text
