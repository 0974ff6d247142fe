"""How the HTTP endpoints answer: a JSON body, and the one answer to settings the app cannot
run with (the app checks them when it loads too; this is what a request meets if they change
under a running host)."""

import json
from typing import Any

import azure.functions as func

from shared.config import SettingsError


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
