"""Hostile requests to POST /api/deliveries and GET /api/deliveries/{id}, over HTTP, against
the real app in devhost (fixture `delivery_app`, allowed source `sequencingcore`, allowed sink
`labsmith`).

The contract proved here: never a 5xx; every 4xx is JSON `{"error": sentence, "errors":
[{"field", "message"}, ...]}` naming the website's key (or "body", "Content-Type"), and starts
nothing (the instance list is unchanged); what the website sends today still gets a 202 whose
body and headers hold no key. Hand-picked cases first, then Hypothesis-generated bodies
(derandomized, so CI runs the same examples every time).

Bodies are sent as exact bytes; JSON is written with `ensure_ascii=True`, so a lone surrogate
travels as a `\\ud800` escape.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

if TYPE_CHECKING:
    from tests.e2e.conftest import DeliveryApp

JSON = "application/json"
MAX_BODY = 16 * 1024
SOURCE_ACCOUNT, SINK_ACCOUNT, WORK_ACCOUNT = "sequencingcore", "labsmith", "devstoreaccount1"
FIELDS = ("Source_StorageAccount", "Source_FileSystem", "Source_TopLevelFolder",
          "Sink_StorageAccount", "Sink_FileSystem", "Sink_TopLevelFolder",
          "Webhook_DeliveryID", "Webhook_TransferUUID")
NAMEABLE = {*FIELDS, "body", "Content-Type"}
FOLDER_FIELDS = ("Source_TopLevelFolder", "Sink_TopLevelFolder")
GOOD: dict[str, Any] = {
    "Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": "deliveries",
    "Source_TopLevelFolder": "jdoe/mouse-rnaseq",
    "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": "incoming",
    "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
    "Webhook_DeliveryID": 4321, "Webhook_TransferUUID": "9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10",
}

# characters the contract refuses anywhere in a folder name
C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)]
ZERO_WIDTH = [chr(c) for c in (0x200B, 0x200C, 0x200D, 0x2060)]
BOM = "\ufeff"
FORBIDDEN_IN_FOLDER = {*C0, "\x7f", *C1, *BIDI, *ZERO_WIDTH, BOM}
LONE_SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]


# ----- sending and checking -------------------------------------------------------------------
def payload(**changes: Any) -> dict[str, Any]:
    """The good payload with some fields changed (`...` removes one), and a fresh transfer UUID
    unless the UUID is among the changes, so that a wrongly accepted request starts a new
    instance and shows in the instance count."""
    result = {**GOOD, "Webhook_TransferUUID": str(uuid.uuid4())}
    for key, value in changes.items():
        if value is ...:
            result.pop(key)
        else:
            result[key] = value
    return result


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=True).encode("ascii")


def send(app: DeliveryApp, body: bytes, content_type: str | None = JSON) -> requests.Response:
    """POST exactly these bytes, with this Content-Type (None: no Content-Type header)."""
    headers = {"user-agent": "duke-data-delivery/2.0.0"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.post(f"{app.host.base_url}/api/deliveries",
                         params={"code": app.host.function_key}, data=body, headers=headers,
                         timeout=60)


def refusal_fields(answer: requests.Response, statuses: int | set[int] = 400,
                   allowed: set[str] = NAMEABLE) -> set[str]:
    """Check a refusal's shape; the set of fields it names."""
    statuses = {statuses} if isinstance(statuses, int) else statuses
    assert answer.status_code in statuses, f"{answer.status_code}: {answer.text[:600]}"
    assert answer.headers.get("Content-Type", "").lower().startswith(JSON), answer.headers
    body = answer.json()
    assert isinstance(body, dict), body
    assert isinstance(body.get("error"), str) and body["error"].strip(), body
    errors = body.get("errors")
    assert isinstance(errors, list) and errors, body
    for problem in errors:
        assert isinstance(problem, dict), body
        assert isinstance(problem.get("field"), str), body
        assert isinstance(problem.get("message"), str) and problem["message"].strip(), body
        assert problem["field"] in allowed, body
    fields = {problem["field"] for problem in errors}
    for field in fields:  # the sentence names each bad field
        assert field.lower() in body["error"].lower(), body
    return fields


