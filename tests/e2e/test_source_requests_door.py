"""The door of the dry-run, summary and share endpoints, over HTTP against devhost: a bad request
is a 4xx JSON answer naming the field and does nothing; never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.e2e.conftest import SINK_ACCOUNT, SOURCE_ACCOUNT, DeliveryApp

WORK_ACCOUNT = "devstoreaccount1"
SOURCE = {"Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": "deliveries",
          "Source_TopLevelFolder": "jdoe/mouse-rnaseq"}
SHARE = {**SOURCE, "Share_ExpiresInSeconds": 3600}
ENDPOINTS = {"summary": SOURCE, "shares": SHARE}


def send(app: DeliveryApp, route: str, body: bytes,
         content_type: str | None = "application/json") -> requests.Response:
    headers = {"content-type": content_type} if content_type else {}
    return requests.post(f"{app.host.base_url}/api/{route}", data=body, headers=headers,
                         params={"code": app.host.function_key}, timeout=60)


def refused(answer: requests.Response, status: int, *fields: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert isinstance(body["error"], str) and body["error"]
    assert {problem["field"] for problem in body["errors"]} >= set(fields)


def with_changes(base: dict[str, Any], **changes: Any) -> bytes:
    document = {**base}
    for key, value in changes.items():
        if value is ...:
            document.pop(key)
        else:
            document[key] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize("route", sorted(ENDPOINTS))
def test_the_door_refuses_bad_bodies_naming_the_field(delivery_app: DeliveryApp,
                                                      route: str) -> None:
    good = ENDPOINTS[route]
    refused(send(delivery_app, route, b"{}", "text/plain"), 415, "Content-Type")
    refused(send(delivery_app, route, b" " * (16 * 1024 + 1)), 413, "body")
    refused(send(delivery_app, route, b"\xff\xfe"), 400, "body")
    refused(send(delivery_app, route, b"[1, 2]"), 400, "body")
    refused(send(delivery_app, route, b"[" * 50 + b"]" * 50), 400, "body")
    refused(send(delivery_app, route, b'{"Source_TopLevelFolder": "a\\ud800"}'), 400,
            "Source_TopLevelFolder")
    refused(send(delivery_app, route, b"{}"), 400, *good)
    refused(send(delivery_app, route, with_changes(good, Source_StorageAccount=SINK_ACCOUNT)),
            400, "Source_StorageAccount")
    refused(send(delivery_app, route, with_changes(good, Source_StorageAccount=WORK_ACCOUNT)),
            400, "Source_StorageAccount")
    refused(send(delivery_app, route, with_changes(good, Source_StorageAccount="Bad_Name")),
            400, "Source_StorageAccount")
    refused(send(delivery_app, route, with_changes(good, Source_FileSystem="x")), 400,
            "Source_FileSystem")
    for folder in ("../etc", "a//b", "/abs", "a\u202eb", "", 7):
        refused(send(delivery_app, route, with_changes(good, Source_TopLevelFolder=folder)), 400,
                "Source_TopLevelFolder")


@pytest.mark.parametrize("expiry", [0, -1, "3600", 3600.5, True, None, 2 * 3600 * 24 * 7])
def test_a_share_expiry_outside_the_rules_is_refused(delivery_app: DeliveryApp,
                                                     expiry: Any) -> None:
    refused(send(delivery_app, "shares", with_changes(SHARE, Share_ExpiresInSeconds=expiry)),
            400, "Share_ExpiresInSeconds")


def test_a_share_expiry_past_the_configured_maximum_says_the_maximum(
        delivery_app: DeliveryApp) -> None:
    answer = send(delivery_app, "shares", with_changes(SHARE, Share_ExpiresInSeconds=72 * 3600
                                                       + 1))
    refused(answer, 400, "Share_ExpiresInSeconds")
    assert "at most 259200 (72 hours" in answer.text


def test_a_share_of_a_folder_that_does_not_exist_is_404_naming_the_folder(
        delivery_app: DeliveryApp) -> None:
    delivery_app.container(SOURCE_ACCOUNT, "deliveries")
    answer = send(delivery_app, "shares",
                  with_changes(SHARE, Source_TopLevelFolder="jdoe/nothing-here"))
    refused(answer, 404, "Source_TopLevelFolder")


def test_dry_runs_pass_the_delivery_s_door_and_start_nothing(delivery_app: DeliveryApp) -> None:
    before = delivery_app.instance_count()
    payload = {**SOURCE, "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": "incoming",
               "Sink_TopLevelFolder": "jdoe/mouse-rnaseq", "Webhook_DeliveryID": 4321,
               "Webhook_TransferUUID": "not-a-uuid"}
    refused(send(delivery_app, "dry-runs", json.dumps(payload).encode()), 400,
            "Webhook_TransferUUID")
    refused(send(delivery_app, "dry-runs", json.dumps({**payload, "Sink_StorageAccount":
                                                        SOURCE_ACCOUNT}).encode()), 400,
            "Sink_StorageAccount", "Webhook_TransferUUID")
    refused(send(delivery_app, "dry-runs", b"{}", "text/plain"), 415, "Content-Type")
    assert delivery_app.instance_count() == before


@pytest.mark.parametrize("method,route,status", [
    ("GET", "shares/not-a-share", 400), ("DELETE", "shares/share-XYZ", 400),
    ("GET", "shares/share-" + "0" * 32, 404), ("DELETE", "shares/share-" + "0" * 32, 404),
    ("GET", "dry-runs/delivery-1-x", 400), ("GET", "dry-runs/dryrun-1-unknown", 404),
])
def test_ids_in_urls_are_checked(delivery_app: DeliveryApp, method: str, route: str,
                                 status: int) -> None:
    answer = requests.request(method, f"{delivery_app.host.base_url}/api/{route}",
                              params={"code": delivery_app.host.function_key}, timeout=30)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    if status == 400:
        assert answer.json()["errors"][0]["field"] == "id"
