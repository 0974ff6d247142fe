"""devhost's local Event Grid: blob writes in Azurite become BlobCreated events delivered to the
Event Grid webhook, filtered, validated and retried as Event Grid does.

Sources:
- "Azure Blob Storage as an Event Grid source"
  (https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage): the event's
  topic, subject, eventType, data (api, clientRequestId, requestId, eTag, contentType,
  contentLength, blobType, url, sequencer, storageDiagnostics), dataVersion "" and
  metadataVersion "1"; events on writes (Put Blob, Put Block List, Copy Blob) only.
- "Understand event filtering for Event Grid subscriptions"
  (https://learn.microsoft.com/azure/event-grid/event-filtering): includedEventTypes,
  subjectBeginsWith / subjectEndsWith, advancedFilters.
- "Event Grid message delivery and retry"
  (https://learn.microsoft.com/azure/event-grid/delivery-and-retry): each event delivered on
  its own, at least once; a failure is retried on a schedule (10 s, 30 s, 1 min, ...).
- "Receive events from Azure Event Grid to an HTTP endpoint" / webhook validation: a
  subscription is created only if the endpoint echoes the validation code.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from devhost.launcher import DevHostProcess

APP = Path(__file__).parent / "eventgrid_app" / "function_app.py"
ACCOUNT = "labsmith"


def entries(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def wait_for_entries(host: DevHostProcess, log: Path, predicate, count: int,
                     timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [e for e in entries(log) if predicate(e)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{len(found)} of {count} invocations:\n{host.logs()[-4000:]}")


def wait_for_log(host: DevHostProcess, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in host.logs():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged:\n{host.logs()[-4000:]}")


@pytest.fixture
def container(azurite):
    name = f"events-{uuid.uuid4().hex[:12]}"
    client = azurite.blob_service(ACCOUNT).get_container_client(name)
    client.create_container()
    return client


def start_host(azurite, tmp_path: Path, subscriptions: list[dict],
               **env: str) -> tuple[DevHostProcess, Path]:
    log = tmp_path / "events.jsonl"
    settings = {**azurite.storage_environ(), "EVENT_LOG": str(log), "FAIL_TIMES": "2",
                "DEVHOST_EVENT_SUBSCRIPTIONS": json.dumps(subscriptions),
                "DEVHOST_EVENT_POLL_SECONDS": "0.2", **env}
    return DevHostProcess(APP, tmp_path / "host", env=settings).start(), log


def test_a_blob_written_after_start_raises_one_event_that_matches_the_filter(
        azurite, container, tmp_path):
    prefix = f"/blobServices/default/containers/{container.container_name}/blobs/"
    container.upload_blob("runs/before/run.json", b"{}")  # exists at start: no event
    subscription = {"name": "runs", "function": "run_completed", "account": ACCOUNT, "filter": {
        "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
        "subjectBeginsWith": prefix + "runs/",
        "advancedFilters": [{"operatorType": "StringEndsWith", "key": "subject",
                             "values": ["/RUN.JSON"]}]}}
    host, log = start_host(azurite, tmp_path, [subscription])
    try:
        wait_for_log(host, "event grid: watching account")
        container.upload_blob("runs/r1/other.json", b"{}")  # the advanced filter drops it
        container.upload_blob("elsewhere/run.json", b"{}")  # subjectBeginsWith drops it
        container.upload_blob("runs/r1/run.json", b'{"ok": true}',
                              content_type="application/json")
        [entry] = wait_for_entries(host, log, lambda e: True, 1)
        time.sleep(1.0)  # five more polls: nothing else arrives
        assert len(entries(log)) == 1
        properties = container.get_blob_client("runs/r1/run.json").get_blob_properties()
        assert entry["type"] == "EventGridEvent"
        assert entry["topic"] == ("/subscriptions/00000000-0000-0000-0000-000000000000/"
                                  "resourceGroups/devhost/providers/Microsoft.Storage/"
                                  f"storageAccounts/{ACCOUNT}")
        assert entry["subject"] == prefix + "runs/r1/run.json"
        assert entry["event_type"] == "Microsoft.Storage.BlobCreated"
        assert entry["data_version"] == ""
        data = entry["data"]
        assert data["api"] == "PutBlob"
        assert data["eTag"] == f'"{properties.etag.strip(chr(34))}"'
        assert data["contentType"] == "application/json"
        assert data["contentLength"] == len(b'{"ok": true}')
        assert data["blobType"] == "BlockBlob"
        assert data["url"] == (f"{azurite.blob_endpoint(ACCOUNT)}/"
                               f"{container.container_name}/runs/r1/run.json")
        assert len(data["sequencer"]) == 32 and set(data) >= {
            "clientRequestId", "requestId", "storageDiagnostics"}
        assert host.wait_for(entry["instance_id"])["runtimeStatus"] == "Completed"
        # an overwrite is a new write: a new ETag, a new event (Put Block List this time)
        blob = container.get_blob_client("runs/r1/run.json")
        blob.stage_block("0001", b'{"ok": false}')
        blob.commit_block_list(["0001"])
        second = wait_for_entries(host, log, lambda e: True, 2)[1]
        assert second["data"]["api"] == "PutBlockList"
        assert second["id"] != entry["id"]
    finally:
        host.stop()


def test_a_failing_function_makes_the_source_retry_until_it_succeeds(
        azurite, container, tmp_path):
    subscription = {"name": "flaky", "function": "fails_first", "account": ACCOUNT,
                    "filter": {"subjectBeginsWith": f"/blobServices/default/containers/"
                                                    f"{container.container_name}/"}}
    host, log = start_host(azurite, tmp_path, [subscription])
    try:
        wait_for_log(host, "event grid: watching account")
        container.upload_blob("one.txt", b"1")
        attempts = wait_for_entries(host, log, lambda e: True, 3)
        assert len({e["id"] for e in attempts}) == 1  # the same event, three deliveries
        assert [e["attempt"] for e in attempts] == [1, 2, 3]
        wait_for_log(host, "attempt 3: HTTP 202: delivered")
        logs = host.logs()
        assert "attempt 1: HTTP 500: retry in" in logs
        assert "attempt 2: HTTP 500: retry in" in logs
    finally:
        host.stop()


def test_no_delivery_to_a_subscription_whose_handshake_fails(azurite, container, tmp_path):
    """Event Grid creates a webhook subscription only when the endpoint echoes the
    validation code; a webhook naming an unknown function answers 404."""
    subscription = {"name": "nowhere", "function": "no_such_function", "account": ACCOUNT}
    host, log = start_host(azurite, tmp_path, [subscription])
    try:
        wait_for_log(host, "subscription nowhere NOT created: the validation handshake with "
                           "function no_such_function failed (HTTP 404")
        container.upload_blob("ignored.txt", b"x")
        time.sleep(1.0)
        assert entries(log) == []
        assert "-> subscription nowhere" not in host.logs()
    finally:
        host.stop()
