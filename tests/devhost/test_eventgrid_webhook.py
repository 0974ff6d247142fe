"""devhost serves the Event Grid extension's webhook as the Functions host serves it.

Sources:
- azure-sdk-for-net ``sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid/src/
  TriggerBinding/HttpRequestProcessor.cs``: ``aeg-event-type`` SubscriptionValidation answers
  ``{"validationResponse": ...}`` (Event Grid schema array, or a CloudEvent whose data is
  double-encoded), Notification runs the events, Unsubscribe 202, anything else 400; OPTIONS is
  the CloudEvents handshake (``WebHook-Allowed-Origin``).
- the same package's ``Config/EventGridExtensionConfigProvider.cs``: ``functionName`` looked up
  as written, else 404 "cannot find function: '<name>'"; every event of a notification runs;
  202, or 500 with the first failure's message.
- azure-webjobs-sdk ``Executors/FunctionExecutor.cs``: that message is "Exception while
  executing function: Functions.<name>".
- azure-functions-host ``WebHooks/DefaultScriptWebHookProvider.cs`` (``eventgrid_extension``,
  handlers by name ignoring case), ``Policies/AuthorizationOptionsExtensions.cs``
  (``AuthLevelSystemKey``: that system key or the master key), ``AuthenticationLevelHandler``
  (``x-functions-key`` first, then ``code``).
- azure-functions ``eventgrid.py``: the worker's converter makes the ``EventGridEvent``.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from devhost.launcher import DevHostProcess

APP = Path(__file__).parent / "eventgrid_app" / "function_app.py"

# Azure's published example of a BlobCreated event (Event Grid schema), from "Azure Blob
# Storage as an Event Grid source"
AZURE_EXAMPLE = {
    "topic": "/subscriptions/{subscription-id}/resourceGroups/Storage/providers/"
             "Microsoft.Storage/storageAccounts/my-storage-account",
    "subject": "/blobServices/default/containers/test-container/blobs/new-file.txt",
    "eventType": "Microsoft.Storage.BlobCreated",
    "eventTime": "2017-06-26T18:41:00.9584103Z",
    "id": "831e1650-001e-001b-66ab-eeb76e069631",
    "data": {
        "api": "PutBlockList",
        "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
        "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
        "eTag": "\"0x8D4BCC2E4835CD0\"",
        "contentType": "text/plain",
        "contentLength": 524288,
        "blobType": "BlockBlob",
        "url": "https://my-storage-account.blob.core.windows.net/testcontainer/new-file.txt",
        "sequencer": "00000000000004420000000000028963",
        "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
    },
    "dataVersion": "",
    "metadataVersion": "1",
}


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    state = tmp_path_factory.mktemp("eventgrid-webhook")
    with DevHostProcess(APP, state, env={"EVENT_LOG": str(state / "events.jsonl"),
                                         "FAIL_TIMES": "1"}) as running:
        running.event_log = state / "events.jsonl"
        yield running


def recorded(host, predicate=lambda entry: True, count: int = 1, timeout: float = 30):
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        lines = host.event_log.read_text().splitlines() if host.event_log.exists() else []
        found = [e for e in map(json.loads, lines) if predicate(e)]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{len(found)} of {count} invocations:\n{host.logs()[-3000:]}")


def post(host, body, kind: str | None = "Notification", function: str = "run_completed",
         key: str | None = "eventgrid", headers: dict | None = None) -> requests.Response:
    keys = {"eventgrid": host.eventgrid_key, "master": host.master_key,
            "system": host.system_key, "function": host.function_key}
    params = {"functionName": function}
    if key is not None:
        params["code"] = keys.get(key, key)
    sent = {"aeg-event-type": kind} if kind else {}
    return requests.post(f"{host.base_url}/runtime/webhooks/eventgrid", params=params,
                         headers={**sent, **(headers or {})}, data=json.dumps(body), timeout=30)


def test_validation_handshake_is_answered_with_the_code(host):
    code = str(uuid.uuid4())
    validation = [{"id": "1", "topic": "t", "subject": "", "data": {"validationCode": code},
                   "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "eventTime": "2024-01-01T00:00:00Z", "dataVersion": "1",
                   "metadataVersion": "1"}]
    answer = post(host, validation, kind="SubscriptionValidation")
    assert answer.status_code == 200
    assert answer.json() == {"validationResponse": code}
    # a CloudEvent's data is double-encoded; the header's value is compared ignoring case
    cloud = {"specversion": "1.0", "id": "2", "source": "s", "type": "t",
             "data": json.dumps({"validationCode": code})}
    assert post(host, cloud, kind="subscriptionvalidation").json() == {
        "validationResponse": code}


def test_the_path_and_parameter_names_ignore_case_the_function_name_does_not(host):
    code = str(uuid.uuid4())
    answer = requests.post(
        f"{host.base_url}/Runtime/Webhooks/EventGrid",
        params={"FUNCTIONNAME": "run_completed", "CODE": host.eventgrid_key},
        headers={"aeg-event-type": "SubscriptionValidation"},
        data=json.dumps([{"data": {"validationCode": code}}]), timeout=30)
    assert answer.status_code == 200 and answer.json() == {"validationResponse": code}
    unknown = post(host, [AZURE_EXAMPLE], function="Run_Completed")
    assert unknown.status_code == 404
    assert unknown.text == "cannot find function: 'Run_Completed'"
    assert post(host, [AZURE_EXAMPLE], function="nothing").status_code == 404


def test_only_the_eventgrid_extension_key_or_the_master_key_opens_the_webhook(host):
    for key in (None, "wrong", "system", "function"):
        assert post(host, [AZURE_EXAMPLE], key=key).status_code == 401, key
    # the header wins over the query parameter, as on the host
    answer = post(host, [{"data": {"validationCode": "c"}}], kind="SubscriptionValidation",
                  key="wrong", headers={"x-functions-key": host.eventgrid_key})
    assert answer.status_code == 200
    wrong_header = post(host, [{"data": {"validationCode": "c"}}], key="eventgrid",
                        headers={"x-functions-key": "wrong"})
    assert wrong_header.status_code == 401
    master = post(host, [{"data": {"validationCode": "c"}}], kind="SubscriptionValidation",
                  key="master")
    assert master.status_code == 200


def test_a_notification_runs_the_function_with_the_event_azure_gives(host):
    event = dict(AZURE_EXAMPLE, id=str(uuid.uuid4()))
    answer = post(host, [event])
    assert answer.status_code == 202, answer.text
    [entry] = recorded(host, lambda e: e["id"] == event["id"])
    assert entry["function"] == "run_completed"
    assert entry["type"] == "EventGridEvent"
    assert entry["topic"] == event["topic"]
    assert entry["subject"] == event["subject"]
    assert entry["event_type"] == "Microsoft.Storage.BlobCreated"
    assert entry["event_time"] == "2017-06-26T18:41:00.958410+00:00"
    assert entry["data_version"] == ""
    assert entry["data"] == event["data"]
    # the durable client binding works as for HTTP functions: the orchestration ran
    status = host.wait_for(entry["instance_id"])
    assert status["output"] == event["subject"].upper()


def test_every_event_runs_and_the_same_event_twice_runs_twice(host):
    """Event Grid delivers at least once: the host does not deduplicate (idempotency is the
    app's job)."""
    first, second = (dict(AZURE_EXAMPLE, id=str(uuid.uuid4())) for _ in range(2))
    assert post(host, [first, second]).status_code == 202
    assert post(host, first).status_code == 202  # an object is one event
    assert len(recorded(host, lambda e: e["id"] == first["id"], count=2)) == 2
    assert len(recorded(host, lambda e: e["id"] == second["id"])) == 1


def test_a_failing_function_answers_500_so_that_event_grid_retries(host):
    event = dict(AZURE_EXAMPLE, id=str(uuid.uuid4()))
    failed = post(host, [event], function="fails_first")
    assert failed.status_code == 500
    assert failed.text == "Exception while executing function: Functions.fails_first"
    assert post(host, [event], function="fails_first").status_code == 202
    attempts = recorded(host, lambda e: e["id"] == event["id"], count=2)
    assert [e["attempt"] for e in attempts] == [1, 2]


def test_cloud_events_unsubscribe_and_unknown_event_types(host):
    cloud = {"specversion": "1.0", "id": str(uuid.uuid4()), "type": "Sample.Happened",
             "source": "/sample", "subject": "x", "time": "2024-05-06T07:08:09Z",
             "data": {"n": 1}}
    assert post(host, [cloud]).status_code == 202
    [entry] = recorded(host, lambda e: e["id"] == cloud["id"])
    assert entry["type"] == "CloudEvent" and entry["source"] == "/sample"
    assert post(host, [], kind="Unsubscribe").status_code == 202
    assert post(host, [AZURE_EXAMPLE], kind=None).status_code == 400
    assert post(host, [AZURE_EXAMPLE], kind="SomethingElse").status_code == 400
    options = requests.options(f"{host.base_url}/runtime/webhooks/eventgrid",
                               params={"functionName": "run_completed",
                                       "code": host.eventgrid_key},
                               headers={"WebHook-Request-Origin": "eventgrid.azure.net"},
                               timeout=30)
    assert options.status_code == 200
    assert options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
