"""The operators' actions on deliveries (admin key): list, re-send the stored result, cancel.

Plain Python for the admin endpoints and orchestrators:
- `ListQuery.parse` checks the list's query (`status`, `since`, `top`, `continuationToken`),
  naming each bad field; `delivery_summary` is one line of the list;
- `action_instance_id` names the orchestration of an action on a delivery (`cancel-<id>`,
  `resend-<id>`), so the status view can find it;
- `CancelInput` / `ResendInput` are their inputs (no secret: the request and ids only).

What a cancel may stop: a delivery still planning or copying. Once the manifest is being
written the delivery is about to tell the website it succeeded, and a cancel is refused
(`CANCELLABLE_PHASES`), so the website never hears both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest
from shared.core.status import status_view

DELIVERY_PREFIX = "delivery-"
Action = Literal["cancel", "resend"]
ACTIONS: tuple[Action, ...] = ("cancel", "resend")
CANCELLABLE_PHASES = (None, "planning", "copying")
# the runtime statuses a list may filter on, by their lowercase names
RUNTIME_STATUSES = {"pending": "Pending", "running": "Running", "completed": "Completed",
                    "failed": "Failed", "terminated": "Terminated"}
PAGE_SIZE_MAX = 100
PAGE_SIZE_DEFAULT = 50
# the SDK's and the extension's DateTime text
DURABLE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")  # printable, no spaces: it travels in a header


class QueryRefused(ValueError):
    """A bad list query: 400 with one {field, message} per problem."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p['field']} {p['message']}" for p in problems))

    def body(self) -> dict[str, Any]:
        return {"error": f"The list query is not valid: {self}.", "errors": self.problems}


@dataclass(frozen=True)
class ListQuery:
    statuses: tuple[str, ...]
    since: datetime | None
    top: int
    continuation_token: str | None

    @classmethod
    def parse(cls, params: dict[str, str]) -> ListQuery:
        problems: list[dict[str, str]] = []
        statuses: list[str] = []
        for name in filter(None, (part.strip().lower()
                                  for part in params.get("status", "").split(","))):
            if name not in RUNTIME_STATUSES:
                problems.append({"field": "status", "message": f"must be among "
                                 f"{', '.join(RUNTIME_STATUSES)} (comma-separated), not "
                                 f"'{name[:40]}'"})
            else:
                statuses.append(RUNTIME_STATUSES[name])
        since = None
        if params.get("since"):
            try:
                since = datetime.fromisoformat(params["since"].replace("Z", "+00:00"))
            except ValueError:
                problems.append({"field": "since", "message": "must be an ISO 8601 date or time,"
                                 " such as 2026-11-01 or 2026-11-01T08:00:00Z"})
            else:
                since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        top = PAGE_SIZE_DEFAULT
        if params.get("top"):
            raw = params["top"]
            top = int(raw) if raw.isdigit() else 0
            if not 1 <= top <= PAGE_SIZE_MAX:
                problems.append({"field": "top",
                                 "message": f"must be a whole number from 1 to {PAGE_SIZE_MAX}"})
        token = params.get("continuationToken") or None
        if token is not None and not TOKEN.fullmatch(token):
            problems.append({"field": "continuationToken",
                             "message": "must be the token a previous page gave"})
        if problems:
            raise QueryRefused(problems)
        return cls(tuple(statuses), since, top, token)

    def durable_params(self) -> dict[str, str]:
        """The Durable instance query for this page (delivery instances only)."""
        params = {"instanceIdPrefix": DELIVERY_PREFIX, "top": str(self.top)}
        if self.statuses:
            params["runtimeStatus"] = ",".join(self.statuses)
        if self.since is not None:
            params["createdTimeFrom"] = self.since.strftime(DURABLE_TIME_FORMAT)
        return params


def delivery_summary(status: dict[str, Any]) -> dict[str, Any]:
    """One delivery in the list: ids, state, counts and message (from its Durable status)."""
    view = status_view(status)
    progress: dict[str, Any] = {}
    for name in ("customStatus", "output"):
        if isinstance(status.get(name), dict):
            progress = status[name]
            break
    return {
        "id": view["id"], "runtimeStatus": view["runtimeStatus"], "phase": view["phase"],
        "delivery_id": progress.get("delivery_id"),
        "transfer_uuid": progress.get("transfer_uuid"),
        "createdTime": view["createdTime"], "lastUpdatedTime": view["lastUpdatedTime"],
        "planned": view["planned"], "verified": view["verified"], "failed": view["failed"],
        "message": view["message"],
    }


def action_instance_id(action: Action, instance_id: str) -> str:
    return f"{action}-{instance_id}"


def request_of(orchestration_input: Any) -> DeliveryRequest | None:
    """The website's request inside a delivery's orchestration input (a DeliveryRun)."""
    if not isinstance(orchestration_input, dict):
        return None
    request = orchestration_input.get("request")
    return DeliveryRequest.from_json(request) if isinstance(request, dict) else None


def options_of(orchestration_input: Any) -> DeliveryOptions:
    """The delivery's options (conflict policy, move, receiver) in its orchestration input;
    the defaults for an input written before options existed."""
    options = orchestration_input.get("options") if isinstance(orchestration_input,
                                                                 dict) else None
    return DeliveryOptions.model_validate(options) if isinstance(options, dict) \
        else DeliveryOptions()


