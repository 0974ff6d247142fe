"""The state of one delivery as the orchestrator carries it, and how it is shown to people.

Plain Python: the orchestrator keeps a `DeliveryRun` (passed through continue-as-new, so the
history of any one generation stays small), shows `DeliveryRun.progress()` as its custom
status, and the status endpoint turns the Durable status into `status_view`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import ConfigDict, Field

from shared.copy.progress import unit_key
from shared.core.config import DEFAULT_OUTAGE_WAIT_MINUTES, DEFAULT_PARALLEL_CHUNKS
from shared.core.models import (
    TRANSFER_UUID,
    ChunkRef,
    ChunkResult,
    CopyTotals,
    DeliveryRequest,
    DurableModel,
    ManifestOutcome,
    Plan,
    ReportOutcome,
)

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
]
ENDED_BADLY: tuple[Phase, ...] = ("failed", "refused", "stale", "unreported")

def attempts_prefix(request: DeliveryRequest) -> str:
    """What the instance id of every attempt of this delivery starts with."""
    return f"delivery-{request.delivery_id}-"


def is_earlier_attempt(request: DeliveryRequest, instance_id: str) -> bool:
    """True for another attempt of the same delivery (the prefix alone would also match a
    delivery id that extends this one, such as 12-a for 12)."""
    prefix = attempts_prefix(request)
    return (instance_id.startswith(prefix) and instance_id != instance_id_for(request)
            and TRANSFER_UUID.fullmatch(instance_id[len(prefix):]) is not None)


def is_same_delivery(request: DeliveryRequest, earlier_input: Any) -> bool:
    """True when an earlier attempt's orchestration input (a DeliveryRun) is the same delivery:
    same delivery id, source and sink. Only such an attempt is stopped by a new one, whose plan
    can then adopt its folder."""
    if not isinstance(earlier_input, dict) or not isinstance(earlier_input.get("request"), dict):
        return False
    earlier = earlier_input["request"]
    return str(earlier.get("delivery_id")) == str(request.delivery_id) and all(
        earlier.get(name) == getattr(request, name)
        for name in ("source_account", "source_container", "source_folder",
                     "sink_account", "sink_container", "sink_folder"))


def differing_fields(request: DeliveryRequest, earlier_input: Any) -> list[str]:
    """The website's names of the fields in which `request` differs from the request an
    instance of the same delivery id and transfer UUID was started with (none for an
    instance whose input is not a delivery's)."""
    if not isinstance(earlier_input, dict) or not isinstance(earlier_input.get("request"), dict):
        return []
    earlier = earlier_input["request"]
    differing = []
    for name, field in DeliveryRequest.model_fields.items():
        before, now = earlier.get(name), getattr(request, name)
        if name == "transfer_uuid":
            same = str(before).lower() == str(now).lower()
        elif name == "delivery_id":
            same = str(before) == str(now)
        else:
            same = before == now
        if not same:
            differing.append(field.alias or name)
    return differing


def instance_id_for(request: DeliveryRequest) -> str:
    """One Durable instance per (delivery id, transfer UUID): the same POST twice is one run.

    Both parts are made of letters, digits, '.', '_' and '-' (the request's rules), which an
    instance id may hold; the UUID is lowercased, so either case of it names the same run.
    """
    return f"{attempts_prefix(request)}{request.transfer_uuid.lower()}"


class PlanInput(DurableModel):
    request: DeliveryRequest
    run_id: str


class ChunkInput(DurableModel):
    request: DeliveryRequest
    chunk: ChunkRef


class ManifestInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    chunk_count: int
    sealed: bool = False  # a sealed folder: the callback only, nothing written there


class FailuresInput(DurableModel):
    run_id: str
    chunk_count: int


class ReportInput(DurableModel):
    """What the report activity sends: the stored callback body, or an error message."""

    request: DeliveryRequest
    run_id: str
    error_message: str | None = None


class DeliveryRun(DurableModel):
    """Everything the orchestrator knows about one delivery; no secret, no per-file list.

    Unlike the other models it changes as the orchestrator goes (each assignment validated).
    """

    model_config = ConfigDict(frozen=False, validate_assignment=True)

    request: DeliveryRequest
    run_id: str
    parallel_chunks: int = Field(DEFAULT_PARALLEL_CHUNKS, ge=1)  # work units in flight
    progress_seconds: int = Field(30, ge=1)  # how often the status reads the units in flight
    # how long a failing activity is tried again before it fails (`shared.core.outage`)
    outage_wait_seconds: int = Field(DEFAULT_OUTAGE_WAIT_MINUTES * 60, ge=1)
    plan: Plan | None = None
    next_chunk: int = 0  # the first chunk not started yet
    # segments to start first in the next generation: the files whose segment ended while
    # the generation was draining (at most `parallel_chunks`)
    carried: list[ChunkRef] = Field(default_factory=list)
    chunks_done: int = 0
    units_done: int = 0
    # the units in flight (`unit_key`), and the bytes each has moved so far (read while they
    # run); both empty between generations
    in_flight: list[str] = Field(default_factory=list)
    moving: dict[str, int] = Field(default_factory=dict)
    totals: CopyTotals = Field(default_factory=CopyTotals)
    phase: Phase = "planning"
    message: str | None = None
    # why the copy stopped (a unit refused, or failing past the outage window), until reported
    failure: str | None = None
    # the folder is sealed by this run (or was delivered before): nothing there is removed
    sealed: bool = False
    manifest: ManifestOutcome | None = None
    report: ReportOutcome | None = None

    def take_next(self) -> ChunkRef | None:
        """The next work unit to start: a carried segment first, then the next chunk."""
        if self.carried:
            return self.carried.pop(0)
        assert self.plan is not None
        if self.next_chunk >= self.plan.chunk_count:
            return None
        self.next_chunk += 1
        return self.plan.chunk_ref(self.next_chunk - 1)

    def add_result(self, unit: ChunkRef, result: ChunkResult) -> ChunkRef | None:
        """Count a finished unit; returns the segment that follows it, if any."""
        self.totals = CopyTotals.of([self.totals, result])
        self.units_done += 1
        self.moving.pop(unit_key(unit), None)
        if result.next_segment is None:
            self.chunks_done += 1
            return None
        return unit.model_copy(update={"segment": result.next_segment})

    def show_moving(self, bytes_by_unit: dict[str, int]) -> None:
        """Take a measurement of the units in flight; a unit that has ended since it was
        measured is left out (its bytes are counted in the totals now)."""
        self.moving = {key: moved for key, moved in bytes_by_unit.items()
                       if key in self.in_flight}

    @property
    def copying_done(self) -> bool:
        return (self.plan is not None and self.next_chunk >= self.plan.chunk_count
                and not self.carried)

    def progress(self) -> dict[str, Any]:
        """The custom status: what the portal and the status endpoint show while it runs.

        Within STATUS_BUDGET_CHARS of JSON whatever the delivery: counts, the phase, a cut
        message and the first few failures with cut paths and reasons (the whole list is in
        the work container, `shared.copy.failures`).
        """
        plan = self.plan
        return fit_status({
            "phase": self.phase,
            "delivery_id": self.request.delivery_id,
            "transfer_uuid": self.request.transfer_uuid,
            "files_planned": plan.files if plan else None,
            "bytes_planned": plan.bytes if plan else None,
            "chunks_planned": plan.chunk_count if plan else None,
            "chunks_done": self.chunks_done,
            "units_planned": plan.unit_count if plan else None,
            "units_done": self.units_done,
            "files_copied": self.totals.files,
            # finished units' bytes, and what the units in flight have moved so far
            "bytes_copied": self.totals.bytes + sum(self.moving.values()),
            "bytes_in_flight": sum(self.moving.values()),
            # which units are running: the status endpoint reads their progress live
            "units_in_flight": list(self.in_flight),
            "files_verified": self.totals.verified_files,
            "bytes_verified": self.totals.verified_bytes,
            "files_failed": self.totals.failed_files,
            "failures": [
                {"path": cut_middle(failure.path, FAILURE_PATH_CHARS),
                 "reason": cut_end(failure.reason, FAILURE_REASON_CHARS)}
                for failure in self.totals.failures[:FAILURES_SHOWN]
            ],
            "message": cut_end(self.message, MESSAGE_CHARS) if self.message else None,
        })

    def outcome(self) -> dict[str, Any]:
        """The orchestration's output: the final progress plus where the manifest went."""
        return {
            **self.progress(),
            "manifest": self.manifest.to_json() if self.manifest else None,
            "report": self.report.to_json() if self.report else None,
        }

    @property
    def ended_badly(self) -> bool:
        """Failed, refused or stale: the instance ends Failed once the website was told."""
        return self.phase in ENDED_BADLY


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
