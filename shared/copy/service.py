"""Copy the small files the service verifies: coroutines on the process's event loop.

A small file (<= DDD_SMALL_FILE_MAX_BYTES) with a source Content-MD5 is one Put Block From URL
(under the plan's source ETag; headers and metadata come from the listing) that gives the
service that MD5: the service hashes the bytes it copies and refuses them unless they match
(`x-ms-source-content-md5`:
https://learn.microsoft.com/rest/api/storageservices/put-block-from-url
). Then Put Block List commits the one block with the verified Content-MD5. Verification
`source-md5+copy-md5`; no byte passes through the app.

Such files are most of a sequencing run by count, and each is two short requests, so the
client's own cost per request decides the speed: they go as `DDD_COPY_THREADS` coroutines per
work unit on `shared.storage.aio.EVENT_LOOP`, through the process's aio clients, at most
`shared.copy.gate.SERVICE_COPIES` of them in flight in the process, shared fairly between the
units. Everything else
is as for a file copied in blocks (`shared.copy.file`): one SAS per request, attempts and their
outcomes (`FileTries`), the chunk's breaker, and the progress count. What would block the loop
(looking at the source after a refusal, a user delegation key to fetch, a progress write) runs in
a worker thread.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobBlock
from azure.storage.blob.aio import BlobClient, ContainerClient

from shared.copy.attempts import FILE_ATTEMPTS, FileFailed, FileTries, Mismatch
from shared.copy.file import FileCopier
from shared.copy.gate import service_gate
from shared.copy.resume import block_id, verification_for
from shared.core.models import FileEntry, FileResult
from shared.storage.aio import shared_async_clients
from shared.storage.checksum import EMPTY_MD5_HEX


async def copy_by_service(copier: FileCopier, entries: list[FileEntry]) -> dict[str, FileResult]:
    """Copy `entries` (each small, with a source Content-MD5); run it on `EVENT_LOOP`. Each
    file's result by relative path. Raises ChunkAbort as `FileCopier.attempts` does."""
    request = copier.request
    sink = shared_async_clients(copier.settings).sink(request.sink_account,
                                                      request.sink_container)
    in_flight = asyncio.Semaphore(max(1, copier.settings.copy_threads))
    gate, unit = service_gate(), object()  # this unit's files, beside other units' at the gate

    async def copy(entry: FileEntry) -> FileResult:
        async with in_flight, gate.permit(unit):
            return await _copy_file(copier, sink, entry)

    tasks = [asyncio.ensure_future(copy(entry)) for entry in entries]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return {entry.path: result for entry, result in zip(entries, results, strict=True)}


async def _copy_file(copier: FileCopier, sink: ContainerClient, entry: FileEntry) -> FileResult:
    """One file, retried in place as `FileCopier.attempts` retries a file copied in blocks."""
    tries = FileTries(entry, copier.breaker, copier.failed)
    for attempt in range(1, FILE_ATTEMPTS + 1):
        copier.breaker.check()
        try:
            result = await _copy_once(copier, sink, entry)
        except (Mismatch, FileFailed, AzureError, OSError) as error:
            outcome = tries.after(error, attempt)
            if isinstance(outcome, FileResult):
                return outcome
            await asyncio.sleep(outcome)
            continue
        return result
    return tries.exhausted()


async def _copy_once(copier: FileCopier, sink: ContainerClient, entry: FileEntry) -> FileResult:
    assert entry.content_md5 is not None
    destination_path = copier.request.sink_path(entry.path)
    destination = sink.get_blob_client(destination_path)
    md5_digest = bytes.fromhex(entry.content_md5)
    blocks = []
    if entry.size:
        # the copy request's source ETag condition catches a source changed since planning
        await _stage(copier, destination, entry, md5_digest)
        blocks.append(BlobBlock(block_id(0, entry.etag, copier.run_id)))
    else:
        # nothing to copy: is the empty source the planned one?
        await asyncio.to_thread(copier.check_unchanged, entry)
        if entry.content_md5 != EMPTY_MD5_HEX:
            raise FileFailed(
                f"MD5 mismatch: the source is empty, its Content-MD5 is {entry.content_md5}"
            )
    try:
        # created, never replaced: a blob there is not this attempt's to overwrite
        committed = await destination.commit_block_list(
            blocks,
            content_settings=copier.headers(entry, md5_digest),
            metadata=entry.metadata or None,
            match_condition=MatchConditions.IfMissing,
        )
    except ResourceExistsError:
        return await asyncio.to_thread(copier.found_at_destination, entry, destination_path,
                                       blocks, copier.headers(entry, md5_digest))
    total = copier.progress.count(entry.size)
    if total is not None:
        await asyncio.to_thread(copier.progress.write, total)
    last_modified, etag = committed["last_modified"], committed["etag"]
    assert isinstance(last_modified, datetime) and isinstance(etag, str)
    copier.wrote(destination_path, etag)
    return FileResult(
        path=entry.path,
        destination_path=destination_path,
        size=entry.size,
        content_md5=entry.content_md5,
        content_type=entry.content_type,
        last_modified=last_modified,
        etag=etag,
        verification=verification_for(entry, copier.settings),
    )


async def _stage(copier: FileCopier, destination: BlobClient, entry: FileEntry,
                 md5_digest: bytes) -> None:
    source_path = copier.request.source_path(entry.path)
    sas = copier.source_sas
    container = copier.source.container_name
    # a fresh SAS per request, valid only as long as this request can take
    source_url = (sas.blob_url(container, source_path) if sas.mints_offline()
                  else await asyncio.to_thread(sas.blob_url, container, source_path))
    try:
        await destination.stage_block_from_url(
            block_id(0, entry.etag, copier.run_id),
            source_url,
            source_offset=0,
            source_length=entry.size,
            source_content_md5=md5_digest,
            headers={"x-ms-source-if-match": entry.etag},
        )
    except HttpResponseError as error:
        raise await asyncio.to_thread(copier.source_failure, error, entry) from None