def refused(app: DeliveryApp, request: Callable[[], requests.Response],
            statuses: int | set[int] = 400) -> set[str]:
    """Send, check the refusal's shape and that nothing started; the fields it names."""
    before = app.instance_count()
    answer = request()
    fields = refusal_fields(answer, statuses)
    assert app.instance_count() == before, f"a refused request started an instance: {fields}"
    return fields


def master_key(app: DeliveryApp) -> str:
    key = getattr(app.host, "master_key", None)
    if not key:  # devhost writes the keys it generated next to its state
        key = json.loads((Path(app.host.state_dir) / "keys.json").read_text())["masterKey"]
    assert isinstance(key, str) and key
    return key


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def check_accepted(app: DeliveryApp, answer: requests.Response) -> str:
    """A 202 with the instance id and the key-less status URL, and no key anywhere."""
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert isinstance(body, dict), body
    instance_id = body["id"]
    assert isinstance(instance_id, str) and re.fullmatch(r"[A-Za-z0-9._:-]{1,256}", instance_id)
    status_uri = body["deliveryStatusUri"]
    parts = urlsplit(status_uri)
    assert f"{parts.scheme}://{parts.netloc}" == app.host.base_url, status_uri
    assert parts.path == f"/api/deliveries/{instance_id}", status_uri
    assert not parts.query and not parts.fragment, status_uri
    assert answer.headers.get("Location") == status_uri, answer.headers
    keys = [app.host.function_key, app.host.system_key, master_key(app)]
    texts = [answer.text, *strings_in(body),
             *(f"{name}: {value}" for name, value in answer.headers.items())]
    for text in texts:
        for key in keys:
            assert key not in text, f"a key in the 202 answer: {text[:300]}"
        assert "code=" not in text.lower(), text[:300]
        assert "/runtime/webhooks/durabletask" not in text.lower(), text[:300]
    view = requests.get(status_uri, headers={"x-functions-key": app.host.function_key},
                        timeout=60)
    assert view.status_code == 200, view.text
    assert view.json()["id"] == instance_id
    return instance_id


# ----- hand-picked: Content-Type (415) ----------------------------------------------------------
WRONG_CONTENT_TYPES = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("text/plain", id="text-plain"),
    pytest.param("text/plain; charset=utf-8", id="text-plain-charset"),
    pytest.param("application/x-www-form-urlencoded", id="form-urlencoded"),
    pytest.param("multipart/form-data; boundary=xyz", id="multipart"),
    pytest.param("text/json", id="text-json"),
    pytest.param("application/jsonx", id="application-jsonx"),
    pytest.param("application/json-patch+json", id="json-patch"),
    pytest.param("application/xml", id="xml"),
    pytest.param("json", id="bare-json"),
    pytest.param("application/jsön", id="non-ascii"),
    pytest.param("text/plain" + "; a=b" * 800, id="long-parameters"),
]


@pytest.mark.parametrize("content_type", WRONG_CONTENT_TYPES)
def test_content_type_that_is_not_json_is_415(delivery_app: DeliveryApp,
                                              content_type: str | None) -> None:
    fields = refused(delivery_app, lambda: send(delivery_app, encode(payload()), content_type),
                     415)
    assert fields == {"Content-Type"}


def test_missing_content_type_with_an_empty_body_is_415(delivery_app: DeliveryApp) -> None:
    assert refused(delivery_app, lambda: send(delivery_app, b"", None), 415) == {"Content-Type"}


# ----- hand-picked: size (413) ------------------------------------------------------------------
def padded(size: int) -> bytes:
    """The good payload, padded with trailing whitespace (still valid JSON) to `size` bytes."""
    body = encode(payload())
    return body + b" " * (size - len(body))


OVERSIZED = [
    pytest.param(lambda: padded(MAX_BODY + 1), id="good-json-one-byte-over"),
    pytest.param(lambda: encode(payload(Source_TopLevelFolder="a/" * 9000)), id="long-folder"),
    pytest.param(lambda: b"x" * (1024 * 1024), id="one-MiB-of-garbage"),
    pytest.param(lambda: b"\xff" * (MAX_BODY + 100), id="invalid-utf8-over"),
    pytest.param(lambda: b"[" * 200_000, id="200k-brackets"),
]


