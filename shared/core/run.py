"""The state of one delivery as the orchestrator carries it, and how it is shown to people.

Plain Python: the orchestrator keeps a `DeliveryRun` (passed through continue-as-new, so the
history of any one generation stays small), shows `DeliveryRun.progress()` as its custom
status, and the status endpoint turns the Durable status into `status_view`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from shared.core.config import DEFAULT_OUTAGE_WAIT_MINUTES, DEFAULT_PARALLEL_CHUNKS
from shared.core.messages import SourceMoved, unit_key
from shared.core.models import (
    ChunkRef,
    ChunkResult,
    CopyTotals,
    DurableModel,
    ManifestOutcome,
    Plan,
    ReportOutcome,
)
from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest
from shared.core.status import (
    ENDED_BADLY,
    FAILURE_PATH_CHARS,
    FAILURE_REASON_CHARS,
    FAILURES_SHOWN,
    MESSAGE_CHARS,
    Phase,
    cut_end,
    cut_middle,
    fit_status,
)


class DeliveryRun(DurableModel):
    """Everything the orchestrator knows about one delivery; no secret, no per-file list.

    Unlike the other models it changes as the orchestrator goes (each assignment validated).
    """

    model_config = ConfigDict(frozen=False, validate_assignment=True)

    request: DeliveryRequest
    run_id: str
    parallel_chunks: int = Field(DEFAULT_PARALLEL_CHUNKS, ge=1)  # work units in flight
    # the units in flight all deliveries copying at once share (None: `parallel_chunks`)
    shared_units: int | None = Field(None, ge=1)
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
    # beyond the website's contract: a conflict policy, moving the source, another receiver
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)
    # what a move deleted from the source (and kept), once it ran
    moved: SourceMoved | None = None

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
            # an operator's or a standing rule's choices (none: the website's defaults)
            **({"options": {
                "conflict_policy": self.options.conflict_policy,
                "move_source": self.options.move_source,
                "told": self.options.receiver.kind, "rule": self.options.rule}}
               if self.options != DeliveryOptions() else {}),
            **({"source_removed": {
                "files": self.moved.files_removed, "bytes": self.moved.bytes_removed,
                "files_kept": self.moved.files_kept,
                "files_left": self.moved.files_left}} if self.moved else {}),
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


