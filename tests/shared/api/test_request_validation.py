"""The website's start payload: accepted exactly, refused by field name."""

from __future__ import annotations

import json
import uuid
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from shared.core.request import DeliveryRequest, validation_errors

TRANSFER_UUID = "9f1c6d2e-4b7a-4c1e-8f3d-2a5b6c7d8e9f"


def website_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "Source_StorageAccount": "sequencingcore",
        "Source_FileSystem": "deliveries",
        "Source_TopLevelFolder": "jdoe/mouse-rnaseq",
        "Sink_StorageAccount": "labsmith",
        "Sink_FileSystem": "incoming",
        "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
        "Webhook_DeliveryID": 4321,
        "Webhook_TransferUUID": TRANSFER_UUID,
    }
    payload.update(changes)
    return payload


def test_the_websites_payload_is_accepted_under_its_own_key_names() -> None:
    request = DeliveryRequest.model_validate(website_payload())
    assert request.source_account == "sequencingcore"
    assert request.source_container == "deliveries"
    assert request.source_folder == "jdoe/mouse-rnaseq"
    assert request.sink_account == "labsmith"
    assert request.sink_container == "incoming"
    assert request.sink_folder == "jdoe/mouse-rnaseq"
    assert request.delivery_id == 4321 and isinstance(request.delivery_id, int)
    assert request.transfer_uuid == TRANSFER_UUID


def test_the_transfer_uuid_is_kept_exactly_as_sent_in_either_case() -> None:
    upper = TRANSFER_UUID.upper()
    request = DeliveryRequest.model_validate(website_payload(Webhook_TransferUUID=upper))
    assert request.transfer_uuid == upper
    assert UUID(request.transfer_uuid) == UUID(TRANSFER_UUID)


def test_a_string_delivery_id_is_kept_as_a_string() -> None:
    request = DeliveryRequest.model_validate(website_payload(Webhook_DeliveryID="4321"))
    assert request.delivery_id == "4321" and isinstance(request.delivery_id, str)


def test_extra_keys_are_ignored_and_a_trailing_slash_is_dropped() -> None:
    request = DeliveryRequest.model_validate(
        website_payload(Sink_TopLevelFolder="lab/incoming-run/", Something_New="x")
    )
    assert request.sink_folder == "lab/incoming-run"


def test_same_container_is_fine_when_the_folders_are_apart() -> None:
    request = DeliveryRequest.model_validate(
        website_payload(
            Sink_StorageAccount="sequencingcore",
            Sink_FileSystem="deliveries",
            Sink_TopLevelFolder="jdoe/mouse-rnaseq-delivered",
        )
    )
    assert request.sink_folder == "jdoe/mouse-rnaseq-delivered"


def test_the_same_folder_in_another_account_or_container_is_fine() -> None:
    DeliveryRequest.model_validate(website_payload(Sink_StorageAccount="sequencingcore"))
    DeliveryRequest.model_validate(website_payload(Sink_FileSystem="deliveries"))


