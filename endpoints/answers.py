"""How the HTTP endpoints answer: a JSON body, and the one answer to settings the app cannot
run with (the app checks them when it loads too; this is what a request meets if they change
under a running host)."""

import json
from collections.abc import Callable
from typing import Any, TypeVar

import azure.functions as func

from shared.api.start_request import RequestRefused
from shared.api.storage_answer import storage_failure_answer
from shared.core.config import Settings, SettingsError, load_settings

Parsed = TypeVar("Parsed")


def json_answer(body: Any, status_code: int = 200,
                headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status_code,
                             mimetype="application/json", headers=headers)


def misconfigured(error: SettingsError) -> func.HttpResponse:
    return json_answer({"error": "The transfer service is misconfigured.",
                        "settings": error.problems}, 500)


def bad_id(message: str) -> func.HttpResponse:
    """400 for an `{id}` in the route that cannot be one: the field named, nothing looked up."""
    return json_answer({"error": f"id {message}", "errors": [{"field": "id", "message": message}]},
                       400)


def storage_failure(error: BaseException,
                    headers: dict[str, str] | None = None) -> func.HttpResponse:
    """503 or 502 for a storage error the endpoint could not get past
    (`shared.api.storage_answer`)."""
    status, body, extra = storage_failure_answer(error)
    return json_answer(body, status, {**(headers or {}), **extra})


def read_request(parse: Callable[[Settings], Parsed], headers: dict[str, str] | None = None,
                 ) -> tuple[Settings, Parsed] | func.HttpResponse:
    """The settings and the request `parse` reads with them; or the answer to give instead:
    500 for settings the app cannot run with, the 4xx of a refused request."""
    try:
        settings = load_settings()
    except SettingsError as error:
        return misconfigured(error)
    try:
        return settings, parse(settings)
    except RequestRefused as refused:
        return json_answer(refused.body(), refused.status, headers)


def api_url(settings: Settings, path: str) -> str:
    """`/api/<path>` at the app's configured public URL (`Settings.public_base_url`; never the
    request's Host header, which a caller chooses), without any key (whoever calls it brings
    their own); a path alone when no public URL is known."""
    base = settings.public_base_url
    return f"{base or ''}/api/{path}"
