"""Hostile fields of POST /api/deliveries and ids of GET /api/deliveries/{id}, hand-picked: one
field wrong (400 naming exactly that field), delivery id forms, missing fields, overlapping
folders, what the website sends (202), impossible and unknown ids; the contract is in
`tests/e2e/hostile.py`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import requests

if TYPE_CHECKING:
    from tests.e2e.conftest import DeliveryApp

from tests.e2e.hostile import (
    BIDI,
    BOM,
    FIELDS,
    FOLDER_FIELDS,
    GOOD,
    JSON,
    MAX_BODY,
    SINK_ACCOUNT,
    SOURCE_ACCOUNT,
    WORK_ACCOUNT,
    ZERO_WIDTH,
    check_accepted,
    encode,
    payload,
    refusal_fields,
    refused,
    send,
    with_raw_value,
)


# ----- hand-picked: one field wrong (400 naming exactly that field) -----------------------------
def case(field: str, value: Any, name: str) -> Any:
    return pytest.param(field, value, id=f"{field}-{name}")


STRING_FIELDS = [f for f in FIELDS if f != "Webhook_DeliveryID"]
WRONG_FIELDS = [
    # a lone surrogate in any field's value
    *(case(f, s, f"surrogate-{ord(s):x}") for f in FIELDS for s in ("\ud800", "\udfff")),
    *(case(f, f"{GOOD[f]}\udc00", "trailing-surrogate") for f in STRING_FIELDS),
    case("Source_TopLevelFolder", "jdoe/\ud800/mouse", "surrogate-segment"),
    case("Webhook_DeliveryID", "12\ud83d", "high-surrogate-in-token"),
    # wrong JSON types
    *(case(f, v, n) for f in STRING_FIELDS
      for n, v in (("int", 12), ("true", True), ("null", None), ("list", [GOOD[f]]),
                   ("object", {"value": GOOD[f]}), ("float", 1.5))),
    # account names
    case("Source_StorageAccount", "ab", "too-short"),
    case("Source_StorageAccount", "a" * 25, "too-long"),
    case("Source_StorageAccount", "Sequencingcore", "uppercase"),
    case("Source_StorageAccount", "sequencing-core", "hyphen"),
    case("Source_StorageAccount", "", "empty"),
    case("Source_StorageAccount", " sequencingcore", "leading-space"),
    case("Source_StorageAccount", "sequencingcore\n", "trailing-newline"),
    case("Source_StorageAccount", "ｓｅｑｕｅｎｃｉｎｇｃｏｒｅ", "fullwidth"),
    case("Source_StorageAccount", "\u0455equencingcore", "cyrillic-s"),
    case("Sink_StorageAccount", "labsmith\u200b", "zero-width"),
    case("Sink_StorageAccount", "lab smith", "space"),
    case("Sink_StorageAccount", "labsmith.blob.core.windows.net", "host-name"),
    # allow-lists: another account, the app's own, or the other side's
    case("Source_StorageAccount", "otheraccount", "not-allowed"),
    case("Source_StorageAccount", WORK_ACCOUNT, "work-account"),
    case("Source_StorageAccount", SINK_ACCOUNT, "the-sink"),
    case("Sink_StorageAccount", "otheraccount", "not-allowed"),
    case("Sink_StorageAccount", WORK_ACCOUNT, "work-account"),
    case("Sink_StorageAccount", SOURCE_ACCOUNT, "the-source"),
    # container names
    case("Source_FileSystem", "ab", "too-short"),
    case("Source_FileSystem", "a" * 64, "too-long"),
    case("Source_FileSystem", "-deliveries", "leading-hyphen"),
    case("Source_FileSystem", "deliveries-", "trailing-hyphen"),
    case("Source_FileSystem", "deli--veries", "double-hyphen"),
    case("Source_FileSystem", "Deliveries", "uppercase"),
    case("Sink_FileSystem", "in_coming", "underscore"),
    case("Sink_FileSystem", "in.coming", "dot"),
    case("Sink_FileSystem", "", "empty"),
    case("Sink_FileSystem", "incoming/x", "slash"),
    case("Sink_FileSystem", "incoming\ufeff", "bom"),
    case("Sink_FileSystem", "\u0131ncoming", "dotless-i"),
    # folder names, both sides
    *(case(f, v, n) for f in FOLDER_FIELDS for n, v in (
        ("empty", ""), ("slash", "/"), ("leading-slash", "/jdoe/mouse"),
        ("double-slash", "jdoe//m"),
        ("dot", "."), ("dot-segment", "jdoe/./m"), ("dot-last", "jdoe/."),
        ("dotdot", ".."), ("dotdot-segment", "jdoe/../m"), ("dotdot-last", "jdoe/.."),
        ("backslash", "jdoe\\mouse"), ("1025-chars", "a" * 1025),
        ("1025-chars-in-segments", ("abcdefg/" * 129)[:1025]))),
    *(case(f, f"jdoe/mo{c}use", f"char-{ord(c):04x}") for f in FOLDER_FIELDS
      for c in ("\x00", "\x09", "\x0a", "\x0d", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f",
                *BIDI, *ZERO_WIDTH, BOM)),
    case("Source_TopLevelFolder", "\u202ejdoe/mouse", "bidi-first"),
    case("Sink_TopLevelFolder", "jdoe/mouse\u2069", "bidi-last"),
    case("Source_TopLevelFolder", "\ufeffjdoe/mouse", "bom-first"),
    case("Sink_TopLevelFolder", "jdoe/mouse\x00", "nul-last"),
    # the delivery id: a positive integer or a short printable token
    *(case("Webhook_DeliveryID", v, n) for n, v in (
        ("true", True), ("false", False), ("null", None), ("zero", 0), ("minus-one", -1),
        ("fraction", 1.5), ("exponent", 1e3), ("float-one", 1.0), ("two-pow-63", 2**63),
        ("huge", 10**30), ("list", [1]), ("object", {"id": 1}), ("empty", ""), ("space", " "),
        ("leading-hyphen", "-12"), ("leading-dot", ".12"), ("inner-space", "12 34"),
        ("leading-space", " 12"), ("newline", "12\n"), ("slash", "12/34"), ("colon", "12:34"),
        ("non-ascii", "é12"), ("65-chars", "a" * 65), ("nul", "12\x00"),
        ("bidi", "12\u202e34"), ("zero-width", "12\u200b"), ("emoji", "12\U0001f9ec"))),
    # the transfer UUID: 8-4-4-4-12 hex, any case, nothing around it
    *(case("Webhook_TransferUUID", v, n) for n, v in (
        ("words", "not-a-uuid"), ("empty", ""), ("int", 123),
        ("braces", "{9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10}"),
        ("urn", "urn:uuid:9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10"),
        ("no-hyphens", "9f1c4b9e3c1a4b1e9d612b0f8d7e5a10"),
        ("hyphens-moved", "9f1c4b9e3-c1a-4b1e-9d61-2b0f8d7e5a10"),
        ("too-short", "9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a1"),
        ("too-long", "9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a100"),
        ("non-hex", "9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a1g"),
        ("leading-space", " 9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10"),
        ("trailing-newline", "9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10\n"),
        ("fullwidth-digit", "９f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10"),
        ("list", ["9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10"]))),
]


@pytest.mark.parametrize(("field", "value"), WRONG_FIELDS)
def test_wrong_field_is_400_naming_that_field(delivery_app: DeliveryApp, field: str,
                                              value: Any) -> None:
    body = encode(payload(**{field: value}))
    assert refused(delivery_app, lambda: send(delivery_app, body)) == {field}


ID = "Webhook_DeliveryID"
# the delivery id's JSON text exactly as sent; the fields a refusal may name. NaN and Infinity
# are not JSON (a parser may refuse the body, or read a float the field check refuses), nor
# is a 5,000-digit integer beyond some parsers' limits.
RAW_IDS = [
    pytest.param(b"1e3", {ID}, id="1e3"), pytest.param(b"1E3", {ID}, id="1E3"),
    pytest.param(b"1.0", {ID}, id="1.0"), pytest.param(b"-0", {ID}, id="minus-zero"),
    pytest.param(b"0.0", {ID}, id="0.0"), pytest.param(b"1e400", {ID}, id="1e400"),
    pytest.param(b"-1e400", {ID}, id="minus-1e400"),
    pytest.param(b"9223372036854775808", {ID}, id="two-pow-63"),
    pytest.param(b"100000000000000000000", {ID}, id="1e20-as-integer"),
    pytest.param(b"NaN", {ID, "body"}, id="NaN"),
    pytest.param(b"Infinity", {ID, "body"}, id="Infinity"),
    pytest.param(b"-Infinity", {ID, "body"}, id="minus-Infinity"),
    pytest.param(b"1" * 5000, {ID, "body"}, id="5000-digits"),
    pytest.param(b"01", {"body"}, id="leading-zero"), pytest.param(b"+1", {"body"}, id="plus"),
    pytest.param(b"0x10", {"body"}, id="hex"), pytest.param(b".5", {"body"}, id="bare-fraction"),
]


@pytest.mark.parametrize(("raw", "names"), RAW_IDS)
def test_delivery_id_number_forms(delivery_app: DeliveryApp, raw: bytes, names: set[str]) -> None:
    body = with_raw_value(ID, raw)
    fields = refused(delivery_app, lambda: send(delivery_app, body))
    assert fields <= names and len(fields) == 1, fields


@pytest.mark.parametrize("field", FIELDS)
def test_missing_field_is_400_naming_it(delivery_app: DeliveryApp, field: str) -> None:
    body = encode(payload(**{field: ...}))
    assert refused(delivery_app, lambda: send(delivery_app, body)) == {field}


def test_every_bad_field_is_named(delivery_app: DeliveryApp) -> None:
    body = encode({"Source_StorageAccount": "x", "Source_FileSystem": "X",
                   "Source_TopLevelFolder": "/", "Sink_StorageAccount": WORK_ACCOUNT,
                   "Sink_FileSystem": "a--b", "Sink_TopLevelFolder": "a\u202eb",
                   "Webhook_DeliveryID": True, "Webhook_TransferUUID": "{}"})
    assert refused(delivery_app, lambda: send(delivery_app, body)) == set(FIELDS)


OVERLAPS = [
    pytest.param("jdoe/mouse-rnaseq", id="same-folder"),
    pytest.param("jdoe/mouse-rnaseq/copy", id="sink-inside-source"),
    pytest.param("jdoe", id="source-inside-sink"),
]


@pytest.mark.parametrize("sink_folder", OVERLAPS)
def test_overlapping_folders_are_refused(delivery_app: DeliveryApp, sink_folder: str) -> None:
    body = encode(payload(Sink_StorageAccount=SOURCE_ACCOUNT, Sink_FileSystem="deliveries",
                          Sink_TopLevelFolder=sink_folder))
    fields = refused(delivery_app, lambda: send(delivery_app, body))
    assert "Sink_TopLevelFolder" in fields
    assert fields <= {"Sink_TopLevelFolder", "Sink_StorageAccount"}


def test_a_sibling_folder_is_not_an_overlap(delivery_app: DeliveryApp) -> None:
    """`jdoe/mouse-rnaseq-2` starts with the source folder's name but is not inside it: only
    the sink account (not an allowed sink) is wrong."""
    body = encode(payload(Sink_StorageAccount=SOURCE_ACCOUNT, Sink_FileSystem="deliveries",
                          Sink_TopLevelFolder="jdoe/mouse-rnaseq-2"))
    assert refused(delivery_app, lambda: send(delivery_app, body)) == {"Sink_StorageAccount"}


# ----- hand-picked: what the website sends, and other good requests (202) ----------------------
def _website_exact(app: DeliveryApp, good: dict[str, Any]) -> requests.Response:
    return app.post(good)  # requests.post(url, json=payload), as the website does


ACCEPTED: list[Any] = [
    pytest.param({}, _website_exact, id="website-exact"),
    pytest.param({"upper_uuid": True}, None, id="uppercase-uuid"),
    pytest.param({"delivery_id": "D4S2-delivery_7.a"}, None, id="token-delivery-id"),
    pytest.param({"delivery_id": "a" + "b" * 63}, None, id="64-char-token"),
    pytest.param({"delivery_id": 2**63 - 1}, None, id="largest-integer-id"),
    pytest.param({"content_type": "application/json; charset=utf-8"}, None, id="charset"),
    pytest.param({"content_type": "Application/JSON"}, None, id="content-type-case"),
    pytest.param({"content_type": "APPLICATION/JSON;CHARSET=UTF-8"}, None, id="upper-charset"),
    pytest.param({"size": MAX_BODY}, None, id="body-of-exactly-16-KiB"),
    pytest.param({"folder": "netid/run-\U0001f9ec-Müller"}, None, id="non-bmp-folder"),
]


@pytest.mark.parametrize(("how", "sender"), ACCEPTED)
def test_good_request_is_202_with_no_key_in_the_answer(
        delivery_app: DeliveryApp, how: dict[str, Any],
        sender: Callable[[DeliveryApp, dict[str, Any]], requests.Response] | None) -> None:
    folder = how.get("folder")
    if folder:
        folder = f"{folder}-{uuid.uuid4().hex[:8]}"
    delivery = delivery_app.new_delivery({"a.txt": b"hello\n"}, folder=folder,
                                         delivery_id=how.get("delivery_id"))
    good = delivery.payload
    if how.get("upper_uuid"):  # the website would know the attempt by this UUID, as sent
        good["Webhook_TransferUUID"] = good["Webhook_TransferUUID"].upper()
        delivery_app.website.expect(good["Webhook_DeliveryID"], good["Webhook_TransferUUID"])
    body = encode(good)
    if "size" in how:
        body += b" " * (how["size"] - len(body))

    def post() -> requests.Response:
        if sender is not None:
            return sender(delivery_app, good)
        return send(delivery_app, body, how.get("content_type", JSON))

    instance_id = check_accepted(delivery_app, post())
    # the same request again is the same delivery, and its answer holds no key either
    assert check_accepted(delivery_app, post()) == instance_id
    delivery.instance_id = instance_id
    delivery_app.wait(delivery)  # nothing left running behind the tests that count instances
    # delivered and reported once, with the delivery id and transfer UUID exactly as sent
    assert delivery.view is not None and delivery.view["phase"] == "delivered", delivery.view
    (post,) = delivery_app.posts_for(delivery)
    assert post["status"] == 200
    assert post["body"]["transfer_uuid"] == good["Webhook_TransferUUID"]
    assert post["body"]["delivery_id"] == good["Webhook_DeliveryID"]



# ----- hand-picked: GET /api/deliveries/{id} ----------------------------------------------------
# path segments as sent (already percent-encoded); the id the app sees is their decoding
BAD_IDS = [
    pytest.param("a%20b", id="space"), pytest.param("a%22b", id="quote"),
    pytest.param("a'b", id="apostrophe"), pytest.param("%3Cscript%3E", id="angle-brackets"),
    pytest.param("a;b", id="semicolon"), pytest.param("a,b", id="comma"),
    pytest.param("a*b", id="star"), pytest.param("a+b", id="plus"),
    pytest.param("a=b", id="equals"),
    pytest.param("a~b", id="tilde"), pytest.param("a!b", id="bang"), pytest.param("a@b", id="at"),
    pytest.param("a$b", id="dollar"), pytest.param("(a)", id="parentheses"),
    pytest.param("a%25b", id="percent"), pytest.param("a%3Fb", id="question-mark"),
    pytest.param("a%23b", id="hash"), pytest.param("a%5Cb", id="backslash"),
    pytest.param("a%00b", id="nul"), pytest.param("a%0Ab", id="newline"),
    pytest.param("a%7Fb", id="del"), pytest.param("%E2%80%AEabc", id="bidi"),
    pytest.param("caf%C3%A9", id="non-ascii"), pytest.param("a%F0%9F%A7%ACb", id="emoji"),
    pytest.param("a%FFb", id="invalid-utf8"), pytest.param("a%ZZb", id="bad-percent"),
    pytest.param("%EF%BB%BFabc", id="bom"),
    pytest.param("a" * 257, id="257-chars"), pytest.param("a" * 5000, id="5000-chars"),
    pytest.param(f"delivery-1-{GOOD['Webhook_TransferUUID']}%0D%0AX-Injected:%201",
                 id="header-injection"),
]
UNKNOWN_IDS = [
    pytest.param("delivery-1-9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10", id="delivery-shaped"),
    pytest.param("a" * 256, id="256-chars"),
    pytest.param("A.b_c-d:e", id="every-allowed-punctuation"),
    pytest.param("0", id="one-digit"),
]


def get_status(app: DeliveryApp, segment: str) -> requests.Response:
    return requests.get(f"{app.host.base_url}/api/deliveries/{segment}",
                        params={"code": app.host.function_key}, timeout=60)


@pytest.mark.parametrize("segment", BAD_IDS)
def test_status_of_an_impossible_id_is_400_naming_id(delivery_app: DeliveryApp,
                                                     segment: str) -> None:
    answer = get_status(delivery_app, segment)
    assert refusal_fields(answer, 400, allowed={"id"}) == {"id"}
    assert "X-Injected" not in answer.headers


@pytest.mark.parametrize("segment", UNKNOWN_IDS)
def test_status_of_an_unknown_id_is_404_json(delivery_app: DeliveryApp, segment: str) -> None:
    answer = get_status(delivery_app, segment)
    assert answer.status_code == 404, answer.text
    assert answer.headers.get("Content-Type", "").lower().startswith(JSON)
    body = answer.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
