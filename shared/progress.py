"""The state of one delivery as the orchestrator carries it, and how it is shown to people.

Plain Python: the orchestrator keeps a `DeliveryRun` (passed through continue-as-new, so the
history of any one generation stays small), shows `DeliveryRun.progress()` as its custom
status, and the status endpoint turns the Durable status into `status_view`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from shared.models import (
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
    "planning", "copying", "writing-manifest", "reporting", "delivered", "refused", "failed",
    "stale",
]

def instance_id_for(request: DeliveryRequest) -> str:
    """One Durable instance per (delivery id, transfer UUID): the same POST twice is one run.

    Both parts are made of letters, digits, '.', '_' and '-' (the request's rules), which an
    instance id may hold; the UUID is lowercased, so either case of it names the same run.
    """
    return f"delivery-{request.delivery_id}-{request.transfer_uuid.lower()}"


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
    parallel_chunks: int = Field(16, ge=1)
    plan: Plan | None = None
    next_chunk: int = 0
    totals: CopyTotals = Field(default_factory=CopyTotals)
    phase: Phase = "planning"
    message: str | None = None
    manifest: ManifestOutcome | None = None
    report: ReportOutcome | None = None

    def next_wave(self) -> list[ChunkRef]:
        """The chunks to copy next, at most `parallel_chunks` of them."""
        assert self.plan is not None
        last = min(self.plan.chunk_count, self.next_chunk + self.parallel_chunks)
        return [ChunkRef(run_id=self.run_id, index=i) for i in range(self.next_chunk, last)]

    def add_wave(self, results: list[ChunkResult]) -> None:
        self.totals = CopyTotals.of([self.totals, *results])
        self.next_chunk += len(results)

    @property
    def copying_done(self) -> bool:
        return self.plan is not None and self.next_chunk >= self.plan.chunk_count

    def progress(self) -> dict[str, Any]:
        """The custom status: what the portal and the status endpoint show while it runs."""
        plan = self.plan
        return {
            "phase": self.phase,
            "delivery_id": self.request.delivery_id,
            "transfer_uuid": self.request.transfer_uuid,
            "files_planned": plan.files if plan else None,
            "bytes_planned": plan.bytes if plan else None,
            "chunks_planned": plan.chunk_count if plan else None,
            "chunks_done": self.next_chunk,
            "files_copied": self.totals.files,
            "bytes_copied": self.totals.bytes,
            "files_verified": self.totals.verified_files,
            "bytes_verified": self.totals.verified_bytes,
            "files_failed": self.totals.failed_files,
            "failures": [failure.to_json() for failure in self.totals.failures],
            "message": self.message,
        }

    def outcome(self) -> dict[str, Any]:
        """The orchestration's output: the final progress plus where the manifest went."""
        return {
            **self.progress(),
            "manifest": self.manifest.to_json() if self.manifest else None,
            "report": self.report.to_json() if self.report else None,
        }


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
                    "chunks": progress.get("chunks_planned")},
        "copied": {"files": progress.get("files_copied"), "bytes": progress.get("bytes_copied"),
                   "chunks": progress.get("chunks_done")},
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
        view["phase"] = "failed"
        view["message"] = status.get("output")
    return view
