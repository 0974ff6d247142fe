"""Copy and verify one chunk of the plan, server-side, every file read at most once.

For each file of the chunk page (`copy_chunk`, a bounded thread pool over the files):

- a small file (<= DDD_SMALL_FILE_MAX_BYTES) whose source has a Content-MD5: one synchronous
  Copy Blob From URL (source SAS, source ETag condition), then the destination's bytes are read
  once and their MD5 compared with the source's Content-MD5 (verification `source-md5+dest-read`);
- any other file (larger, or without Content-MD5): the source is read once as a stream (ETag
  condition), cut into blocks of DDD_BLOCK_SIZE_BYTES; each block's MD5 goes with its
  Put Block From URL (`source_content_md5`), so the service refuses a block whose bytes differ
  from the bytes hashed; blocks are staged in parallel (a few per file) while reading goes on;
  Put Block List sets the content type and the whole-file MD5 as Content-MD5. Verified when that
  MD5 equals the source's Content-MD5 (`source-md5+block-md5`), or, with no Content-MD5 at the
  source, by the service's per-block checks (`computed-from-source+block-md5`); and the
  destination's size matches.

No file byte is written through the app. A source changed or deleted after planning, and any MD5
or size mismatch, is a per-file result naming the file; anything else (service errors,
throttling past the SDK's retries, a refused SAS) is raised as `CopyInfrastructureError` so the
orchestrator's retry runs the chunk again, which is safe: destinations are overwritten with the
same content and block ids are deterministic.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobBlock, BlobClient, ContainerClient, ContentSettings

from shared.checksum import md5_of_blob, reading_blob
from shared.config import MIB, Settings
from shared.models import (
    FAILURES_KEPT,
    ChunkRef,
    ChunkResult,
    DeliveryRequest,
    FileEntry,
    FileFailure,
    FileResult,
)
from shared.storage import (
    SourceSas,
    StorageClients,
    WorkStore,
    describe_error,
    md5_hex_of,
    plan_page_name,
    result_page_name,
)

MAX_BLOCKS = 50_000  # per block blob
BLOCKS_IN_FLIGHT_PER_FILE = 4

SOURCE_CHANGED = "the source changed after planning (its ETag differs); deliver again"
SOURCE_DELETED = "the source was deleted after planning; deliver again"
BLOCK_MD5_REFUSED = (
    "the storage service read other bytes than the app hashed (a block's MD5 was refused)"
)


class CopyInfrastructureError(RuntimeError):
    """Storage failed in a way that is not about one file (retry the chunk). Redacted text."""


class _FileFailed(Exception):
    """A per-file failure: becomes a FileResult with this reason."""


def block_size_for(file_size: int, block_size_setting: int) -> int:
    """The setting, grown (to whole MiB) when the file would need more than 50,000 blocks."""
    if file_size <= block_size_setting * MAX_BLOCKS:
        return block_size_setting
    return math.ceil(file_size / MAX_BLOCKS / MIB) * MIB


def block_id(index: int) -> str:
    """Same id for the same block on every attempt (the SDK base64-encodes it)."""
    return f"{index:06d}"


@dataclass
class _ChunkCopier:
    request: DeliveryRequest
    settings: Settings
    source: ContainerClient
    sink: ContainerClient
    source_sas: SourceSas
    stage_pool: ThreadPoolExecutor

    def copy_file(self, entry: FileEntry) -> FileResult:
        destination_path = self.request.sink_path(entry.path)
        try:
            if entry.content_md5 is not None and entry.size <= self.settings.small_file_max_bytes:
                return self._copy_whole(entry, destination_path)
            return self._copy_in_blocks(entry, destination_path)
        except _FileFailed as failure:
            return FileResult(
                path=entry.path,
                destination_path=destination_path,
                size=entry.size,
                content_type=entry.content_type,
                error=str(failure),
            )

    # ----- small files with a source Content-MD5 ---------------------------------------------
    def _copy_whole(self, entry: FileEntry, destination_path: str) -> FileResult:
        source_path = self.request.source_path(entry.path)
        destination = self.sink.get_blob_client(destination_path)
        try:
            copy_result = destination.start_copy_from_url(
                self.source_sas.blob_url(self.source.container_name, source_path),
                requires_sync=True,
                source_etag=entry.etag,
                source_match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            raise self._source_failure(error, entry) from None
        if copy_result.get("copy_status") != "success":
            raise CopyInfrastructureError(
                f"synchronous copy of {destination_path} answered status "
                f"{copy_result.get('copy_status')!r}"
            )
        try:
            md5_hex, size, properties = md5_of_blob(destination, etag=copy_result["etag"])
        except ResourceModifiedError:
            raise _FileFailed(
                "the destination changed while it was being verified (written by someone else?)"
            ) from None
        if size != entry.size:
            raise _FileFailed(f"the destination holds {size} bytes, the source {entry.size}")
        if md5_hex != entry.content_md5:
            raise _FileFailed(
                f"MD5 mismatch: the destination's bytes hash to {md5_hex}, the source's "
                f"Content-MD5 is {entry.content_md5}"
            )
        etag = properties.etag
        if md5_hex_of(properties.content_settings) != md5_hex:
            # The copy carries Content-MD5 (measured on Azurite); set it if a service did not.
            content_settings = properties.content_settings
            content_settings.content_md5 = bytearray(bytes.fromhex(md5_hex))
            etag = destination.set_http_headers(content_settings=content_settings)["etag"]
        return FileResult(
            path=entry.path,
            destination_path=destination_path,
            size=size,
            content_md5=md5_hex,
            content_type=properties.content_settings.content_type,
            last_modified=properties.last_modified,
            etag=etag,
            verification="source-md5+dest-read",
        )

    # ----- large files, and files without a source Content-MD5 -------------------------------
    def _copy_in_blocks(self, entry: FileEntry, destination_path: str) -> FileResult:
        source_path = self.request.source_path(entry.path)
        source_blob = self.source.get_blob_client(source_path)
        destination = self.sink.get_blob_client(destination_path)
        block_size = block_size_for(entry.size, self.settings.block_size_bytes)

        whole_md5 = hashlib.md5()
        block_md5 = hashlib.md5()
        block_bytes = 0
        size = 0
        blocks: list[BlobBlock] = []
        in_flight: deque[Future[None]] = deque()

        def finish_block() -> None:
            nonlocal block_md5, block_bytes
            index = len(blocks)
            blocks.append(BlobBlock(block_id(index)))
            in_flight.append(
                self.stage_pool.submit(
                    self._stage_block,
                    destination,
                    entry,
                    source_path,
                    index,
                    index * block_size,
                    block_bytes,
                    block_md5.digest(),
                )
            )
            block_md5 = hashlib.md5()
            block_bytes = 0
            if len(in_flight) >= BLOCKS_IN_FLIGHT_PER_FILE:
                in_flight.popleft().result()

        try:
            try:
                with reading_blob(source_blob, etag=entry.etag) as (source_properties, pieces):
                    for piece in pieces:
                        view = memoryview(piece)
                        while view:
                            taken = view[: block_size - block_bytes]
                            whole_md5.update(taken)
                            block_md5.update(taken)
                            block_bytes += len(taken)
                            size += len(taken)
                            view = view[len(taken) :]
                            if block_bytes == block_size:
                                finish_block()
                        # Release the piece before the next is fetched: one held, not two.
                        view = taken = memoryview(b"")
                        del piece
            except (ResourceModifiedError, ResourceNotFoundError) as error:
                raise self._source_failure(error, entry) from None
            if block_bytes:
                finish_block()
            while in_flight:
                in_flight.popleft().result()
        finally:
            for pending in in_flight:
                pending.cancel()

        md5_hex = whole_md5.hexdigest()
        if size != entry.size:
            raise _FileFailed(f"read {size} bytes from the source, planned {entry.size}")
        if entry.content_md5 is not None and md5_hex != entry.content_md5:
            raise _FileFailed(
                f"MD5 mismatch: the source's bytes hash to {md5_hex}, its Content-MD5 is "
                f"{entry.content_md5}"
            )
        # carry the source's headers and metadata, as the synchronous copy does
        source_settings = source_properties.content_settings
        destination.commit_block_list(
            blocks,
            content_settings=ContentSettings(
                content_type=entry.content_type,
                content_encoding=source_settings.content_encoding,
                content_language=source_settings.content_language,
                content_disposition=source_settings.content_disposition,
                cache_control=source_settings.cache_control,
                content_md5=bytearray(whole_md5.digest()),
            ),
            metadata=source_properties.metadata or None,
        )
        properties = destination.get_blob_properties()
        if properties.size != size:
            raise _FileFailed(f"the destination holds {properties.size} bytes, the source {size}")
        if md5_hex_of(properties.content_settings) != md5_hex:
            raise _FileFailed("the destination's Content-MD5 is not the MD5 of the source's bytes")
        return FileResult(
            path=entry.path,
            destination_path=destination_path,
            size=size,
            content_md5=md5_hex,
            content_type=properties.content_settings.content_type,
            last_modified=properties.last_modified,
            etag=properties.etag,
            verification=(
                "source-md5+block-md5"
                if entry.content_md5 is not None
                else "computed-from-source+block-md5"
            ),
        )

    def _stage_block(
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
                block_id(index),
                # A fresh SAS per block: a file of hundreds of GiB may outlast one SAS.
                self.source_sas.blob_url(self.source.container_name, source_path),
                source_offset=offset,
                source_length=length,
                source_content_md5=md5_digest,
                headers={"x-ms-source-if-match": entry.etag},
            )
        except HttpResponseError as error:
            raise self._source_failure(error, entry) from None

    # ----- telling a changed source from a broken service ------------------------------------
    def _source_failure(self, error: HttpResponseError, entry: FileEntry) -> Exception:
        """The per-file failure an error means, or the error itself to raise (infrastructure).

        Condition failures, MD5 refusals and "not found / cannot verify copy source" (also what
        a refused SAS looks like) are told apart by looking at the source again.
        """
        error_code = str(error.error_code or "")
        condition_failed = isinstance(error, ResourceModifiedError) or error_code in (
            "ConditionNotMet",
            "SourceConditionNotMet",
        )
        md5_refused = error_code == "Md5Mismatch"
        maybe_missing = (
            isinstance(error, ResourceNotFoundError) or error_code == "CannotVerifyCopySource"
        )
        if not (condition_failed or md5_refused or maybe_missing):
            return error
        source_blob = self.source.get_blob_client(self.request.source_path(entry.path))
        try:
            current_etag = source_blob.get_blob_properties().etag
        except ResourceNotFoundError:
            return _FileFailed(SOURCE_DELETED)
        if current_etag != entry.etag or condition_failed:
            return _FileFailed(SOURCE_CHANGED)
        if md5_refused:
            return _FileFailed(BLOCK_MD5_REFUSED)
        return error


def copy_chunk(chunk_ref: ChunkRef, request: DeliveryRequest, settings: Settings) -> ChunkResult:
    """Copy and verify every file of one plan page; write the per-file results page.

    Returns counts and the first failures only. Raises CopyInfrastructureError (redacted) when
    storage fails in a way that is not about one file.
    """
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        entries = [
            FileEntry.model_validate(record)
            for record in work.read_lines(plan_page_name(chunk_ref.run_id, chunk_ref.index))
        ]
        threads = max(1, min(settings.copy_threads, len(entries)))
        try:
            with (
                ThreadPoolExecutor(threads, thread_name_prefix="copy-file") as file_pool,
                ThreadPoolExecutor(
                    settings.copy_threads, thread_name_prefix="stage-block"
                ) as stage_pool,
            ):
                copier = _ChunkCopier(
                    request=request,
                    settings=settings,
                    source=clients.container(request.source_account, request.source_container),
                    sink=clients.container(request.sink_account, request.sink_container),
                    source_sas=SourceSas(clients.service(request.source_account), settings),
                    stage_pool=stage_pool,
                )
                futures = [file_pool.submit(copier.copy_file, entry) for entry in entries]
                try:
                    file_results = [future.result() for future in futures]
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
            work.write_lines(result_page_name(chunk_ref.run_id, chunk_ref.index), file_results)
        except CopyInfrastructureError:
            raise
        except AzureError as error:
            raise CopyInfrastructureError(
                f"chunk {chunk_ref.index} of run {chunk_ref.run_id}: {describe_error(error)}"
            ) from None

    failures = [result for result in file_results if not result.verified]
    verified = [result for result in file_results if result.verified]
    return ChunkResult(
        index=chunk_ref.index,
        files=len(file_results),
        bytes=sum(result.size for result in file_results),
        verified_files=len(verified),
        verified_bytes=sum(result.size for result in verified),
        failed_files=len(failures),
        failures=[
            FileFailure(path=result.path, reason=result.error or "not verified")
            for result in failures[:FAILURES_KEPT]
        ],
    )
