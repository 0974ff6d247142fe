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
  (under the plan's source ETag; headers and metadata come from the listing) gives the
  service that MD5 (`source_content_md5`): the service hashes the bytes it copies and
  refuses them unless they match (`x-ms-source-content-md5`:
  https://learn.microsoft.com/rest/api/storageservices/put-block-from-url
  ). Verification `source-md5+copy-md5`; no byte passes through the app.
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
from datetime import datetime
from typing import TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    ContainerClient,
    ContentSettings,
    StorageErrorCode,
)

from shared.block_copy import BlockLayout, FileFailed, Mismatch, commit_blocks, stage_blocks
from shared.checksum import EMPTY_MD5_HEX
from shared.config import Settings
from shared.models import DeliveryRequest, FileEntry, FileResult
from shared.resume import block_id, copied_in_one_block, verification_for
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
        """Copy and verify one file; a per-file failure is a FileResult with `error`."""
        destination_path = self.request.sink_path(entry.path)
        return self.attempts(entry, lambda: self._copy_once(entry, destination_path))

    def attempts(self, entry: FileEntry, action: Callable[[], T]) -> T | FileResult:
        """`action` on one file (a whole copy, or one segment), retried in place; its result,
        or a FileResult with `error` when it failed for this file."""
        destination_path = self.request.sink_path(entry.path)
        mismatches = 0
        last_error: BaseException | None = None
        for attempt in range(1, FILE_ATTEMPTS + 1):
            self.breaker.check()
            try:
                result = action()
            except Mismatch as mismatch:
                mismatches += 1
                if mismatches < MISMATCH_TRIES and attempt < FILE_ATTEMPTS:
                    continue
                return self._failed(entry, destination_path, str(mismatch))
            except FileFailed as failure:
                return self._failed(entry, destination_path, str(failure))
            except (AzureError, OSError) as error:
                fault = StorageFault.of(error)
                if _not_about_one_file(error, fault):
                    raise ChunkAbort(f"{entry.path}: {fault.value}", error) from None
                if not fault.retryable:
                    return self._failed(entry, destination_path, describe_error(error))
                last_error = error
                if attempt < FILE_ATTEMPTS:
                    time.sleep(FILE_RETRY_WAIT_SECONDS * attempt)
                continue
            self.breaker.answered()
            return result
        assert last_error is not None
        self.breaker.exhausted(last_error)
        return FileResult(
            path=entry.path,
            destination_path=destination_path,
            size=entry.size,
            content_type=entry.content_type,
            error=f"after {FILE_ATTEMPTS} attempts: {fault_label(last_error)}",
        )

    def _failed(self, entry: FileEntry, destination_path: str, reason: str) -> FileResult:
        self.breaker.answered()
        return FileResult(
            path=entry.path,
            destination_path=destination_path,
            size=entry.size,
            content_type=entry.content_type,
            error=reason,
        )

    def _copy_once(self, entry: FileEntry, destination_path: str) -> FileResult:
        if copied_in_one_block(entry, self.settings):
            return self._copy_checked_by_service(entry, destination_path)
        return self._copy_in_blocks(entry, destination_path)

    # ----- small files with a source Content-MD5 ---------------------------------------------
    def _copy_checked_by_service(self, entry: FileEntry, destination_path: str) -> FileResult:
        assert entry.content_md5 is not None
        source_path = self.request.source_path(entry.path)
        destination = self.sink.get_blob_client(destination_path)
        md5_digest = bytes.fromhex(entry.content_md5)
        blocks = []
        if entry.size:
            # the copy request's source ETag condition catches a source changed since planning
            self.stage_block(destination, entry, source_path, 0, 0, entry.size, md5_digest)
            blocks.append(BlobBlock(block_id(0, entry.etag)))
        else:
            self._check_unchanged(entry)  # nothing to copy: is the empty source the planned one?
            if entry.content_md5 != EMPTY_MD5_HEX:
                raise FileFailed(
                    f"MD5 mismatch: the source is empty, its Content-MD5 is {entry.content_md5}"
                )
        committed = destination.commit_block_list(
            blocks,
            content_settings=self.headers(entry, md5_digest),
            metadata=entry.metadata or None,
        )
        self.progress.add(entry.size)
        last_modified, etag = committed["last_modified"], committed["etag"]
        assert isinstance(last_modified, datetime) and isinstance(etag, str)
        return FileResult(
            path=entry.path,
            destination_path=destination_path,
            size=entry.size,
            content_md5=entry.content_md5,
            content_type=entry.content_type,
            last_modified=last_modified,
            etag=etag,
            verification=verification_for(entry, self.settings),
        )

    # ----- large files, and files without a source Content-MD5 -------------------------------
    def _copy_in_blocks(self, entry: FileEntry, destination_path: str) -> FileResult:
        layout = BlockLayout.of(entry.size, self.settings)
        if entry.size == 0:
            self._check_unchanged(entry)  # no read carries the ETag condition
        whole_md5 = hashlib.md5()
        stage_blocks(self, entry, layout, range(layout.block_count), whole_md5)
        return commit_blocks(self, entry, layout, whole_md5.hexdigest())

    def _check_unchanged(self, entry: FileEntry) -> None:
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

