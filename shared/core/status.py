"""The delivery's phases and its custom status: bounded by construction to what Azure allows,
and turned into the answer of the status endpoint (`status_view`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

Phase = Literal[
    "planning", "copying", "creating-folders", "writing-manifest", "granting-access",
    "sealing", "reporting", "delivered", "refused", "failed",
    "verifying",  # a folder delivered before: its files checked against the source again
    "removing-partial-copy",  # after a failure: what this attempt wrote is removed
    "stale",
    "unreported",  # the website refused the result itself (token, URL, size): fix and re-send
    # the website answered 5xx, then "not in TRANSFERRING state": it recorded the manifest but
    # may not have e-mailed the recipients
    "delivered-website-error",
    "moving-source",  # delivered and acknowledged: the source folder's files are deleted
    # delivered, but the source could not all be removed (files changed since, or a failure)
    "delivered-source-kept",
]


ENDED_BADLY: tuple[Phase, ...] = ("failed", "refused", "stale", "unreported")


# ----- the custom status budget -----------------------------------------------------------------
# The Durable extension fails an orchestration whose custom status serializes to more than
# 16 KB of UTF-16 (8,192 characters of JSON, which the SDK writes as ASCII). The status is
# kept to half of that by construction: each text below is cut by its JSON-encoded length.
STATUS_BUDGET_CHARS = 4096


FAILURES_SHOWN = 5


FAILURE_PATH_CHARS = 160


FAILURE_REASON_CHARS = 200


MESSAGE_CHARS = 1000


ELLIPSIS = "\u2026"


def json_chars(value: Any) -> int:
    """Characters of `value` serialized as the Durable SDK does (json.dumps, ASCII escapes)."""
    return len(json.dumps(value))


def _keep_encoded(characters: Iterable[str], room: int) -> str:
    kept: list[str] = []
    for character in characters:
        room -= json_chars(character) - 2
        if room < 0:
            break
        kept.append(character)
    return "".join(kept)


def cut_end(text: str, max_chars: int) -> str:
    """`text`, or its beginning and an ellipsis, in at most max_chars of JSON (quotes included)."""
    if json_chars(text) <= max_chars:
        return text
    return _keep_encoded(text, max_chars - 2 - json_chars(ELLIPSIS) + 2) + ELLIPSIS


def cut_middle(text: str, max_chars: int) -> str:
    """`text`, or its beginning, an ellipsis and its end (a file's name is at the end)."""
    if json_chars(text) <= max_chars:
        return text
    room = max_chars - 2 - (json_chars(ELLIPSIS) - 2)
    head = _keep_encoded(text, room // 3)
    tail = _keep_encoded(reversed(text[len(head):]), room - (json_chars(head) - 2))[::-1]
    return head + ELLIPSIS + tail


def fit_status(status: dict[str, Any]) -> dict[str, Any]:
    """The status itself: its parts are bounded so that it always fits; should a future field
    or a very wide window break that, the list of units in flight is dropped first (the status
    endpoint then shows the last measurement), then failures, then the message, so the
    orchestration never fails for its status."""
    if json_chars(status) > STATUS_BUDGET_CHARS:
        status["units_in_flight"] = None
    while json_chars(status) > STATUS_BUDGET_CHARS and status.get("failures"):
        status["failures"] = status["failures"][:-1]
    if json_chars(status) > STATUS_BUDGET_CHARS:
        status["message"] = None
    return status


def status_view(status: dict[str, Any]) -> dict[str, Any]:
    """The answer of GET /api/deliveries/{id}, from the Durable status of the instance."""
    runtime = status.get("runtimeStatus")
    progress = status.get("output") if runtime == "Completed" else status.get("customStatus")
    progress = progress if isinstance(progress, dict) else {}
    view = {
        "id": status.get("instanceId"),
        "runtimeStatus": runtime,
        "phase": progress.get("phase"),
        "createdTime": status.get("createdTime"),
        "lastUpdatedTime": status.get("lastUpdatedTime"),
        "planned": {"files": progress.get("files_planned"),
                    "bytes": progress.get("bytes_planned"),
                    "chunks": progress.get("chunks_planned"),
                    "units": progress.get("units_planned")},
        "copied": {"files": progress.get("files_copied"), "bytes": progress.get("bytes_copied"),
                   "chunks": progress.get("chunks_done"), "units": progress.get("units_done")},
        "verified": {"files": progress.get("files_verified"),
                     "bytes": progress.get("bytes_verified")},
        "failed": {"files": progress.get("files_failed")},
        "failures": progress.get("failures") or [],
        "message": progress.get("message"),
    }
    if progress.get("options"):
        view["options"] = progress["options"]
    if progress.get("source_removed"):
        view["sourceRemoved"] = progress["source_removed"]
    if runtime == "Completed":
        view["manifest"] = progress.get("manifest")
        view["report"] = progress.get("report")
    elif runtime in ("Failed", "Terminated"):
        # a delivery that ended badly keeps its phase (failed, refused, stale) and message in
        # the custom status; anything else that stopped it is a failure with the host's text
        if view["phase"] not in ENDED_BADLY:
            view["phase"] = "failed"
        view["error"] = status.get("output")
        view["message"] = view["message"] or status.get("output")
    return view