@pytest.mark.parametrize("make_body", OVERSIZED)
def test_body_over_16_kib_is_413(delivery_app: DeliveryApp,
                                 make_body: Callable[[], bytes]) -> None:
    body = make_body()
    assert len(body) > MAX_BODY
    assert refused(delivery_app, lambda: send(delivery_app, body), 413) == {"body"}


# ----- hand-picked: the body as a whole (400 "body") ------------------------------------------
def with_raw_value(field: str, raw: bytes) -> bytes:
    """The good payload with one field's JSON text replaced by raw bytes."""
    marker = "@@RAW@@"
    text = encode(payload(**{field: marker}))
    return text.replace(json.dumps(marker).encode(), raw)


def nested(depth: int, opener: str = "[", closer: str = "]", inner: str = "1") -> bytes:
    return (opener * depth + inner + closer * depth).encode()


BAD_BODIES = [
    # not UTF-8
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xff\xfe"'), id="utf8-ff-fe"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xc0\xaf"'), id="utf8-overlong"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xed\xa0\x80"'),
                 id="utf8-encoded-surrogate"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\xe2\x82"'),
                 id="utf8-truncated-sequence"),
    pytest.param(b"\xff\xfe{\x00}\x00", id="utf16-le-with-bom"),
    pytest.param(b'{"Source_StorageAccount": "sequencingcore\x80"}', id="utf8-lone-continuation"),
    # not JSON
    pytest.param(b"", id="empty"),
    pytest.param(b"   \r\n\t ", id="whitespace-only"),
    pytest.param(b"not json", id="words"),
    pytest.param(b"{", id="unclosed-brace"),
    pytest.param(b'{"Source_StorageAccount": }', id="missing-value"),
    pytest.param(encode(payload())[:-1] + b",}", id="trailing-comma"),
    pytest.param(b"{'Source_StorageAccount': 'sequencingcore'}", id="single-quotes"),
    pytest.param(encode(payload()) + b"{}", id="two-documents"),
    pytest.param(encode(payload()) + b"\x00", id="trailing-nul"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\\x41"'), id="bad-escape"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\\ud8"'), id="short-u-escape"),
    pytest.param(with_raw_value("Sink_TopLevelFolder", b'"jdoe/\nx"'), id="raw-newline-in-string"),
    # JSON, not an object
    pytest.param(b"[1, 2]", id="array"),
    pytest.param(encode([GOOD]), id="payload-in-an-array"),
    pytest.param(b'"a string"', id="string"),
    pytest.param(b"42", id="number"),
    pytest.param(b"null", id="null"),
    pytest.param(b"true", id="true"),
    # too deep, at any depth (never a RecursionError)
    pytest.param(nested(1_000), id="1000-brackets-closed"),
    pytest.param(b"[" * 1_000, id="1000-brackets-open"),
    pytest.param(b"[" * 16_000, id="16000-brackets-open"),
    pytest.param(nested(8_000), id="8000-brackets-closed"),
    pytest.param(nested(2_000, '{"a":', "}"), id="2000-objects-closed"),
    pytest.param(with_raw_value("Source_FileSystem", nested(1_000)), id="1000-deep-in-a-field"),
    pytest.param(with_raw_value("Webhook_DeliveryID", nested(2_000, '{"a":', "}")),
                 id="2000-deep-objects-in-a-field"),
    pytest.param(encode(payload()).replace(b"{", b'{"Extra": ' + nested(1_000) + b", ", 1),
                 id="1000-deep-in-an-extra-key"),
    # a lone surrogate in a key, or in the value of a key that is not one of the eight fields
    pytest.param(encode({"\ud800": 1, **payload()}), id="surrogate-key"),
    pytest.param(encode({"Sink_TopLevelFolder\udfff": "x", **payload()}),
                 id="surrogate-in-a-look-alike-key"),
    pytest.param(encode({**payload(), "Extra": "\ud800"}), id="surrogate-in-extra-value"),
    pytest.param(encode({**payload(), "Extra": ["ok", {"x": "a\udc00b"}]}),
                 id="surrogate-deep-in-extra-value"),
    pytest.param(encode({**payload(), "Extra": {"\udbff": 1}}), id="surrogate-key-in-extra-value"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_body_is_400_naming_the_body(delivery_app: DeliveryApp, body: bytes) -> None:
    assert len(body) <= MAX_BODY
    assert refused(delivery_app, lambda: send(delivery_app, body)) == {"body"}


@pytest.mark.parametrize("depth", [100_000, 1_000_000])
def test_huge_nesting_is_a_clean_refusal(delivery_app: DeliveryApp, depth: int) -> None:
    """100,000 levels of '[' cannot fit in 16 KiB: the size rule (413) or the depth rule (400)
    may answer first; either way it names the body and is not a RecursionError."""
    for body in (b"[" * depth, nested(depth)):
        assert refused(delivery_app, partial(send, delivery_app, body), {400, 413}) == {"body"}


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


# ----- Hypothesis: generated hostile bodies -----------------------------------------------------
HYPOTHESIS = settings(deadline=None, derandomize=True, database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])

ANY_CHAR = st.characters(exclude_categories=())  # every category, lone surrogates (Cs) included
DANGEROUS = sorted(FORBIDDEN_IN_FOLDER | set(LONE_SURROGATES) | {"\\"})
texts = st.one_of(
    st.text(ANY_CHAR, max_size=12),
    st.text(st.characters(categories=["Cs", "Cc", "Cf"]), max_size=6),
    st.text(st.sampled_from([*"az09-./_ ", *DANGEROUS]), max_size=12),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=8,
)

HEX = "0-9a-fA-F"
UUID_FORM = re.compile(f"[{HEX}]{{8}}-[{HEX}]{{4}}-[{HEX}]{{4}}-[{HEX}]{{4}}-[{HEX}]{{12}}")
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LOWER_DIGITS = set("abcdefghijklmnopqrstuvwxyz0123456789")


def _surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _bad_folder(value: str) -> bool:
    return (not value or value.startswith("/") or len(value) > 1024 or "\\" in value
            or _surrogate(value) or any(c in FORBIDDEN_IN_FOLDER for c in value)
            or any(segment in ("", ".", "..") for segment in value.split("/")))


def refused_by_contract(field: str, value: Any) -> bool | None:
    """The test's own oracle: True when the contract refuses this value (as the app parses
    it) in this field of an otherwise good payload, False when it accepts it, None when the
    contract does not say (a folder that is good but for one trailing '/')."""
    if field in ("Source_StorageAccount", "Sink_StorageAccount"):
        allowed = SOURCE_ACCOUNT if field.startswith("Source") else SINK_ACCOUNT
        return value != allowed
    if field == "Webhook_DeliveryID":
        if isinstance(value, int) and not isinstance(value, bool):
            return not 1 <= value <= 2**63 - 1
        return not (isinstance(value, str) and TOKEN.fullmatch(value))
    if not isinstance(value, str):
        return True
    if field == "Webhook_TransferUUID":
        return not UUID_FORM.fullmatch(value)
    if field in ("Source_FileSystem", "Sink_FileSystem"):
        return not (3 <= len(value) <= 63 and set(value) <= LOWER_DIGITS | {"-"}
                    and value[0] != "-" and value[-1] != "-" and "--" not in value)
    if _bad_folder(value):
        return None if value.endswith("/") and not _bad_folder(value[:-1]) else True
    return False


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def surrogate_in_a_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_surrogate(k) or surrogate_in_a_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(surrogate_in_a_key(item) for item in value)
    return False


def check_generated(app: DeliveryApp, body: bytes, may_name: set[str],
                    must_name: set[str] | None = None) -> None:
    """Never a 5xx; a body over 16 KiB is 413 "body"; otherwise 400 naming only fields in
    `may_name` and, if given, at least one of `must_name`; nothing started."""
    before = app.instance_count()
    answer = send(app, body)
    assert answer.status_code < 500, f"{answer.status_code} for {body[:300]!r}"
    if len(body) > MAX_BODY:
        assert refusal_fields(answer, 413) == {"body"}
    else:
        fields = refusal_fields(answer, 400)
        assert fields <= may_name, (fields, body[:300])
        if must_name is not None:
            assert fields & must_name, (fields, body[:300])
    assert app.instance_count() == before, body[:300]


@settings(HYPOTHESIS, max_examples=400)
@given(field=st.sampled_from(FIELDS), value=json_values)
def test_generated_value_in_one_field(delivery_app: DeliveryApp, field: str, value: Any) -> None:
    """(a) The good payload with one field replaced by any JSON value the contract refuses:
    400 naming that field. Values nested 3 deep or more, or holding a lone surrogate in a key
    inside the value, may be refused as a whole ("body": the depth limit is the app's choice,
    and such a key is both "in a key" and "in a field's value")."""
    body = encode(payload(**{field: value}))
    parsed = json.loads(body)[field]  # as the app sees it: escaped surrogate pairs join up
    assume(refused_by_contract(field, parsed) is True)
    lenient = depth(parsed) >= 3 or surrogate_in_a_key(parsed)
    names = {field, "body"} if lenient else {field}
    check_generated(delivery_app, body, may_name=names, must_name=names)


# never valid: the delivery id is -1, whatever bytes are inserted elsewhere
REFUSED_BASE = encode(payload(Webhook_DeliveryID=-1))


@st.composite
def mangled_json(draw: st.DrawFn) -> bytes:
    position = draw(st.integers(0, len(REFUSED_BASE)))
    inserted = draw(st.binary(min_size=1, max_size=8))
    return REFUSED_BASE[:position] + inserted + REFUSED_BASE[position:]


@settings(HYPOTHESIS, max_examples=300)
@given(body=st.one_of(
    st.binary(max_size=256),
    mangled_json(),
    st.text(ANY_CHAR, max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
))
def test_generated_bytes(delivery_app: DeliveryApp, body: bytes) -> None:
    """(b) Arbitrary bytes as an application/json body: a clean 4xx, nothing started."""
    check_generated(delivery_app, body, may_name=set(FIELDS) | {"body"})


@settings(HYPOTHESIS, max_examples=100)
@given(levels=st.one_of(st.integers(1, 40), st.integers(100, 20_000),
                        st.sampled_from([999, 1_000, 1_001, 100_000])),
       opener=st.sampled_from(["[", '{"a":', '{"\\ud800":', '["x",']),
       closed=st.booleans(), where=st.sampled_from([None, *FIELDS]))
def test_generated_deep_nesting(delivery_app: DeliveryApp, levels: int, opener: str,
                                closed: bool, where: str | None) -> None:
    """(c) Deep nesting, as the whole body or as a field's value; closed or not."""
    closer = "]" if opener.startswith("[") else "}"
    inner = (opener * levels + "1" + (closer * levels if closed else "")).encode()
    if where is None:
        if opener.startswith("["):  # JSON, but not an object; or not JSON
            names = {"body"}
            check_generated(delivery_app, inner, may_name=names, must_name=names)
        elif not closed or levels >= 100 or "ud800" in opener:
            check_generated(delivery_app, inner, may_name=set(FIELDS) | {"body"},
                            must_name={"body"})
        else:  # a shallow object of objects: the eight fields are missing
            check_generated(delivery_app, inner, may_name=set(FIELDS) | {"body"},
                            must_name=set(FIELDS) if levels < 3 else None)
        return
    body = with_raw_value(where, inner)
    if not closed or levels >= 100:
        names = {"body"}
    else:
        names = {where, "body"} if levels >= 3 or "ud800" in opener else {where}
    check_generated(delivery_app, body, may_name=names, must_name=names)


@st.composite
def dangerous_text_field(draw: st.DrawFn) -> tuple[str, str]:
    field = draw(st.sampled_from(FIELDS))
    value = str(GOOD[field])
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(value)))
        value = value[:position] + draw(st.sampled_from(DANGEROUS)) + value[position:]
    return field, value


@settings(HYPOTHESIS, max_examples=300)
@given(case=dangerous_text_field())
def test_generated_dangerous_characters(delivery_app: DeliveryApp,
                                        case: tuple[str, str]) -> None:
    """(d) A good text value with control, bidi, zero-width, BOM, lone-surrogate or backslash
    characters inserted: 400 naming exactly that field."""
    field, value = case
    body = encode(payload(**{field: value}))
    assume(refused_by_contract(field, json.loads(body)[field]) is True)
    check_generated(delivery_app, body, may_name={field}, must_name={field})
