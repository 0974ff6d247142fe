"""Bad input gets a 400 naming the field, and starts nothing."""

from __future__ import annotations

import uuid

import pytest

GOOD = {
    "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
    "Source_TopLevelFolder": "jdoe/mouse-rnaseq",
    "Sink_StorageAccount": "labsmith", "Sink_FileSystem": "incoming",
    "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
    "Webhook_DeliveryID": 4321, "Webhook_TransferUUID": str(uuid.uuid4()),
}


def changed(**fields):
    payload = dict(GOOD)
    for key, value in fields.items():
        if value is ...:
            payload.pop(key)
        else:
            payload[key] = value
    return payload


BAD = [
    (changed(Source_StorageAccount=...), "Source_StorageAccount"),
    (changed(Source_StorageAccount="ab"), "Source_StorageAccount"),
    (changed(Source_StorageAccount="Sequencing-Core"), "Source_StorageAccount"),
    (changed(Source_StorageAccount="a" * 25), "Source_StorageAccount"),
    (changed(Sink_StorageAccount="lab smith"), "Sink_StorageAccount"),
    (changed(Source_FileSystem="De"), "Source_FileSystem"),
    (changed(Source_FileSystem="bad--name"), "Source_FileSystem"),
    (changed(Sink_FileSystem="-incoming"), "Sink_FileSystem"),
    (changed(Sink_FileSystem="x" * 64), "Sink_FileSystem"),
    (changed(Source_TopLevelFolder="/jdoe/mouse"), "Source_TopLevelFolder"),
    (changed(Source_TopLevelFolder="jdoe/../other"), "Source_TopLevelFolder"),
    (changed(Source_TopLevelFolder="jdoe//mouse"), "Source_TopLevelFolder"),
    (changed(Source_TopLevelFolder="jdoe/./mouse"), "Source_TopLevelFolder"),
    (changed(Source_TopLevelFolder="jdoe/mo\x07use"), "Source_TopLevelFolder"),
    (changed(Sink_TopLevelFolder="a/" * 600), "Sink_TopLevelFolder"),
    (changed(Sink_TopLevelFolder=""), "Sink_TopLevelFolder"),
    (changed(Webhook_TransferUUID="not-a-uuid"), "Webhook_TransferUUID"),
    (changed(Webhook_TransferUUID=...), "Webhook_TransferUUID"),
    (changed(Webhook_DeliveryID=...), "Webhook_DeliveryID"),
    (changed(Webhook_DeliveryID=None), "Webhook_DeliveryID"),
    (changed(Webhook_DeliveryID=[1]), "Webhook_DeliveryID"),
    (changed(Source_TopLevelFolder=12), "Source_TopLevelFolder"),
    # the same folder, and one inside the other, in the same container
    (changed(Sink_StorageAccount="sequencingcore", Sink_FileSystem="deliveries"),
     "Sink_TopLevelFolder"),
    (changed(Sink_StorageAccount="sequencingcore", Sink_FileSystem="deliveries",
             Sink_TopLevelFolder="jdoe/mouse-rnaseq/copy"), "Sink_TopLevelFolder"),
]


@pytest.mark.parametrize(("payload", "field"), BAD,
                         ids=[f"{n:02d}-{f}" for n, (_, f) in enumerate(BAD)])
def test_invalid_payload_is_400_naming_the_field(delivery_app, payload, field):
    before = delivery_app.instance_count()
    answer = delivery_app.post(payload)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert field in [problem["field"] for problem in body["errors"]], body
    assert field in body["error"]
    assert delivery_app.instance_count() == before


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_body_that_is_not_a_json_object_is_400(delivery_app, raw):
    import requests

    before = delivery_app.instance_count()
    # sent as JSON, as the website does: without a JSON Content-Type the answer is 415
    answer = requests.post(f"{delivery_app.host.base_url}/api/deliveries",
                           params={"code": delivery_app.host.function_key}, data=raw,
                           headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "body"
    assert delivery_app.instance_count() == before


def test_missing_function_key_is_401(delivery_app):
    import requests

    answer = requests.post(f"{delivery_app.host.base_url}/api/deliveries", json=GOOD, timeout=30)
    assert answer.status_code == 401
