"""What crosses the Durable boundary between orchestrators and activities: each activity's
input and output (plain models, `to_json`/`from_json` as the Durable codec carries them). None
holds a SAS, a key or a token; none holds a per-file list (those stay in the work container).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.core.models import (
    FAILURES_KEPT,
    AccountKind,
    BlobLocation,
    ChunkRef,
    DurableModel,
    FileFailure,
    RunId,
    SealedDelivery,
)
from shared.core.options import DeliveryOptions, Receiver
from shared.core.request import DeliveryRequest


class PlanInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)


class ChunkInput(DurableModel):
    request: DeliveryRequest
    chunk: ChunkRef


class ManifestInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    chunk_count: int
    sealed: bool = False  # a sealed folder: the callback only, nothing written there
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)
    # False: added to a folder another delivery holds (a policy's), whose manifest stays;
    # this delivery's is written beside it under its own name
    holds_claim: bool = True


class FailuresInput(DurableModel):
    run_id: str
    chunk_count: int


class FailuresRecorded(DurableModel):
    """How many failed files `record_failures` listed in the work container."""

    files: int


class ReportInput(DurableModel):
    """What the report activity sends: the stored callback body, or an error message."""

    request: DeliveryRequest
    run_id: str
    error_message: str | None = None
    receiver: Receiver = Field(default_factory=Receiver)


def unit_key(chunk: ChunkRef) -> str:
    return f"{chunk.index}.{chunk.segment}"


class UnitsMoving(DurableModel):
    """Bytes moved so far by each unit in flight (`unit_key`), as last written by the unit."""

    bytes_by_unit: dict[str, int] = Field(default_factory=dict)


class ProgressInput(DurableModel):
    run_id: str
    units: list[ChunkRef]


class AccessInput(DurableModel):
    request: DeliveryRequest
    continuation: str | None = None  # the service's token from the previous call


class AccessOutcome(DurableModel):
    readers: int
    directories: int = 0
    files: int = 0
    continuation: str | None = None  # more paths to do: call again with it


class FoldersInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    folder_pages: int


class FoldersOutcome(DurableModel):
    kind: AccountKind
    folders: int  # the planned folders, plus the delivered folder itself
    created: int  # of those, how many did not exist yet


class SealInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    files: int
    bytes: int


class CleanupOutcome(DurableModel):
    """What a clean-up removed, and what it left in the destination folder."""

    removed: int = 0
    # files still there that this attempt did not write (an earlier attempt's, the recipient's)
    left: int = 0
    claim_kept: bool = False  # the folder's claim (and so the folder) stays
    # why nothing was removed: the folder is sealed, or another attempt holds it now
    untouched: str | None = None


class NotifyInput(DurableModel):
    """How a delivery ended, as the orchestrator knows it (its progress), or the error that
    stopped it; never a secret."""

    request: DeliveryRequest
    run_id: str
    progress: dict[str, Any]
    error: str | None = None


class NotifyOutcome(DurableModel):
    status: Literal["sent", "already-sent", "not-configured", "not-wanted", "failed"]
    detail: str = ""


class CancelInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    progress: dict[str, Any]  # the delivery's last custom status (counts, phase)
    reason: str
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)


class ResendInput(DurableModel):
    request: DeliveryRequest
    run_id: str
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)


class DryRunInput(DurableModel):
    request: DeliveryRequest
    run_id: RunId
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)


class LargestFile(DurableModel):
    path: str  # relative to the source folder
    size: int


class DestinationOutlook(DurableModel):
    """What the delivery would find at the destination."""

    # the delivery could start there (empty, or an earlier attempt's to take over); None when
    # the plan stopped on a storage problem first (`refusal` says which)
    free: bool | None
    # the run id of an earlier attempt of the same delivery, whose folder would be taken over
    adopts_from: str | None = None
    # the delivery was delivered there before (its folder is sealed): the delivery would only
    # verify the files there against the source and report them again, copying nothing
    delivered: SealedDelivery | None = None
    # why the delivery would be refused there, in the website's words
    conflict: str | None = None
    # the conflict policy adds to a folder that holds files (or was delivered before)
    adds_to: bool = False


class PolicyOutlook(DurableModel):
    """What a conflict policy other than `fail` would do with the files the destination folder
    holds now, counted against the plan (the manifest names each after the delivery)."""

    # there with the source's size and MD5: kept, not copied
    verified_there: int = 0
    # not there: copied
    missing: int = 0
    # there, with another size or MD5: replace-different replaces them; merge replaces those
    # this service wrote and keeps (and names) the others
    differing: int = 0
    # there, with a source that has no MD5: read and compared when the delivery runs
    compared_when_copied: int = 0
    # there and not part of the delivery: listed in the manifest as present, not delivered
    present_not_delivered: int = 0


class MoveOutlook(DurableModel):
    """What moving the delivery would delete from the source, once the receiver acknowledged
    the result: the planned files (each only if unchanged since), then the folders left
    empty."""

    folder: BlobLocation
    files: int
    bytes: int


class DryRunReport(DurableModel):
    """What a delivery of this request would do; no SAS, key or token, no per-file list."""

    run_id: str
    source: BlobLocation
    destination: BlobLocation
    files: int = 0
    bytes: int = 0
    files_without_md5: int = 0  # their MD5 is computed from the source's bytes when copied
    folders: int = 0  # folders the delivery creates (the manifest's folder_count)
    largest_file: LargestFile | None = None
    # the work units the delivery runs: one per chunk of whole files, one per segment of a file
    # larger than a unit (the planner's own count)
    work_units: int = 0
    chunks: int = 0  # plan pages: the chunks of whole files, and each file copied by segments
    destination_outlook: DestinationOutlook
    # what the delivery would answer the website instead of copying (None: it would copy)
    refusal: str | None = None
    # the plan's pages: one JSON line per file the delivery would copy
    file_list: BlobLocation | None = None
    options: DeliveryOptions = Field(default_factory=DeliveryOptions)
    policy_outlook: PolicyOutlook | None = None  # a policy other than fail
    move: MoveOutlook | None = None  # a delivery that moves its source


def cancel_message(reason: str) -> str:
    """What the website is told about a cancelled delivery (people read it)."""
    said = f": {reason}" if reason else ""
    return (f"The transfer was cancelled by an operator{said}. Nothing was left in the "
            "destination; the delivery can be retried.")


class MoveInput(DurableModel):
    """Delete the source files of plan pages from `first_page` on (`shared.source.move`)."""

    request: DeliveryRequest
    run_id: str
    chunk_count: int
    first_page: int = 0


class SourceMoved(DurableModel):
    """What a move deleted from the source, and kept; `next_page` None once all is done."""

    files_removed: int = 0
    bytes_removed: int = 0
    files_kept: int = 0  # changed since they were delivered
    kept: list[FileFailure] = Field(default_factory=list)  # the first of them
    folders_removed: int = 0
    # once done: the files still in the source folder (changed, or added since the plan), and
    # the first of their paths
    files_left: int = 0
    left: list[str] = Field(default_factory=list)
    next_page: int | None = None
    refusal: str | None = None  # moving is not allowed there (nothing was deleted)

    def add(self, more: SourceMoved) -> SourceMoved:
        return SourceMoved(
            files_removed=self.files_removed + more.files_removed,
            bytes_removed=self.bytes_removed + more.bytes_removed,
            files_kept=self.files_kept + more.files_kept,
            kept=(self.kept + more.kept)[:FAILURES_KEPT],
            folders_removed=self.folders_removed + more.folders_removed,
            files_left=more.files_left, left=more.left,
            next_page=more.next_page, refusal=more.refusal or self.refusal)
