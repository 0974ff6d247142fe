"""The models that cross the Durable boundary (activity inputs and outputs) and the plan pages.

Every model derives from `DurableModel`, whose `to_json` / `from_json` pair is how the
azure-functions Durable codec carries custom objects. None of them holds a SAS, a key or a token.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
)

from shared.core.naming import (
    check_run_id,
)

RunId = Annotated[str, AfterValidator(check_run_id)]
# what to do with destination files of the same names (`shared.core.options`)
ConflictPolicy = Literal["fail", "merge", "replace-different"]


class DurableModel(BaseModel):
    """Base of every model that is an activity's input or output."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, json_value: dict[str, Any]) -> Self:
        return cls.model_validate(json_value)


# ----- the plan --------------------------------------------------------------------------------
class FileEntry(DurableModel):
    """One file to deliver, as listed from the source (one line of a plan page)."""

    path: str  # relative to the source (and sink) top-level folder
    size: int = Field(ge=0)
    content_md5: str | None  # lowercase hex, None when the source has none
    content_type: str | None
    last_modified: datetime
    etag: str  # quoted, as the service sends it in headers
    # the source's other headers and its metadata, as listed: the destination gets them at
    # Put Block List, as a copy would carry them, without another request to the source
    content_encoding: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    cache_control: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class SealedDelivery(DurableModel):
    """A delivered folder's seal (in its claim): which attempt delivered it, when, and what."""

    run_id: str
    transfer_uuid: str | None = None
    delivered_at: datetime | None = None
    files: int | None = None  # None in claims sealed before counts were kept
    bytes: int | None = None

    def delivered_on(self) -> str:
        """When it was delivered, for people."""
        stamp = self.delivered_at
        return stamp.strftime("%Y-%m-%d %H:%M UTC") if stamp is not None else "an earlier day"


class Plan(DurableModel):
    """What the plan activity returns: totals and the number of chunk pages, never file lists.

    A delivery that cannot start carries a person-readable reason (`refusal`) and no pages.
    """

    run_id: RunId
    files: int = 0
    bytes: int = 0
    files_without_md5: int = 0
    chunk_count: int = 0
    # work units: one per chunk of whole files, one per segment of a file copied in segments
    unit_count: int = 0
    # every folder under the source folder (empty ones included), in pages (shared.source.listing)
    folders: int = 0
    folder_pages: int = 0
    # Set when the destination folder already holds anything (in the website's own wording).
    destination_conflict: str | None = None
    # Set when a container or the source folder is missing, empty or unusable.
    storage_problem: str | None = None
    # The run id of an earlier attempt of the same delivery whose folder this run took over.
    adopted_from: str | None = None
    # Set when this delivery's folder was already delivered (its claim is sealed): the run only
    # verifies what is there against the source and reports it again; it writes nothing there.
    sealed: SealedDelivery | None = None
    # what to do with destination files of the same names (`shared.core.options`)
    conflict_policy: ConflictPolicy = "fail"
    # this run holds the folder's claim (it seals it once delivered); False when it adds to a
    # folder another delivery holds (merge, replace-different)
    holds_claim: bool = True

    @property
    def refusal(self) -> str | None:
        return self.destination_conflict or self.storage_problem

    def chunk_ref(self, index: int) -> ChunkRef:
        return ChunkRef(run_id=self.run_id, index=index,
                        adopted=self.adopted_from is not None or self.conflict_policy != "fail",
                        verify_only=self.sealed is not None, policy=self.conflict_policy)

    def chunk_refs(self) -> list[ChunkRef]:
        return [self.chunk_ref(index) for index in range(self.chunk_count)]


class ChunkRef(DurableModel):
    """Which plan page a copy activity works on, and which segment of it: a page holding one
    file larger than a work unit is copied one segment after the other (`shared.copy.segments`)."""

    run_id: RunId
    index: int = Field(ge=0)
    segment: Annotated[int, Field(ge=0)] = 0
    # the plan adopted a folder an earlier attempt of the delivery claimed: files that attempt
    # verified may already be there, so even the first copy of this page looks (shared.copy.resume)
    adopted: bool = False
    # the folder is sealed (delivered before): the page's files are verified where they are,
    # nothing is copied
    verify_only: bool = False
    # what to do with a destination file of the same name that is not this version
    policy: ConflictPolicy = "fail"


# ----- copy results ----------------------------------------------------------------------------
Verification = Literal[
    # source Content-MD5 equals the MD5 of the destination's bytes, read once after the copy
    # (in results written by earlier versions; no longer produced)
    "source-md5+dest-read",
    # small file: copied in one Put Block From URL given the source's Content-MD5
    # (source_content_md5); the service hashed the bytes it copied and took them only if equal
    "source-md5+copy-md5",
    # source Content-MD5 equals the MD5 of the source's bytes, read once; the service checked
    # every copied block against the MD5 of those bytes (Put Block From URL source_content_md5)
    "source-md5+block-md5",
    # no source Content-MD5: MD5 computed from the source's bytes, read once; every copied block
    # checked by the service against it
    "computed-from-source+block-md5",
]


class ReplacedFile(DurableModel):
    """What a destination file was before a policy replaced it (the manifest records it)."""

    size: int
    content_md5: str | None
    etag: str


