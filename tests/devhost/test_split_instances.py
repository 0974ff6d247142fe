"""``--split-instances``: HTTP triggers in one process, orchestrations and activities in another,
sharing only storage, as Flex Consumption's per-function scaling places them.

Source: "Per-function scaling" (https://learn.microsoft.com/azure/azure-functions/
flex-consumption-plan#per-function-scaling): HTTP triggers scale together on their own
instances, Durable triggers (orchestration, activity, entity) together on theirs. Instances
share no memory: module state an HTTP function sets is not there for an activity.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from pathlib import Path

import pytest
import requests
from azure.storage.blob import ContentSettings

from devhost.launcher import DevHostProcess
from devhost.website_standin import WebsiteStandIn

FLEX_APP = Path(__file__).parent / "flex_app" / "function_app.py"
REPO = Path(__file__).resolve().parents[2]
WEBSITE_TOKEN = "split-website-token"


def recalled(host: DevHostProcess, value: str):
    """Set module state with an HTTP function, then read it in an activity."""
    remembered = requests.post(f"{host.base_url}/api/remember/{value}",
                               params={"code": host.function_key}, timeout=30)
    assert remembered.json() == {"value": value}
    started = requests.post(f"{host.base_url}/api/orchestrators/recall",
                            params={"code": host.function_key}, timeout=30)
    return host.wait_for(started.json()["id"], timeout=60)["output"]


@pytest.mark.parametrize("split", [False, True])
def test_module_state_is_per_instance(tmp_path, split):
    with DevHostProcess(FLEX_APP, tmp_path / "host", split_instances=split) as host:
        assert recalled(host, "seen") == (None if split else "seen")
        logs = host.logs()
        assert ("devhost[durable]" in logs) is split
        if split:
            assert "devhost http on" in logs and "devhost durable on" in logs
            episode_lines = [line for line in logs.splitlines() if " episode recall " in line]
            assert episode_lines and all("devhost[durable]" in line for line in episode_lines)


def test_the_real_app_delivers_end_to_end_with_split_instances(azurite, tmp_path):
    source, sink = "sequencingcore", "labsmith"
    folder = f"netid/split-{uuid.uuid4().hex[:10]}"
    files = {"SampleSheet.csv": b"Sample_ID\nA\n", "Data/reads.fastq.gz": bytes(range(256)) * 900,
             "Notes/readme.txt": b"hello"}
    deliveries = azurite.blob_service(source).get_container_client("deliveries")
    if not deliveries.exists():
        deliveries.create_container()
    incoming = azurite.blob_service(sink).get_container_client("incoming")
    if not incoming.exists():
        incoming.create_container()
    for relative, content in files.items():
        deliveries.upload_blob(f"{folder}/{relative}", content, overwrite=True,
                               content_settings=ContentSettings(
                                   content_md5=bytearray(hashlib.md5(content).digest())))
    payload = {"Source_StorageAccount": source, "Source_FileSystem": "deliveries",
               "Source_TopLevelFolder": folder, "Sink_StorageAccount": sink,
               "Sink_FileSystem": "incoming", "Sink_TopLevelFolder": folder,
               "Webhook_DeliveryID": int(uuid.uuid4().hex[:6], 16),
               "Webhook_TransferUUID": str(uuid.uuid4())}
    with WebsiteStandIn(token=WEBSITE_TOKEN) as website:
        website.expect(payload["Webhook_DeliveryID"], payload["Webhook_TransferUUID"])
        settings = {**azurite.storage_environ(), "DDD_SOURCE_ACCOUNTS": source,
                    "DDD_SINK_ACCOUNTS": sink, "DDD_WEBSITE_URL": website.url,
                    "DDD_WEBSITE_TOKEN": WEBSITE_TOKEN, "DDD_WEBSITE_RETRY_SECONDS": "0.05"}
        with DevHostProcess(REPO / "function_app.py", tmp_path / "host", env=settings,
                            max_activities=4, split_instances=True) as host:
            answer = requests.post(f"{host.base_url}/api/deliveries",
                                   params={"code": host.function_key}, json=payload,
                                   headers={"user-agent": "duke-data-delivery/2.0.0"},
                                   timeout=60)
            assert answer.status_code == 202, answer.text
            instance_id = answer.json()["id"]
            deadline = time.monotonic() + 180
            view: dict = {}
            while time.monotonic() < deadline:
                view = requests.get(f"{host.base_url}/api/deliveries/{instance_id}",
                                    params={"code": host.function_key}, timeout=60).json()
                if view["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                    break
                time.sleep(0.2)
            assert view["runtimeStatus"] == "Completed", (view, host.logs()[-4000:])
            assert "devhost[durable]" in host.logs()
        for relative, content in files.items():
            assert incoming.get_blob_client(f"{folder}/{relative}").download_blob() \
                .readall() == content
        recorded = website.recorded(payload["Webhook_DeliveryID"])
        assert recorded is not None and "error_message" not in recorded
