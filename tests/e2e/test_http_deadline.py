"""The synchronous endpoints past their deadline, through devhost over HTTP: the app's storage
behind the fault-injecting proxy (`tests.fault_proxy`), which holds chosen requests back,
DDD_HTTP_DEADLINE_SECONDS at 1 s (the work may go on a grace of 1 s more) and devhost's front end
cutting a request at 6 s (DEVHOST_HTTP_FRONT_END_SECONDS, Azure's 230 s).

Past its deadline each endpoint answers instead of being cut by the front end: the project
summary and a share 422 naming the field and what to do, a dry run 202 with the background
run's status URL. The work left behind stops: no more reads of the file being hashed, no page of
the plan written by the abandoned instant dry run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import jsonschema
import pytest
import requests

from shared.api.openapi import openapi_document
from tests.e2e.conftest import MIB, SOURCE_ACCOUNT, DeliveryApp, start_app, upload
from tests.e2e.test_dry_run_and_summary import post_dry_run, wait_dry_run
from tests.fault_proxy import Exchange, FaultProxy

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 1
FRONT_END_SECONDS = 6
# a storage request held back this long outlasts the deadline and its grace (2 s in all)
HELD_BACK_SECONDS = 3.0
WORK_CONTAINER = "ddd-transfer-work"


@pytest.fixture(scope="module")
def proxy(azurite) -> Iterator[FaultProxy]:
    with FaultProxy(azurite.blob_port) as running:
        yield running


@pytest.fixture(scope="module")
def slow_app(proxy: FaultProxy, azurite, tmp_path_factory) -> Iterator[DeliveryApp]:
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-deadline"), {
        "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template,
        "DDD_HTTP_DEADLINE_SECONDS": str(DEADLINE_SECONDS),
        "DEVHOST_HTTP_FRONT_END_SECONDS": str(FRONT_END_SECONDS)})
    yield app
    app.host.stop()
    app.website.stop()


@pytest.fixture(autouse=True)
def no_delay(proxy: FaultProxy) -> Iterator[None]:
    yield
    proxy.delay = None


def lists(folder: str, container: str = "deliveries"):  # type: ignore[no-untyped-def]
    def listing(exchange: Exchange) -> bool:
        return (exchange.query.get("comp") == "list"
                and exchange.query.get("prefix") == folder + "/"
                and exchange.path == f"/{SOURCE_ACCOUNT}/{container}")
    return listing


def source_body(folder: str) -> dict:
    return {"Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": "deliveries",
            "Source_TopLevelFolder": folder}


def post(app: DeliveryApp, route: str, body: dict) -> requests.Response:
    return requests.post(f"{app.host.base_url}/api/{route}", json=body,
                         params={"code": app.host.function_key}, timeout=120)


def refused_naming_the_folder(answer: requests.Response) -> str:
    assert answer.status_code == 422, (answer.status_code, answer.text)
    body = answer.json()
    document = openapi_document()
    jsonschema.Draft202012Validator({"$ref": "#/components/schemas/ErrorAnswer",
                                     "components": document["components"]}).validate(body)
    assert body["errors"] == [{"field": "Source_TopLevelFolder", "message": body["error"]}]
    assert f"within {DEADLINE_SECONDS} s" in body["error"]
    assert "DDD_HTTP_DEADLINE_SECONDS" in body["error"]
    return str(body["error"])


def work_names(app: DeliveryApp, prefix: str) -> set[str]:
    work = app.container("devstoreaccount1", WORK_CONTAINER)
    return {blob.name for blob in work.list_blobs(name_starts_with=prefix)}


def test_a_summary_past_its_deadline_is_422_saying_what_to_do(slow_app: DeliveryApp,
                                                               proxy: FaultProxy) -> None:
    delivery = slow_app.new_delivery({"a.txt": b"alpha\n", "Data/b.txt": b"beta\n"})
    folder = delivery.payload["Source_TopLevelFolder"]
    held_back = lists(folder)
    # listed slower than the front end waits: counted to the end, the answer would be cut (502)
    proxy.delay = lambda exchange: FRONT_END_SECONDS + 2.0 if held_back(exchange) else 0.0

    answer = post(slow_app, "summary", source_body(folder))

    message = refused_naming_the_folder(answer)
    assert folder in message and "POST /api/dry-runs" in message
    assert "422" in openapi_document()["paths"]["/summary"]["post"]["responses"]
    proxy.delay = None  # the deadline is each request's own: the same summary, storage quick
    counted = post(slow_app, "summary", source_body(folder))
    assert counted.status_code == 200, counted.text
    assert (counted.json()["file_count"], counted.json()["folder_count"]) == (2, 1)


def test_a_share_past_its_deadline_is_422_and_its_hashing_stops(slow_app: DeliveryApp,
                                                                 proxy: FaultProxy) -> None:
    folder = f"jdoe/share-{uuid.uuid4().hex[:8]}"
    big = f"{folder}/big.bin"
    source = slow_app.container(SOURCE_ACCOUNT, "deliveries")
    upload(source, big, os.urandom(40 * MIB), with_md5=False)  # hashed in 5 reads of 8 MiB
    upload(source, f"{folder}/a.txt", b"alpha\n")
    shares_before = work_names(slow_app, "shares/")

    def reads_big(exchange: Exchange) -> bool:
        return exchange.method == "GET" and exchange.path == f"/{SOURCE_ACCOUNT}/deliveries/{big}"

    def reads_so_far() -> int:
        return len([exchange for exchange in proxy.app_exchanges() if reads_big(exchange)])

    proxy.delay = lambda exchange: HELD_BACK_SECONDS if reads_big(exchange) else 0.0

    answer = post(slow_app, "shares", {**source_body(folder), "Share_ExpiresInSeconds": 3600})

    message = refused_naming_the_folder(answer)
    assert "azcopy --put-md5" in message
    assert "422" in openapi_document()["paths"]["/shares"]["post"]["responses"]
    reads_at_answer = reads_so_far()
    assert reads_at_answer <= 1  # the first read is held back past the deadline and its grace
    # a hashing left running would read again as each held-back read ended: it stopped instead
    time.sleep(2.5 * HELD_BACK_SECONDS)
    assert reads_so_far() == reads_at_answer
    assert work_names(slow_app, "shares/") == shares_before  # nothing of the share was kept


def test_a_dry_run_past_its_deadline_runs_in_the_background(slow_app: DeliveryApp,
                                                             proxy: FaultProxy) -> None:
    # three files: answered at once without the deadline (DDD_DRY_RUN_INSTANT_FILES is 5)
    delivery = slow_app.new_delivery({"a.txt": b"alpha\n", "b/c.txt": b"gamma\n",
                                      "b/d.txt": b"delta\n"})
    held_back = lists(delivery.payload["Source_TopLevelFolder"])
    proxy.delay = lambda exchange: HELD_BACK_SECONDS if held_back(exchange) else 0.0
    instances_before = slow_app.instance_count()

    answer = post_dry_run(slow_app, delivery.payload)

    assert answer.status_code == 202, answer.text
    run_id = answer.json()["id"]
    assert answer.headers["Location"] == answer.json()["dryRunStatusUri"]
    assert slow_app.instance_count() == instances_before + 1
    view = wait_dry_run(slow_app, answer.json()["dryRunStatusUri"])
    assert view["runtimeStatus"] == "Completed", view
    result = view["result"]
    assert (result["files"], result["bytes"], result["folders"]) == (3, 18, 1)
    assert result["destination_outlook"]["free"] is True
    # the plan's page was written once, by the background run: the instant plan, which listed
    # the same files when its held-back listing ended, stopped there
    page = f"plans/{run_id}/chunk-000000.jsonl"
    writes = [exchange for exchange in proxy.app_exchanges()
              if exchange.method == "PUT" and exchange.path.endswith(f"/{page}")]
    assert len(writes) == 1
