"""Structured log lines: one per activity run and one per delivery outcome.

Each line is `ddd.<event> {json}` with the delivery id, the instance id, the phase and the
counts, logged through Python's `logging`. In Azure the Python worker hands every record to the
Functions host, which sends it to Application Insights as a trace (with the invocation id and
the category `Function.<name>.User`), so this needs no second exporter or credential; the
same fields ride along as `extra` attributes, which OpenTelemetry's logging handler would turn
into custom dimensions if the app moved to the Functions OpenTelemetry mode. In Logs:

    traces | where message startswith "ddd."
    | extend event = tostring(split(message, " ")[0]),
             d = parse_json(substring(message, indexof(message, " ") + 1))
    | project timestamp, event, instance = tostring(d.instance_id), phase = tostring(d.phase), d

No line holds a SAS, key or token: the fields are ids, names, counts and a redacted error.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.storage.errors import redact

logger = logging.getLogger("ddd")
PREFIX = "ddd."
ERROR_CHARS = 300
Result = TypeVar("Result")


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line: `ddd.<event> {fields as JSON}` (None fields left out)."""
    kept = {name: value for name, value in fields.items() if value is not None}
    logger.log(level, "%s%s %s", PREFIX, event,
               json.dumps(kept, ensure_ascii=False, default=str, separators=(",", ":")),
               extra={"ddd_event": event, **{f"ddd_{name}": value
                                             for name, value in kept.items()}})


def ids_of(activity_input: Any) -> dict[str, Any]:
    """The delivery id, instance id and chunk of an activity's input, whatever its model."""
    found: dict[str, Any] = {}
    request = getattr(activity_input, "request", None)
    if request is not None:
        found["delivery_id"] = getattr(request, "delivery_id", None)
        found["transfer_uuid"] = getattr(request, "transfer_uuid", None)
    found["instance_id"] = getattr(activity_input, "run_id", None)
    chunk = getattr(activity_input, "chunk", None)
    if chunk is not None:
        found["instance_id"] = getattr(chunk, "run_id", None)
        found["chunk"] = getattr(chunk, "index", None)
    return found


def counts_of(result: Any) -> dict[str, Any]:
    """The numbers and statuses of an activity's result (never lists or documents)."""
    if isinstance(result, int) and not isinstance(result, bool):
        return {"count": result}
    document = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    if not isinstance(document, dict):
        return {}
    return {name: value for name, value in document.items()
            if isinstance(value, int | float | bool)
            or (name in ("status", "refusal", "adopted_from") and isinstance(value, str))}


def logged_activity(phase: str) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Wrap an activity: log `ddd.activity` when it ends (outcome, seconds, ids, counts), and
    when it raises (the error's type and redacted first line), then re-raise."""

    def wrap(function: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Result:
            activity_input = next(iter(kwargs.values()), args[0] if args else None)
            ids = ids_of(activity_input)
            started = time.monotonic()
            try:
                result = function(*args, **kwargs)
            except Exception as error:
                first = (str(error).strip().splitlines() or [""])[0]
                log_event("activity", logging.WARNING, activity=function.__name__, phase=phase,
                          outcome="failed", seconds=round(time.monotonic() - started, 3),
                          error=redact(f"{type(error).__name__}: {first}")[:ERROR_CHARS], **ids)
                raise
            log_event("activity", activity=function.__name__, phase=phase, outcome="done",
                      seconds=round(time.monotonic() - started, 3), **ids, **counts_of(result))
            return result

        return run

    return wrap
