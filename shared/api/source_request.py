"""Requests that name a source folder only: a project summary, and a share of the folder.

They pass the same door as the website's start request (`shared.api.start_request`): JSON only
(415), at most 16 KiB (413), UTF-8, shallow, an object, no lone surrogate (400 `body` or the
key), then every field by the website's own rules and key names (`Source_StorageAccount`,
`Source_FileSystem`, `Source_TopLevelFolder`), then the source allow-list (`DDD_SOURCE_ACCOUNTS`;
the app's own work account is never a source). A share also gives `Share_ExpiresInSeconds`: a
whole number of seconds, at least 1 and at most `DDD_SHARE_MAX_HOURS` hours.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.api.start_request import (
    MAX_BODY_BYTES,
    RequestRefused,
    check_content_type,
    parse_json_object,
    surrogate_problems,
)
from shared.core.access import AccessPolicy
from shared.core.naming import check_account_name, check_container_name
from shared.core.request import ShareRequest, SourceFolderRequest, validation_errors

Request = TypeVar("Request", bound=SourceFolderRequest)


def _fields(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _good_name(payload: dict[str, Any], field: str, bad: set[str], check: Any) -> str | None:
    value = payload.get(field)
    if field in bad or not isinstance(value, str):
        return None
    try:
        return str(check(value))
    except ValueError:
        return None


def parse_source_request(content_type: str | None, body: bytes, model: type[Request],
                         policy: AccessPolicy) -> Request:
    """The request, or RequestRefused with the status to answer and every problem by field."""
    check_content_type(content_type)
    if len(body) > MAX_BODY_BYTES:
        raise RequestRefused(413, [{"field": "body",
                                    "message": f"must be at most {MAX_BODY_BYTES} bytes"}])
    payload = parse_json_object(body)
    problems = surrogate_problems(payload, _fields(model))
    if problems:
        raise RequestRefused(400, problems)
    try:
        request = model.model_validate(payload)
    except ValidationError as error:
        problems = validation_errors(error)
        bad = {problem["field"] for problem in problems}
        problems += policy.refusals_of_names(
            _good_name(payload, "Source_StorageAccount", bad, check_account_name),
            _good_name(payload, "Source_FileSystem", bad, check_container_name), None, None)
        raise RequestRefused(400, problems) from None
    problems = policy.refusals_of_names(request.source_account, request.source_container,
                                        None, None)
    if problems:
        raise RequestRefused(400, problems)
    return request


def check_share_expiry(request: ShareRequest, max_hours: int) -> None:
    """Refuse (400, `Share_ExpiresInSeconds`) an expiry past the configured maximum."""
    if request.expires_in_seconds > max_hours * 3600:
        raise RequestRefused(400, [{
            "field": "Share_ExpiresInSeconds",
            "message": f"must be at most {max_hours * 3600} ({max_hours} hours, "
                       "DDD_SHARE_MAX_HOURS)"}])
