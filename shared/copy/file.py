"""Copy and verify one file server-side, retried in place when storage fails for a moment.

Every file is copied with Put Block From URL and committed with Put Block List, so the
destination never holds the source URL: a Copy Blob From URL leaves it, SAS included, in the
destination's `x-ms-copy-source` property. Azure drops that property once the blob is modified
by Set Blob Properties, Put Blob or Put Block List (`CopyProperties`:
https://learn.microsoft.com/en-us/python/api/azure-storage-blob/azure.storage.blob.copyproperties
); Azurite 3.37 keeps it even then (measured), and a Put Block List onto a fresh blob never
has it. Each copy request carries its own read-only SAS on the one source blob, valid only as
long as that request can take (`COPY_REQUEST_SAS_LIFETIME`, about 7 minutes).

- A small file (<= DDD_SMALL_FILE_MAX_BYTES) with a source Content-MD5: one Put Block From URL
  carrying that MD5, which the service checks; copied as a coroutine (`shared.copy.service`),
  with the attempts and outcomes of this module (`FileTries`).
- Any other file: the source is read once (ranged reads in order, under the plan's ETag) and
  cut into blocks (`shared.copy.blocks`); each block's MD5 goes with its Put Block From URL, so
  the service refuses a block whose bytes differ from the bytes hashed; the whole-file MD5 must
  equal the source's Content-MD5 (`source-md5+block-md5`) or becomes the checksum
  (`computed-from-source+block-md5`); the destination's size and Content-MD5 are read back. A
  file larger than a work unit is copied the same way, one segment per activity
  (`shared.copy.segments`), retried in place segment by segment.

Put Block List comes last, only once the copy verified: a committed destination is a verified
one (`shared.copy.resume`). Block ids name the source version, so the committed block list records
what was copied.

Failures: a source changed or deleted after planning is a per-file result at once. An MD5
mismatch is tried once more before it is final (a read corrupted on the way must not fail a good
file). A transient storage failure (`StorageFault.retryable`, after the SDK's own retries of
the request) retries the file, `FILE_ATTEMPTS` attempts in all, then is a per-file result
("after 3 attempts: HTTP 503 ServerBusy"). Failures that are not about one file raise
`ChunkAbort`: no permission, an account or container missing, or `Breaker.limit` files in a
row failing after all their attempts (storage is down, not one file).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobClient,
    ContainerClient,
    ContentSettings,
    StorageErrorCode,
)

from shared.copy.blocks import BlockLayout, FileFailed, Mismatch, commit_blocks, stage_blocks
from shared.copy.progress import UnitProgress
from shared.copy.resume import block_id, copied_in_one_block, verified_existing, written_by
from shared.core.config import Settings
from shared.core.models import FileEntry, FileResult, OwnedBlob
from shared.core.request import DeliveryRequest
from shared.storage import sas as source_sas
from shared.storage.errors import (
    StorageFault,
    clock_skew_of,
    describe_error,
    fault_label,
    has_code,
    skew_date,
)
from shared.storage.sas import SAS_CLOCK_SKEW, SourceSas

FILE_ATTEMPTS = 3
# before the 2nd attempt; twice that before the 3rd (the SDK has already retried each request)
FILE_RETRY_WAIT_SECONDS = 2.0
MISMATCH_TRIES = 2  # a mismatch is final the second time

T = TypeVar("T")

SOURCE_CHANGED = "the source changed after planning (its ETag differs); deliver again"
SOURCE_DELETED = "the source was deleted after planning; deliver again"
DESTINATION_TAKEN = (
    "the destination already holds a file of this name that is not this version of the source "
    "and was not written by this attempt; it was left as it is"
)
BLOCK_MD5_REFUSED = (
    "the storage service read other bytes than the app hashed (a block's MD5 was refused)"
)


class ChunkAbort(Exception):
    """Storage failed in a way that is not about one file: the chunk stops. `transient`: it
    failed for a moment (try the unit again later); else it refused (no retry changes it)."""

    def __init__(self, what: str, error: BaseException, *, transient: bool) -> None:
        super().__init__(what)
        self.what = what
        self.error = error
        self.transient = transient


def refusal_of(entry: FileEntry, error: BaseException, fault: StorageFault) -> str:
    """Why storage refused a file's copy in a way no retry changes, naming what to fix: a SAS
    refused while the service's clock is minutes from the app's names the clock."""
    skew = clock_skew_of(error, now=source_sas.utc_now())
    if fault is StorageFault.NO_PERMISSION and skew is not None:
        direction = "ahead of" if skew > timedelta(0) else "behind"
        return (f"{entry.path}: the storage service refused the copy's read-only SAS "
                f"({fault_label(error)}), and this machine's clock is "
                f"{abs(skew).total_seconds() / 60:.0f} minutes {direction} the storage "
                f"service's (its answer is dated {skew_date(error)}): a SAS is valid from "
                f"{SAS_CLOCK_SKEW.total_seconds() / 60:.0f} minutes before this machine's time "
                "for a few minutes only, so set this machine's clock right (NTP) and deliver "
                "again")
    return f"{entry.path}: {fault.value} ({fault_label(error)})"


def _not_about_one_file(error: BaseException, fault: StorageFault) -> bool:
    return fault in (StorageFault.NO_PERMISSION, StorageFault.ACCOUNT_UNREACHABLE) or has_code(
        error, StorageErrorCode.CONTAINER_NOT_FOUND
    )


class Breaker:
    """Trips at the first file that failed for a moment after all its attempts: storage is
    failing, not that file, so the unit stops and is tried again later as a whole (the
    orchestrator waits the outage out; the retry resumes at the file). Once tripped, every
    file raises the same ChunkAbort."""

    def __init__(self) -> None:
        self._tripped: ChunkAbort | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            if self._tripped is not None:
                raise self._tripped

    def trip(self, abort: ChunkAbort) -> None:
        with self._lock:
            if self._tripped is None:
                self._tripped = abort
            raise self._tripped


class FileTries:
    """One file's attempts: what follows each failed one. Shared by the threaded copies
    (`FileCopier.attempts`) and the asyncio ones (`shared.copy.service`)."""

    def __init__(self, copier: FileCopier, entry: FileEntry) -> None:
        self._copier = copier
        self._entry = entry
        self._mismatches = 0
        self._last_error: BaseException | None = None

    def after(self, error: BaseException, attempt: int) -> FileResult | float:
        """After attempt number `attempt` failed with `error`: the file's final result, or the
        seconds to wait before the next attempt. Raises ChunkAbort for a failure that is not
        about this file."""
        entry = self._entry
        if isinstance(error, Mismatch):
            self._mismatches += 1
            if self._mismatches < MISMATCH_TRIES and attempt < FILE_ATTEMPTS:
                return 0.0
            return self._copier.failed(entry, str(error))
        if isinstance(error, FileFailed):
            return self._copier.failed(entry, str(error))
        fault = StorageFault.of(error)
        if _not_about_one_file(error, fault):
            raise ChunkAbort(refusal_of(entry, error, fault), error, transient=False) from None
        if not fault.retryable:
            return self._copier.failed(entry, describe_error(error))
        self._last_error = error
        return FILE_RETRY_WAIT_SECONDS * attempt if attempt < FILE_ATTEMPTS else 0.0

    def exhausted(self) -> NoReturn:
        """Every attempt failed for a moment: storage is failing, the unit stops (ChunkAbort,
        transient) and is tried again later."""
        assert self._last_error is not None
        self._copier.breaker.trip(ChunkAbort(
            f"{self._entry.path}: still failing after {FILE_ATTEMPTS} attempts "
            f"({fault_label(self._last_error)})", self._last_error, transient=True))
        raise AssertionError("a tripped breaker raises")


@dataclass
class FileCopier:
    request: DeliveryRequest
    settings: Settings
    run_id: str  # the attempt: its block ids name it (`shared.copy.resume.block_id`)
    source: ContainerClient
    sink: ContainerClient
    source_sas: SourceSas  # one SAS per copy request, valid COPY_REQUEST_SAS_LIFETIME
    stage_pool: ThreadPoolExecutor
    file_pool: ThreadPoolExecutor
    breaker: Breaker
    progress: UnitProgress  # bytes moved, for the status while the unit runs
    # what this unit wrote into the destination, as it commits each file
    # (`shared.storage.work`)
    written: list[OwnedBlob] = field(default_factory=list)

    def copy_file(self, entry: FileEntry) -> FileResult:
        """Copy and verify one file in blocks (a small file with a source Content-MD5 goes to
        `shared.copy.service` instead); a per-file failure is a FileResult with `error`."""
        destination_path = self.request.sink_path(entry.path)
        return self.attempts(entry, lambda: self._copy_in_blocks(entry, destination_path))

    def attempts(self, entry: FileEntry, action: Callable[[], T]) -> T | FileResult:
        """`action` on one file (a whole copy, or one segment), retried in place; its result,
        or a FileResult with `error` when it failed for this file."""
        tries = FileTries(self, entry)
        for attempt in range(1, FILE_ATTEMPTS + 1):
            self.breaker.check()
            try:
                result = action()
            except (Mismatch, FileFailed, AzureError, OSError) as error:
                outcome = tries.after(error, attempt)
                if isinstance(outcome, FileResult):
                    return outcome
                time.sleep(outcome)
                continue
            return result
        return tries.exhausted()

    def failed(self, entry: FileEntry, reason: str) -> FileResult:
        """The file's result when it failed for a reason of its own (storage answered)."""
        return FileResult(
            path=entry.path,
            destination_path=self.request.sink_path(entry.path),
            size=entry.size,
            content_type=entry.content_type,
            error=reason,
        )

    # ----- large files, and files without a source Content-MD5 -------------------------------
    def _copy_in_blocks(self, entry: FileEntry, destination_path: str) -> FileResult:
        layout = BlockLayout.of(entry.size, self.settings)
        if entry.size == 0:
            self.check_unchanged(entry)  # no read carries the ETag condition
        whole_md5 = hashlib.md5()
        stage_blocks(self, entry, layout, range(layout.block_count), whole_md5)
        return commit_blocks(self, entry, layout, whole_md5.hexdigest())

    def check_unchanged(self, entry: FileEntry) -> None:
        try:
            self.source.get_blob_client(self.request.source_path(entry.path)).get_blob_properties(
                etag=entry.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            raise self.source_failure(error, entry) from None

    def stage_block(
        self,
        destination: BlobClient,
        entry: FileEntry,
        source_path: str,
        index: int,
        offset: int,
        length: int,
        md5_digest: bytes,
    ) -> None:
        try:
            destination.stage_block_from_url(
                block_id(index, entry.etag, self.run_id),
                # a fresh SAS per request, valid only as long as this request can take
                self.source_sas.blob_url(self.source.container_name, source_path),
                source_offset=offset,
                source_length=length,
                source_content_md5=md5_digest,
                headers={"x-ms-source-if-match": entry.etag},
            )
        except HttpResponseError as error:
            raise self.source_failure(error, entry) from None

    def wrote(self, destination_path: str, etag: str) -> None:
        """Note a blob this attempt created (list appends are atomic: threads and the event
        loop share the list)."""
        self.written.append(OwnedBlob(path=destination_path, etag=etag))

    def found_at_destination(self, entry: FileEntry, destination_path: str) -> FileResult:
        """After a commit refused because the destination exists (If-None-Match): the file
        there when it is this version of the source (this attempt's own commit whose answer
        was lost, or an earlier attempt's), else FileFailed naming it. Nothing is replaced."""
        blob = self.sink.get_blob_client(destination_path)
        result = verified_existing(blob, entry, self.settings)
        if result is None:
            raise FileFailed(DESTINATION_TAKEN)
        committed, _uncommitted = blob.get_block_list("committed")
        if written_by([block.id for block in committed], self.run_id) and result.etag:
            self.wrote(destination_path, result.etag)
        return result

    @staticmethod
    def headers(entry: FileEntry, md5_digest: bytes) -> ContentSettings:
        """The source's headers as planned (as a copy would carry them) and the verified MD5."""
        return ContentSettings(
            content_type=entry.content_type,
            content_encoding=entry.content_encoding,
            content_language=entry.content_language,
            content_disposition=entry.content_disposition,
            cache_control=entry.cache_control,
            content_md5=bytearray(md5_digest),
        )

    # ----- telling a changed source from a broken service ------------------------------------
    def source_failure(self, error: HttpResponseError, entry: FileEntry) -> Exception:
        """The per-file failure an error means, or the error itself to raise.

        Condition failures, MD5 refusals and a missing blob (or copy source) are told apart by
        looking at the source again; a missing container is not about this file.
        """
        fault = StorageFault.of(error)
        if fault not in (
            StorageFault.CONDITION_FAILED, StorageFault.MD5_MISMATCH, StorageFault.NOT_FOUND
        ) or has_code(error, StorageErrorCode.CONTAINER_NOT_FOUND):
            return error
        source_blob = self.source.get_blob_client(self.request.source_path(entry.path))
        try:
            current_etag = source_blob.get_blob_properties().etag
        except ResourceNotFoundError as missing:
            if has_code(missing, StorageErrorCode.CONTAINER_NOT_FOUND):
                return missing
            return FileFailed(SOURCE_DELETED)
        if current_etag != entry.etag or fault is StorageFault.CONDITION_FAILED:
            return FileFailed(SOURCE_CHANGED)
        if fault is StorageFault.MD5_MISMATCH:
            if copied_in_one_block(entry, self.settings):
                return Mismatch(
                    f"MD5 mismatch: the source's bytes do not hash to its Content-MD5 "
                    f"{entry.content_md5} (the storage service refused the copy)"
                )
            return Mismatch(BLOCK_MD5_REFUSED)
        return error

