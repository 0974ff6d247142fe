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
  carrying that MD5, which the service checks; copied as a coroutine (`shared.service_copy`),
  with the attempts and outcomes of this module (`FileTries`).
- Any other file: the source is read once (ranged reads in order, under the plan's ETag) and
  cut into blocks (`shared.block_copy`); each block's MD5 goes with its Put Block From URL, so
  the service refuses a block whose bytes differ from the bytes hashed; the whole-file MD5 must
  equal the source's Content-MD5 (`source-md5+block-md5`) or becomes the checksum
  (`computed-from-source+block-md5`); the destination's size and Content-MD5 are read back. A
  file larger than a work unit is copied the same way, one segment per activity
  (`shared.segments`), retried in place segment by segment.

Put Block List comes last, only once the copy verified: a committed destination is a verified
one (`shared.resume`). Block ids name the source version, so the committed block list records
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
from dataclasses import dataclass
from typing import TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobClient,
    ContainerClient,
    ContentSettings,
    StorageErrorCode,
)

from shared.block_copy import BlockLayout, FileFailed, Mismatch, commit_blocks, stage_blocks
from shared.config import Settings
from shared.models import DeliveryRequest, FileEntry, FileResult
from shared.resume import block_id, copied_in_one_block
from shared.source_sas import SourceSas
from shared.storage import describe_error
from shared.storage_errors import StorageFault, fault_label, has_code
from shared.unit_progress import UnitProgress

FILE_ATTEMPTS = 3
# before the 2nd attempt; twice that before the 3rd (the SDK has already retried each request)
FILE_RETRY_WAIT_SECONDS = 2.0
MISMATCH_TRIES = 2  # a mismatch is final the second time

T = TypeVar("T")

SOURCE_CHANGED = "the source changed after planning (its ETag differs); deliver again"
SOURCE_DELETED = "the source was deleted after planning; deliver again"
BLOCK_MD5_REFUSED = (
    "the storage service read other bytes than the app hashed (a block's MD5 was refused)"
)


class ChunkAbort(Exception):
    """Storage failed in a way that is not about one file: the chunk stops and raises."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(what)
        self.what = what
        self.error = error


def _not_about_one_file(error: BaseException, fault: StorageFault) -> bool:
    return fault in (StorageFault.NO_PERMISSION, StorageFault.ACCOUNT_UNREACHABLE) or has_code(
        error, StorageErrorCode.CONTAINER_NOT_FOUND
    )


class Breaker:
    """Trips when `limit` files in a row fail after all their attempts; any other outcome of a
    file (storage answered) resets the count. Once tripped, every file raises ChunkAbort."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_a_row = 0
        self._tripped: ChunkAbort | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            if self._tripped is not None:
                raise self._tripped

    def answered(self) -> None:
        with self._lock:
            self._in_a_row = 0

    def exhausted(self, error: BaseException) -> None:
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row >= self.limit and self._tripped is None:
                self._tripped = ChunkAbort(
                    f"{self._in_a_row} files in a row failed after {FILE_ATTEMPTS} attempts each",
                    error,
                )
            if self._tripped is not None:
                raise self._tripped


class FileTries:
    """One file's attempts: what follows each failed one. Shared by the threaded copies
    (`FileCopier.attempts`) and the asyncio ones (`shared.service_copy`)."""

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
            raise ChunkAbort(f"{entry.path}: {fault.value}", error) from None
        if not fault.retryable:
            return self._copier.failed(entry, describe_error(error))
        self._last_error = error
        return FILE_RETRY_WAIT_SECONDS * attempt if attempt < FILE_ATTEMPTS else 0.0

    def exhausted(self) -> FileResult:
        """The file's result once every attempt failed for a moment (the breaker counts it)."""
        assert self._last_error is not None
        self._copier.breaker.exhausted(self._last_error)
        return FileResult(
            path=self._entry.path,
            destination_path=self._copier.request.sink_path(self._entry.path),
            size=self._entry.size,
            content_type=self._entry.content_type,
            error=f"after {FILE_ATTEMPTS} attempts: {fault_label(self._last_error)}",
        )


@dataclass
class FileCopier:
    request: DeliveryRequest
    settings: Settings
    source: ContainerClient
    sink: ContainerClient
    source_sas: SourceSas  # one SAS per copy request, valid COPY_REQUEST_SAS_LIFETIME
    stage_pool: ThreadPoolExecutor
    file_pool: ThreadPoolExecutor
    breaker: Breaker
    progress: UnitProgress  # bytes moved, for the status while the unit runs

    def copy_file(self, entry: FileEntry) -> FileResult:
        """Copy and verify one file in blocks (a small file with a source Content-MD5 goes to
        `shared.service_copy` instead); a per-file failure is a FileResult with `error`."""
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
            self.breaker.answered()
            return result
        return tries.exhausted()

    def failed(self, entry: FileEntry, reason: str) -> FileResult:
        """The file's result when it failed for a reason of its own (storage answered)."""
        self.breaker.answered()
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
                block_id(index, entry.etag),
                # a fresh SAS per request, valid only as long as this request can take
                self.source_sas.blob_url(self.source.container_name, source_path),
                source_offset=offset,
                source_length=length,
                source_content_md5=md5_digest,
                headers={"x-ms-source-if-match": entry.etag},
            )
        except HttpResponseError as error:
            raise self.source_failure(error, entry) from None

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

