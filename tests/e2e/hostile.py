"""What the hostile-request tests share: a good payload, sending exact bytes, and the checks of
the contract they prove against the real app in devhost (fixture `delivery_app`, allowed source
`sequencingcore`, allowed sink `labsmith`): never a 5xx; every 4xx is JSON `{"error": sentence,
"errors": [{"field", "message"}, ...]}` naming the website's key (or "body", "Content-Type"),
and starts nothing (the instance list is unchanged); what the website sends today still gets a
202 whose body and headers hold no key.

Bodies are sent as exact bytes; JSON is written with `ensure_ascii=True`, so a lone surrogate
travels as a `\\ud800` escape.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

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


# ----- hand-picked: the body as a whole (400 "body") ------------------------------------------
def with_raw_value(field: str, raw: bytes) -> bytes:
    """The good payload with one field's JSON text replaced by raw bytes."""
    marker = "@@RAW@@"
    text = encode(payload(**{field: marker}))
    return text.replace(json.dumps(marker).encode(), raw)


def nested(depth: int, opener: str = "[", closer: str = "]", inner: str = "1") -> bytes:
    return (opener * depth + inner + closer * depth).encode()
