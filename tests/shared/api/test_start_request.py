"""The start request at the door: content type, size, encoding, depth, surrogates, allow-lists.

Each refusal is a RequestRefused with the HTTP status to answer and the problems by field.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.api.start_request import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    RequestRefused,
    json_depth_exceeds,
    parse_start_request,
)
from shared.core.access import AccessList, AccessPolicy

POLICY = AccessPolicy(sources=AccessList.parse("sequencingcore"),
                      sinks=AccessList.parse("labsmith/incoming,otherlab"),
                      work_account="devstoreaccount1")
GOOD: dict[str, Any] = {
    "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
    "Source_TopLevelFolder": "jdoe/mouse-rnaseq",
    "Sink_StorageAccount": "labsmith", "Sink_FileSystem": "incoming",
    "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
    "Webhook_DeliveryID": 4321, "Webhook_TransferUUID": "9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10",
}


def body(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def refusal(content_type: str | None, raw: bytes) -> RequestRefused:
    with pytest.raises(RequestRefused) as raised:
        parse_start_request(content_type, raw, POLICY)
    json.dumps(raised.value.body())  # always sendable as it is
    return raised.value


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON",
                                          "application/json; charset=utf-8",
                                          'application/json;charset="UTF-8"'])
def test_what_the_website_sends_is_accepted(content_type: str) -> None:
    request = parse_start_request(content_type, body(), POLICY)
    assert request.delivery_id == 4321 and request.sink_account == "labsmith"


@pytest.mark.parametrize("content_type", [None, "", "text/plain",
                                          "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1",
                                          "application/jsonp"])
def test_another_content_type_is_415(content_type: str | None) -> None:
    refused = refusal(content_type, body())
    assert refused.status == 415 and refused.problems[0]["field"] == "Content-Type"


def test_a_body_over_the_limit_is_413() -> None:
    padded = body(Padding="x" * MAX_BODY_BYTES)
    refused = refusal("application/json", padded)
    assert refused.status == 413 and refused.problems[0]["field"] == "body"


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"a": "\xc3"}', b"", b"nope", b"[1]", b"null",
                                 b"[" * 100_000, b'{"a":' * 5_000, b"9" * 5_000])
def test_a_body_that_is_not_one_json_object_is_400_body(raw: bytes) -> None:
    refused = refusal("application/json", raw)
    assert refused.status in (400, 413) and refused.problems[0]["field"] == "body"


def test_depth_is_counted_outside_strings_only() -> None:
    assert not json_depth_exceeds('{"a": "[[[[[[[[[[[[[[[[[[[[\\"[[["}', MAX_JSON_DEPTH)
    assert json_depth_exceeds("[" * (MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)
    assert not json_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, MAX_JSON_DEPTH)


def test_a_lone_surrogate_is_refused_where_it_stands() -> None:
    raw = body().replace(b'"jdoe/mouse-rnaseq"', b'"jdoe/\\udc80"', 1)
    assert refusal("application/json", raw).problems == [
        {"field": "Source_TopLevelFolder",
         "message": "must be valid Unicode text (it holds a lone surrogate)"}]
    extra_key = json.dumps({**GOOD, "Note": ["\ud800"]}).encode()
    assert refusal("application/json", extra_key).problems[0]["field"] == "body"
    in_a_key = json.dumps({**GOOD, "\udfff": 1}).encode()
    assert refusal("application/json", in_a_key).problems[0]["field"] == "body"


@pytest.mark.parametrize(("changes", "field"), [
    ({"Source_StorageAccount": "othercore"}, "Source_StorageAccount"),
    ({"Source_StorageAccount": "labsmith"}, "Source_StorageAccount"),
    ({"Sink_StorageAccount": "sequencingcore"}, "Sink_StorageAccount"),
    ({"Sink_FileSystem": "private"}, "Sink_FileSystem"),
    ({"Source_StorageAccount": "devstoreaccount1"}, "Source_StorageAccount"),
])
def test_accounts_and_containers_outside_the_allow_lists_are_400(changes: dict[str, str],
                                                                 field: str) -> None:
    refused = refusal("application/json", body(**changes))
    assert refused.status == 400 and [p["field"] for p in refused.problems] == [field]


def test_the_work_account_is_refused_even_when_a_list_names_it() -> None:
    listed = AccessPolicy(sources=AccessList.parse("sequencingcore,devstoreaccount1"),
                          sinks=AccessList.parse("labsmith,devstoreaccount1"),
                          work_account="devstoreaccount1")
    for side in ("Source", "Sink"):
        with pytest.raises(RequestRefused) as raised:
            parse_start_request("application/json",
                                body(**{f"{side}_StorageAccount": "devstoreaccount1"}), listed)
        assert raised.value.problems[0]["field"] == f"{side}_StorageAccount"
        assert "own storage account" in raised.value.problems[0]["message"]


def test_any_container_of_an_account_listed_alone_is_allowed() -> None:
    request = parse_start_request("application/json",
                                  body(Sink_StorageAccount="otherlab", Sink_FileSystem="anything"),
                                  POLICY)
    assert request.sink_account == "otherlab"


def test_an_account_outside_the_lists_is_named_with_the_other_bad_fields() -> None:
    refused = refusal("application/json",
                      body(Sink_StorageAccount="devstoreaccount1", Webhook_TransferUUID="nope",
                           Source_FileSystem="Bad_Name"))
    assert {p["field"] for p in refused.problems} == {
        "Sink_StorageAccount", "Webhook_TransferUUID", "Source_FileSystem"}