class FileResult(DurableModel):
    """How one file ended (one line of a results page)."""

    path: str  # relative to the top-level folder
    destination_path: str  # full path in the sink container
    size: int
    content_md5: str | None = None  # lowercase hex of the delivered bytes, when verified
    content_type: str | None = None
    last_modified: datetime | None = None  # of the destination blob
    etag: str | None = None  # of the destination blob
    verification: Verification | None = None
    error: str | None = None  # why the file is not delivered and verified
    replaced: ReplacedFile | None = None  # the file it replaced (merge, replace-different)

    @property
    def verified(self) -> bool:
        return self.error is None and self.verification is not None


class FileFailure(DurableModel):
    path: str
    reason: str


FAILURES_KEPT = 20


class ChunkResult(DurableModel):
    """What one copy activity returns: counts and at most 20 failures, never per-file lists."""

    index: int
    files: int
    bytes: int
    verified_files: int
    verified_bytes: int
    failed_files: int
    failures: list[FileFailure] = Field(default_factory=list)
    # verified by an earlier attempt of the chunk (found at the destination, not copied again)
    resumed_files: int = 0
    # a file copied in segments: the segment this result is of, and the one to copy next (None
    # once the file has an outcome). `files` counts the file at its last segment only; `bytes`
    # counts each segment's bytes as it is copied.
    segment: int = 0
    next_segment: int | None = None
    # storage refused the unit in a way no retry changes (no permission, the clock, a container
    # gone, an account not allowed): what a person must fix; the delivery stops
    refusal: str | None = None


class CopyTotals(DurableModel):
    """The sum of every chunk's result: what the orchestrator reports and decides on."""

    files: int = 0
    bytes: int = 0
    verified_files: int = 0
    verified_bytes: int = 0
    failed_files: int = 0
    failures: list[FileFailure] = Field(default_factory=list)
    resumed_files: int = 0

    @classmethod
    def of(cls, chunk_results: Sequence[ChunkResult | CopyTotals]) -> CopyTotals:
        """The sum of chunk results (or of totals already summed: they add the same way)."""
        failures: list[FileFailure] = []
        for chunk_result in chunk_results:
            failures.extend(chunk_result.failures[: FAILURES_KEPT - len(failures)])
        return cls(
            files=sum(chunk_result.files for chunk_result in chunk_results),
            bytes=sum(chunk_result.bytes for chunk_result in chunk_results),
            verified_files=sum(chunk_result.verified_files for chunk_result in chunk_results),
            verified_bytes=sum(chunk_result.verified_bytes for chunk_result in chunk_results),
            failed_files=sum(chunk_result.failed_files for chunk_result in chunk_results),
            failures=failures,
            resumed_files=sum(chunk_result.resumed_files for chunk_result in chunk_results),
        )

    def failure_message(self) -> str | None:
        """A message for the website's error_message (people read it), or None if all verified."""
        if self.failed_files == 0:
            return None
        named = "; ".join(f"{failure.path}: {failure.reason}" for failure in self.failures)
        more = self.failed_files - len(self.failures)
        tail = f"; and {more} more" if more > 0 else ""
        return (
            f"{self.failed_files} of {self.files} files were not delivered and verified: "
            f"{named}{tail}."
        )


# ----- manifest and report ---------------------------------------------------------------------
class BlobLocation(DurableModel):
    account: str
    container: str
    path: str


class ManifestOutcome(DurableModel):
    """What the manifest activity wrote; the callback body itself stays in the work container."""

    file_count: int
    folder_count: int
    total_size: int
    manifest: BlobLocation  # the full manifest, in the delivered folder
    checksums: BlobLocation  # the md5sum -c file, in the delivered folder
    callback: BlobLocation  # the body to POST to the website, in the work container
    callback_bytes: int
    # the callback's manifest is a list of path entries; truncated: they were shrunk to the keys
    # the website reads, or some left out (then the list ends with the manifest file's entry)
    truncated: bool
    entries_left_out: int = 0


ReportStatus = Literal[
    "recorded",  # 200: the website recorded this result
    "already-recorded",  # 400 "not in TRANSFERRING state": an earlier POST was recorded
    "stale",  # 400 "Unable to find delivery": the website started a newer attempt
    "refused",  # 401/403/404/413 or another 4xx: a person must fix a setting; not retried
    # a success report the website answered 5xx, then 400 "not in TRANSFERRING state": it saved
    # the manifest and failed after (its e-mails to the recipients, as its code does it)
    "recorded-after-error",
    # the delivery tells the operators only (an operator's call, a standing rule without a
    # webhook): nothing was POSTed
    "operators-only",
]
# what acknowledges a result: after these, a delivery may delete its source
ACKNOWLEDGED: tuple[ReportStatus, ...] = ("recorded", "already-recorded", "recorded-after-error",
                                          "operators-only")


class ReportOutcome(DurableModel):
    status: ReportStatus
    http_status: int
    attempts: int
    website_message: str = ""  # the website's answer text, trimmed
    server_errors: int = 0  # of the attempts, how many the website answered 5xx


class AccountKind(enum.Enum):
    FLAT = "flat"
    HIERARCHICAL = "hierarchical"


# what an attempt wrote: a file it created, one it replaced (merge, replace-different: never
# removed by its clean-up), a folder, its manifest or checksum file
BlobKind = Literal["file", "replaced", "folder", "service-file"]


class OwnedBlob(DurableModel):
    path: str  # full path in the sink container
    etag: str  # as the service answered the write
    kind: BlobKind = "file"
