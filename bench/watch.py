"""One delivery as the benchmark starts and watches it: its payload, and what the poller saw of
its status (phases, and when the copied/verified figures moved at the status endpoint and in
the custom status the Durable API shows)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.common import SINK_ACCOUNT, SINK_CONTAINER, SOURCE_ACCOUNT, SOURCE_CONTAINER
from bench.seeding import SeededFile

MOVING = ("copied", "verified")  # the parts of the status that move while bytes move
# the same figures in the orchestrator's custom status
CUSTOM_MOVING = ("files_copied", "bytes_copied", "units_done", "files_verified", "bytes_verified")
ENDED = ("Completed", "Failed", "Terminated")


def longest_interval(start: float | None, changes: list[float],
                     end: float) -> tuple[float, float]:
    """The longest time between `start`, the changes seen after it and `end`, and when it
    began; (0, 0) when the copy was never seen."""
    if start is None:
        return 0.0, 0.0
    marks = [start, *(at for at in changes if at > start), end]
    return max(((later - earlier, earlier)
                for earlier, later in zip(marks, marks[1:], strict=False)), default=(0.0, 0.0))


@dataclass
class Delivery:
    """One delivery of a run: its files (paths relative to the run's sink folder), where its
    source folder and its destination are, and the website's ids."""

    name: str
    files: list[SeededFile]
    source_folder: str
    sink_folder: str
    delivery_id: int
    transfer_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def bytes(self) -> int:
        return sum(item.size for item in self.files)

    def payload(self) -> dict[str, Any]:
        return {
            "Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": SOURCE_CONTAINER,
            "Source_TopLevelFolder": self.source_folder,
            "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": SINK_CONTAINER,
            "Sink_TopLevelFolder": self.sink_folder,
            "Webhook_DeliveryID": self.delivery_id, "Webhook_TransferUUID": self.transfer_uuid,
        }


@dataclass
class Watch:
    """What the poller saw of one delivery; times are seconds from the run's start."""

    delivery: Delivery
    instance_id: str = ""
    posted_at: float = 0.0
    ended_at: float | None = None
    phases: list[tuple[str, float]] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)  # copied/verified moved (endpoint)
    custom_changes: list[float] = field(default_factory=list)  # the same in the custom status
    copy_start: float | None = None  # the first poll that saw phase "copying"
    copy_end: float | None = None  # the first poll that saw a later phase
    view: dict[str, Any] = field(default_factory=dict)
    polls: int = 0
    _last: list[Any] | None = None
    _last_custom: list[Any] | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def copying(self) -> bool:
        return (self.view.get("phase") or "") == "copying"

    def saw(self, view: dict[str, Any], at: float) -> None:
        """The status endpoint's answer at `at`."""
        self.view = view
        self.polls += 1
        phase = view.get("phase") or "starting"
        if not self.phases or self.phases[-1][0] != phase:
            self.phases.append((phase, at))
        if phase == "copying":
            self.copy_start = at if self.copy_start is None else self.copy_start
            moving = [view.get(part) for part in MOVING]
            if moving != self._last:
                self.changes.append(at)
                self._last = moving
        elif self.copy_start is not None and self.copy_end is None:
            self.copy_end = at
        if view.get("runtimeStatus") in ENDED:
            self.ended_at = at

    def saw_custom(self, custom: dict[str, Any], at: float) -> None:
        """The custom status the Durable API gave at `at` (polled while copying)."""
        moving = [custom.get(part) for part in CUSTOM_MOVING]
        if moving != self._last_custom:
            self.custom_changes.append(at)
            self._last_custom = moving

    def gaps(self, now: float) -> dict[str, float]:
        """The longest intervals without a change while bytes moved: at the endpoint and in
        the custom status, and when each began (from the first poll that saw "copying" to the
        first that saw it end)."""
        end = now if self.copy_end is None else self.copy_end
        endpoint, endpoint_at = longest_interval(self.copy_start, self.changes, end)
        custom, custom_at = longest_interval(self.copy_start, self.custom_changes, end)
        return {"longest_status_interval": endpoint, "longest_status_interval_at": endpoint_at,
                "longest_custom_status_interval": custom,
                "longest_custom_status_interval_at": custom_at}

    def problems(self, website: Any) -> list[str]:
        """What is wrong with how the delivery ended, as the app and the website saw it."""
        view, files = self.view, self.delivery.files
        found: list[str] = []
        name = self.delivery.name
        if not self.ended:
            copied = view.get("copied") or {}
            return [f"{name}: did not end: phase {view.get('phase')}, copied {copied}"]
        if view.get("runtimeStatus") != "Completed" or view.get("phase") != "delivered":
            found.append(f"{name}: ended {view.get('runtimeStatus')}, phase "
                         f"{view.get('phase')}: {view.get('message')} {view.get('failures')}")
        if (view.get("verified") or {}).get("files") != len(files):
            found.append(f"{name}: the app verified {view.get('verified')} of {len(files)} "
                         "files")
        recorded = website.recorded(self.delivery.delivery_id) or {}
        if "manifest" not in recorded or recorded.get("error_message"):
            found.append(f"{name}: the website recorded no manifest: {str(recorded)[:300]}")
        return found

    def summary(self, now: float) -> dict[str, Any]:
        """The delivery's figures as saved with the run."""
        end = self.ended_at if self.ended_at is not None else now
        return {"name": self.delivery.name, "instance_id": self.instance_id,
                "files": len(self.delivery.files), "bytes": self.delivery.bytes,
                "posted_at": self.posted_at, "seconds": end, "ended": self.ended,
                "phases": self.phases, "status_changes": len(self.changes),
                "custom_status_changes": len(self.custom_changes),
                "copying_seconds": ((self.copy_end or end) - self.copy_start
                                    if self.copy_start is not None else 0.0),
                **self.gaps(now)}
