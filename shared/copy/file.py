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
  with the same attempts and outcomes (`shared.copy.attempts.FileTries`).
- Any other file: the source is read once (ranged reads in order, under the plan's ETag) and
  cut into blocks (`shared.copy.blocks.BlockLayout`); each block's MD5 goes with its Put Block
  From URL, so the service refuses a block whose bytes differ from the bytes hashed; the
  whole-file MD5 must
  equal the source's Content-MD5 (`source-md5+block-md5`) or becomes the checksum
  (`computed-from-source+block-md5`); the destination's size and Content-MD5 are read back. A
  file larger than a work unit is copied the same way, one segment per activity
  (`shared.copy.segments`), retried in place segment by segment.

The bytes of a run of blocks are read as ranged GETs, several in flight, handed back in order
(`shared.copy.ranged_read`); every range is read under the plan's source ETag. Put Block List
comes last, only once the copy verified, and only where nothing is (If-None-Match `*`): a
committed destination is a verified one (`shared.copy.resume`), and a name already there is
never replaced. Block ids name the source version and the attempt
(`shared.copy.resume.block_id`), and every blob the unit commits is noted (`written`) for its
ownership record.

Failures and the file's attempts in place: `shared.copy.attempts`.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    ContainerClient,
    ContentSettings,
    StorageErrorCode,
)

from shared.copy.attempts import FILE_ATTEMPTS, Breaker, FileFailed, FileTries, Mismatch
from shared.copy.blocks import BLOCKS_IN_FLIGHT_PER_FILE, BlockLayout, HashedBlock
from shared.copy.md5_state import RunningMd5
from shared.copy.progress import UnitProgress
from shared.copy.ranged_read import RANGE_BYTES, Span, read_in_order, spans_of
from shared.copy.resume import (
    block_id,
    committed_block_ids,
    copied_in_one_block,
    verification_for,
    verified_existing,
    written_by,
    written_by_this_service,
)
from shared.core.config import Settings
from shared.core.models import (
    BlobKind,
    ConflictPolicy,
    FileEntry,
    FileResult,
    OwnedBlob,
    ReplacedFile,
)
from shared.core.request import DeliveryRequest
from shared.storage.clients import md5_hex_of, quoted_etag
from shared.storage.errors import (
    StorageFault,
    has_code,
)
from shared.storage.sas import SourceSas

T = TypeVar("T")