@pytest.mark.filterwarnings("ignore:azure.functions Durable JSON codec:DeprecationWarning")
@pytest.mark.parametrize("strict", ["1", ""])
def test_durable_round_trip_through_the_functions_codec(
    strict: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.functions._durable_functions import df_dumps, df_loads

    monkeypatch.setenv("AZURE_FUNCTIONS_DURABLE_STRICT_TYPING", strict)
    for delivery_id in (4321, "D-4321"):
        request = DeliveryRequest.model_validate(website_payload(Webhook_DeliveryID=delivery_id))
        carried = df_loads(df_dumps(request), expected_type=DeliveryRequest)
        assert carried == request
        assert carried.delivery_id == delivery_id
    assert json.loads(df_dumps(request))["__data__"]["sink_folder"] == "jdoe/mouse-rnaseq"


INVALID_PAYLOADS: list[tuple[str, dict[str, Any], str]] = [
    ("account too short", website_payload(Source_StorageAccount="ab"), "Source_StorageAccount"),
    ("account too long", website_payload(Sink_StorageAccount="a" * 25), "Sink_StorageAccount"),
    ("account upper case", website_payload(Source_StorageAccount="SequencingCore"),
     "Source_StorageAccount"),
    ("account with hyphen", website_payload(Sink_StorageAccount="lab-smith"),
     "Sink_StorageAccount"),
    ("account not a string", website_payload(Source_StorageAccount=12345),
     "Source_StorageAccount"),
    ("container too short", website_payload(Source_FileSystem="ab"), "Source_FileSystem"),
    ("container upper case", website_payload(Sink_FileSystem="Incoming"), "Sink_FileSystem"),
    ("container double hyphen", website_payload(Sink_FileSystem="in--coming"),
     "Sink_FileSystem"),
    ("container starts with hyphen", website_payload(Source_FileSystem="-deliveries"),
     "Source_FileSystem"),
    ("container ends with hyphen", website_payload(Sink_FileSystem="incoming-"),
     "Sink_FileSystem"),
    ("container too long", website_payload(Sink_FileSystem="c" * 64), "Sink_FileSystem"),
    ("container $root", website_payload(Sink_FileSystem="$root"), "Sink_FileSystem"),
    ("folder absolute", website_payload(Source_TopLevelFolder="/jdoe/mouse"),
     "Source_TopLevelFolder"),
    ("folder with ..", website_payload(Sink_TopLevelFolder="jdoe/../other"),
     "Sink_TopLevelFolder"),
    ("folder with .", website_payload(Source_TopLevelFolder="jdoe/./mouse"),
     "Source_TopLevelFolder"),
    ("folder with empty segment", website_payload(Sink_TopLevelFolder="jdoe//mouse"),
     "Sink_TopLevelFolder"),
    ("folder empty", website_payload(Source_TopLevelFolder=""), "Source_TopLevelFolder"),
    ("folder only a slash", website_payload(Sink_TopLevelFolder="/"), "Sink_TopLevelFolder"),
    ("folder with newline", website_payload(Source_TopLevelFolder="jdoe/mouse\nrnaseq"),
     "Source_TopLevelFolder"),
    ("folder with tab", website_payload(Sink_TopLevelFolder="jdoe/mouse\trnaseq"),
     "Sink_TopLevelFolder"),
    ("folder with backslash", website_payload(Sink_TopLevelFolder="jdoe\\mouse"),
     "Sink_TopLevelFolder"),
    ("folder too long", website_payload(Source_TopLevelFolder="a/" * 512 + "b"),
     "Source_TopLevelFolder"),
    ("folder not a string", website_payload(Sink_TopLevelFolder=["jdoe"]),
     "Sink_TopLevelFolder"),
    ("sink is the source", website_payload(Sink_StorageAccount="sequencingcore",
                                           Sink_FileSystem="deliveries"),
     "Sink_TopLevelFolder"),
    ("sink inside the source", website_payload(Sink_StorageAccount="sequencingcore",
                                               Sink_FileSystem="deliveries",
                                               Sink_TopLevelFolder="jdoe/mouse-rnaseq/out"),
     "Sink_TopLevelFolder"),
    ("source inside the sink", website_payload(Sink_StorageAccount="sequencingcore",
                                               Sink_FileSystem="deliveries",
                                               Sink_TopLevelFolder="jdoe"),
     "Sink_TopLevelFolder"),
    ("delivery id missing", {k: v for k, v in website_payload().items()
                             if k != "Webhook_DeliveryID"}, "Webhook_DeliveryID"),
    ("delivery id boolean", website_payload(Webhook_DeliveryID=True), "Webhook_DeliveryID"),
    ("delivery id empty", website_payload(Webhook_DeliveryID="  "), "Webhook_DeliveryID"),
    ("delivery id object", website_payload(Webhook_DeliveryID={"id": 1}), "Webhook_DeliveryID"),
    ("delivery id float", website_payload(Webhook_DeliveryID=43.21), "Webhook_DeliveryID"),
    ("delivery id whole float", website_payload(Webhook_DeliveryID=1e3), "Webhook_DeliveryID"),
    ("delivery id zero", website_payload(Webhook_DeliveryID=0), "Webhook_DeliveryID"),
    ("delivery id negative", website_payload(Webhook_DeliveryID=-1), "Webhook_DeliveryID"),
    ("delivery id over 2**63-1", website_payload(Webhook_DeliveryID=2**63), "Webhook_DeliveryID"),
    ("delivery id with a space", website_payload(Webhook_DeliveryID="D 4321"),
     "Webhook_DeliveryID"),
    ("delivery id with a slash", website_payload(Webhook_DeliveryID="D/4321"),
     "Webhook_DeliveryID"),
    ("delivery id too long", website_payload(Webhook_DeliveryID="d" * 65), "Webhook_DeliveryID"),
    ("delivery id lone surrogate", website_payload(Webhook_DeliveryID="43\ud80021"),
     "Webhook_DeliveryID"),
    ("uuid in braces", website_payload(Webhook_TransferUUID="{" + TRANSFER_UUID + "}"),
     "Webhook_TransferUUID"),
    ("uuid as urn", website_payload(Webhook_TransferUUID="urn:uuid:" + TRANSFER_UUID),
     "Webhook_TransferUUID"),
    ("uuid without hyphens", website_payload(Webhook_TransferUUID=TRANSFER_UUID.replace("-", "")),
     "Webhook_TransferUUID"),
    ("folder with bidi override", website_payload(Sink_TopLevelFolder="jdoe/\u202egnp.exe"),
     "Sink_TopLevelFolder"),
    ("folder with bidi isolate", website_payload(Source_TopLevelFolder="jdoe/\u2066x\u2069"),
     "Source_TopLevelFolder"),
    ("folder with zero-width space", website_payload(Sink_TopLevelFolder="jdoe/mo\u200buse"),
     "Sink_TopLevelFolder"),
    ("folder with BOM", website_payload(Sink_TopLevelFolder="\ufeffjdoe/mouse"),
     "Sink_TopLevelFolder"),
    ("folder with C1 control", website_payload(Sink_TopLevelFolder="jdoe/\x85mouse"),
     "Sink_TopLevelFolder"),
    ("folder with lone surrogate", website_payload(Source_TopLevelFolder="jdoe/\udc80"),
     "Source_TopLevelFolder"),
    ("uuid not a uuid", website_payload(Webhook_TransferUUID="not-a-uuid"),
     "Webhook_TransferUUID"),
    ("uuid a number", website_payload(Webhook_TransferUUID=1234), "Webhook_TransferUUID"),
    ("uuid missing", {k: v for k, v in website_payload().items()
                      if k != "Webhook_TransferUUID"}, "Webhook_TransferUUID"),
    ("source account missing", {k: v for k, v in website_payload().items()
                                if k != "Source_StorageAccount"}, "Source_StorageAccount"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "bad_field"),
    [(payload, bad_field) for _, payload, bad_field in INVALID_PAYLOADS],
    ids=[case for case, _, _ in INVALID_PAYLOADS],
)
def test_an_invalid_payload_names_each_bad_field(payload: dict[str, Any], bad_field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DeliveryRequest.model_validate(payload)
    problems = validation_errors(raised.value)
    assert [problem["field"] for problem in problems] == [bad_field], problems
    assert all(problem["message"] for problem in problems)
    json.dumps(problems)  # the HTTP layer sends them as they are


def test_every_bad_field_is_named_at_once() -> None:
    payload = website_payload(
        Source_StorageAccount="X", Sink_FileSystem="no", Webhook_TransferUUID="nope"
    )
    del payload["Sink_TopLevelFolder"]
    with pytest.raises(ValidationError) as raised:
        DeliveryRequest.model_validate(payload)
    fields = {problem["field"] for problem in validation_errors(raised.value)}
    assert fields == {
        "Source_StorageAccount",
        "Sink_FileSystem",
        "Sink_TopLevelFolder",
        "Webhook_TransferUUID",
    }


def test_a_body_that_is_not_an_object_is_named_body() -> None:
    with pytest.raises(ValidationError) as raised:
        DeliveryRequest.model_validate([website_payload()])
    assert validation_errors(raised.value) == [
        {"field": "body", "message": "must be a JSON object"}
    ]


def test_the_request_holds_no_secret_and_round_trips_from_snake_case() -> None:
    payload = website_payload(Webhook_TransferUUID=str(uuid.uuid4()))
    request = DeliveryRequest.model_validate(payload)
    assert DeliveryRequest.from_json(request.to_json()) == request
    assert set(request.to_json()) == {
        "source_account", "source_container", "source_folder",
        "sink_account", "sink_container", "sink_folder", "delivery_id", "transfer_uuid",
    }  # fmt: skip
