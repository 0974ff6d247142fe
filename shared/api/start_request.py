"""The website's start request, checked at the door: anything that can't be valid is refused
with a 4xx naming the field, before anything starts.

The website sends one small JSON object (under 1 KB) with `Content-Type: application/json`.
`parse_start_request` refuses, in this order: another content type (415), a body over
`MAX_BODY_BYTES` (413), bytes that are not UTF-8, JSON nested deeper than `MAX_JSON_DEPTH`,
anything that is not a JSON object, lone surrogates anywhere (400, field `body` or the key that
holds one), then each field against the website's rules (`DeliveryRequest`), then the storage
allow-lists (`AccessPolicy`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import ValidationError

from shared.core.access import AccessPolicy
from shared.core.naming import check_account_name, check_container_name
from shared.core.options import OPERATOR_FIELDS
from shared.core.request import DeliveryRequest, validation_errors

MAX_BODY_BYTES = 16 * 1024
# The website's body is one flat object; a little room for extra keys a future website adds.
MAX_JSON_DEPTH = 8
JSON_MEDIA_TYPE = "application/json"


class RequestRefused(Exception):
    """A start request the service will not act on: an HTTP status and the problems, by field."""

    def __init__(self, status: int, problems: list[dict[str, str]]) -> None:
        self.status = status
        self.problems = problems
        super().__init__(self.summary)

    @property
    def summary(self) -> str:
        return "Invalid transfer request: " + "; ".join(
            f"{problem['field']} {problem['message']}" for problem in self.problems
        )

    def body(self) -> dict[str, Any]:
        return {"error": self.summary, "errors": self.problems}


def _refuse(status: int, field: str, message: str) -> RequestRefused:
    return RequestRefused(status, [{"field": field, "message": message}])


def check_content_type(content_type: str | None) -> None:
    media_type, *parameters = (content_type or "").split(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        raise _refuse(415, "Content-Type", f"must be {JSON_MEDIA_TYPE}")
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise _refuse(415, "Content-Type", "must have charset utf-8 (or none)")


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """True when brackets outside JSON strings nest deeper than `max_depth` (checked before
    parsing, so no depth of nesting reaches the recursive parser)."""
    depth = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            if depth > max_depth:
                return True
        elif character in "]}":
            depth -= 1
    return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


def _is_unicode(text: str) -> bool:
    return not any(0xD800 <= ord(character) <= 0xDFFF for character in text)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or RequestRefused (400, field `body`)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(400, "body", "is not valid UTF-8") from None
    if json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise _refuse(400, "body", f"nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        payload = json.loads(text)
    except ValueError:
        raise _refuse(400, "body", "is not valid JSON") from None
    if not isinstance(payload, dict):
        raise _refuse(400, "body", "must be a JSON object")
    return payload


def _surrogate_problems(payload: dict[str, Any], extra_fields: frozenset[str] = frozenset(),
                        ) -> list[dict[str, str]]:
    return surrogate_problems(payload, {field.alias or name for name, field
                                        in DeliveryRequest.model_fields.items()} | extra_fields)


def surrogate_problems(payload: dict[str, Any], fields: set[str]) -> list[dict[str, str]]:
    """One problem per key of `payload` holding a lone surrogate (named when it is one of
    `fields`, else `body`)."""
    problems = []
    for key, value in payload.items():
        if not all(_is_unicode(text) for text in _strings({key: value})):
            problems.append({
                "field": key if key in fields else "body",
                "message": "must be valid Unicode text (it holds a lone surrogate)",
            })
    return problems


def _names_refused(payload: dict[str, Any], problems: list[dict[str, str]],
                   policy: AccessPolicy) -> list[dict[str, str]]:
    """The allow-list refusals of the account and container names that passed their checks."""
    bad = {problem["field"] for problem in problems}

    def good(field: str, check: Callable[[str], str]) -> str | None:
        value = payload.get(field)
        if field in bad or not isinstance(value, str):
            return None
        try:
            return check(value)
        except ValueError:
            return None

    return policy.refusals_of_names(
        good("Source_StorageAccount", check_account_name),
        good("Source_FileSystem", check_container_name),
        good("Sink_StorageAccount", check_account_name),
        good("Sink_FileSystem", check_container_name),
    )


def read_start_payload(content_type: str | None, body: bytes,
                       extra_fields: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A start body's JSON object, checked as a whole (content type, size, JSON, Unicode), or
    RequestRefused. `extra_fields`: keys besides the website's that a refusal may name."""
    check_content_type(content_type)
    if len(body) > MAX_BODY_BYTES:
        raise _refuse(413, "body", f"must be at most {MAX_BODY_BYTES} bytes")
    payload = parse_json_object(body)
    problems = _surrogate_problems(payload, extra_fields)
    if problems:
        raise RequestRefused(400, problems)
    return payload


def request_problems(payload: dict[str, Any],
                     policy: AccessPolicy) -> tuple[DeliveryRequest | None, list[dict[str, str]]]:
    """The request in a start body and the problems of its fields (the allow-lists included);
    the request is None when a field is invalid."""
    try:
        request = DeliveryRequest.model_validate(payload)
    except ValidationError as error:
        problems = validation_errors(error)
        return None, problems + _names_refused(payload, problems, policy)
    return request, policy.refusals(request)


def parse_start_request(content_type: str | None, body: bytes,
                        policy: AccessPolicy) -> DeliveryRequest:
    """The website's start request, or RequestRefused with the status to answer. The
    operators' choices (`OPERATOR_FIELDS`) are refused here: the website's calls keep its
    contract (conflict policy fail, the website told)."""
    payload = read_start_payload(content_type, body)
    operator_fields = [{"field": key, "message": "is an operator's choice: send it to POST "
                        "/api/operator/deliveries (admin key), not the website's start"}
                       for key in payload if key in OPERATOR_FIELDS]
    request, problems = request_problems(payload, policy)
    if operator_fields or problems or request is None:
        raise RequestRefused(400, problems + operator_fields)
    return request