SOURCE_CHANGED = "the source changed after planning (its ETag differs); deliver again"
SOURCE_DELETED = "the source was deleted after planning; deliver again"
KEPT_BY_MERGE = (
    "the destination holds a different file of this name that this service did not write; "
    "merge keeps it (replace-different would replace it)"
)
DESTINATION_TAKEN = (
    "the destination already holds a file of this name that is not this version of the source "
    "and was not written by this attempt; it was left as it is"
)
BLOCK_MD5_REFUSED = (
    "the storage service read other bytes than the app hashed (a block's MD5 was refused)"
)


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
    # what to do with a destination file of the same name (`shared.core.options`)
    policy: ConflictPolicy = "fail"
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
        tries = FileTries(entry, self.breaker, self.failed)
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
        self.stage_blocks(entry, layout, range(layout.block_count), whole_md5)
        return self.commit_blocks(entry, layout, whole_md5.hexdigest())

    def stage_blocks(self, entry: FileEntry, layout: BlockLayout, blocks: range,
                     whole_md5: RunningMd5, *, staged_first: Sequence[HashedBlock] = (),
                     left_to_stage: int = 0) -> list[HashedBlock]:
        """Read the blocks' bytes once (in order), feed them to `whole_md5`, and stage every
        block with its own MD5, except the last `left_to_stage`: those are returned, hashed,
        for the next segment to stage (`staged_first`: the blocks the segment before left,
        staged while this one reads). Raises FileFailed for a per-file failure (the source
        changed or was deleted, a block's MD5 refused) and storage errors otherwise."""
        source_path = self.request.source_path(entry.path)
        source_blob = self.source.get_blob_client(source_path)
        destination = self.sink.get_blob_client(self.request.sink_path(entry.path))
        left: list[HashedBlock] = []
        # staged beside this segment's reads: a Put Block From URL needs no byte from here
        carried = [self.stage_pool.submit(
            self.stage_block, destination, entry, source_path, block.index,
            *layout.block_span(block.index), block.md5) for block in staged_first]
        kept_from = blocks.stop - left_to_stage
        # ranges never straddle a block: each block is a whole number of ranges
        range_bytes = min(RANGE_BYTES, layout.block_size)
        spans: list[Span] = []
        ends: dict[int, int] = {}  # the span index that ends each block -> block index
        for index in blocks:
            offset, length = layout.block_span(index)
            spans.extend(spans_of(offset, length, range_bytes))
            ends[len(spans) - 1] = index
        in_flight: deque[Future[None]] = deque()
        read = 0
        block_md5 = hashlib.md5()
        try:
            try:
                # no enumerate(): its cached tuple would keep each piece alive while the
                # read waits for the next range
                position = -1
                for piece in read_in_order(source_blob, spans, etag=entry.etag):
                    position += 1
                    if len(piece) != spans[position][1]:
                        raise Mismatch(f"read {read + len(piece)} bytes of the source where the "
                                       f"plan has more (planned {entry.size})")
                    whole_md5.update(piece)
                    block_md5.update(piece)
                    read += len(piece)
                    self.progress.add(len(piece))
                    del piece
                    finished = ends.get(position)
                    if finished is None:
                        continue
                    if finished >= kept_from:
                        left.append(HashedBlock(finished, block_md5.digest()))
                    else:
                        offset, length = layout.block_span(finished)
                        in_flight.append(self.stage_pool.submit(
                            self.stage_block, destination, entry, source_path, finished, offset,
                            length, block_md5.digest()))
                    block_md5 = hashlib.md5()
                    if len(in_flight) >= BLOCKS_IN_FLIGHT_PER_FILE:
                        in_flight.popleft().result()
            except HttpResponseError as error:
                raise self.source_failure(error, entry) from None
            while in_flight:
                in_flight.popleft().result()
            for staging in carried:
                staging.result()
        finally:
            for pending in [*in_flight, *carried]:
                pending.cancel()
        return left

    def commit_blocks(self, entry: FileEntry, layout: BlockLayout, md5_hex: str) -> FileResult:
        """Check the whole-file MD5 against the plan's, then commit every block (with that MD5 and
        the source's headers) and read the destination back. Raises Mismatch or FileFailed."""
        if entry.content_md5 is not None and md5_hex != entry.content_md5:
            raise Mismatch(f"MD5 mismatch: the source's bytes hash to {md5_hex}, its "
                           f"Content-MD5 is {entry.content_md5}")
        destination_path = self.request.sink_path(entry.path)
        destination = self.sink.get_blob_client(destination_path)
        blocks = [BlobBlock(block_id(index, entry.etag, self.run_id))
                  for index in range(layout.block_count)]
        headers = self.headers(entry, bytes.fromhex(md5_hex))
        try:
            # created, never replaced: a blob there is not this attempt's to overwrite
            committed = destination.commit_block_list(
                blocks, content_settings=headers, metadata=entry.metadata or None,
                match_condition=MatchConditions.IfMissing)
        except ResourceExistsError:
            return self.found_at_destination(entry, destination_path, blocks, headers)
        self.wrote(destination_path, str(committed["etag"]))
        return self.read_back(entry, destination, md5_hex)

    def read_back(self, entry: FileEntry, destination: BlobClient, md5_hex: str,
                  replaced: ReplacedFile | None = None) -> FileResult:
        """The committed file's result, once its size and Content-MD5 read back as copied."""
        properties = destination.get_blob_properties()
        if properties.size != entry.size or md5_hex_of(properties.content_settings) != md5_hex:
            properties = destination.get_blob_properties()  # one re-read before it is final
        if properties.size != entry.size:
            raise FileFailed(
                f"the destination holds {properties.size} bytes, the source {entry.size}")
        if md5_hex_of(properties.content_settings) != md5_hex:
            raise FileFailed("the destination's Content-MD5 is not the MD5 of the source's bytes")
        return FileResult(
            path=entry.path,
            destination_path=destination.blob_name,
            size=entry.size,
            content_md5=md5_hex,
            content_type=properties.content_settings.content_type,
            last_modified=properties.last_modified,
            etag=properties.etag,
            verification=verification_for(entry, self.settings),
            replaced=replaced,
        )

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

    def wrote(self, destination_path: str, etag: str, kind: BlobKind = "file") -> None:
        """Note a blob this attempt created (or replaced); list appends are atomic: threads and
        the event loop share the list."""
        self.written.append(OwnedBlob(path=destination_path, etag=etag, kind=kind))

    def found_at_destination(self, entry: FileEntry, destination_path: str,
                             blocks: list[BlobBlock], headers: ContentSettings) -> FileResult:
        """After a commit refused because the destination exists (If-None-Match): the file
        there when it is this version of the source (this attempt's own commit whose answer
        was lost, or an earlier attempt's). Another file is kept and named (policy `fail`, or
        `merge` when this service did not write it), or replaced by `blocks` only if it is
        still the one looked at (`merge` when this service wrote it, `replace-different`)."""
        blob = self.sink.get_blob_client(destination_path)
        result = verified_existing(blob, entry, self.settings)
        block_ids = committed_block_ids(blob)
        if result is not None:
            if written_by(block_ids, self.run_id) and result.etag:
                self.wrote(destination_path, result.etag)
            return result
        if self.policy == "fail":
            raise FileFailed(DESTINATION_TAKEN)
        if self.policy == "merge" and not written_by_this_service(block_ids):
            raise FileFailed(KEPT_BY_MERGE)
        there = blob.get_blob_properties()
        replaced = ReplacedFile(size=there.size, content_md5=md5_hex_of(there.content_settings),
                                etag=quoted_etag(there.etag))
        committed = blob.commit_block_list(
            blocks, content_settings=headers, metadata=entry.metadata or None,
            etag=replaced.etag, match_condition=MatchConditions.IfNotModified)
        self.wrote(destination_path, str(committed["etag"]), kind="replaced")
        md5 = headers.content_md5
        assert md5 is not None
        return self.read_back(entry, blob, bytes(md5).hex(), replaced)

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

