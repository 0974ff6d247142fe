"""Copy and verify one chunk of the plan, server-side, resuming at the file.

`copy_chunk` reads the chunk's plan page and copies its files with a bounded thread pool
(`shared.copy.file`: how one file is copied, verified and retried in place). Each file's
verification is recorded by the destination itself as soon as it verifies (its Put Block List
comes last, with the verified Content-MD5), so:

- the first attempt at a chunk creates its attempt marker in the work container;
- a later attempt (the orchestrator's retry after the activity raised, or an activity run again
  because its host died) finds the marker, lists the chunk's part of the destination folder once,
  and does not copy again the files whose destination already verifies against the plan
  (`shared.copy.resume`); it copies the rest;
- a run whose plan adopted the folder of an earlier attempt of the delivery (the website's
  restart) looks the same way on its first attempt at every page, since that attempt may have
  verified files there already; a file copied in segments that already verifies is not copied
  at all;
- the results page (one FileResult per file, JSON Lines) is written when every file has an
  outcome. Idempotent: running a chunk again gives the same destinations and the same page.

A file that fails for a reason of its own (its source changed or was deleted, an MD5 mismatch,
a destination of that name it did not write) is a named per-file result, not an activity
failure. Storage that refuses the unit in a way no retry changes is the result's `refusal`. The
activity raises `CopyInfrastructureError` (redacted, no SAS) when storage fails for a moment
(a file still failing after its attempts trips the `Breaker`): files verified before that stay
verified, so the retry, which the orchestrator waits for through an outage, resumes where this
attempt stopped. Every blob the unit created is recorded, even when it raises
(`shared.storage.work`): a failed attempt removes only those.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient

from shared.copy.attempts import Breaker, ChunkAbort
from shared.copy.file import FileCopier
from shared.copy.progress import UnitProgress
from shared.copy.resume import copied_in_one_block, verified_destinations
from shared.copy.segments import SegmentOrderError, copy_segment, segment_count
from shared.copy.service import copy_by_service
from shared.core.access import AccessRefused
from shared.core.config import Settings
from shared.core.models import (
    FAILURES_KEPT,
    ChunkRef,
    ChunkResult,
    FileEntry,
    FileFailure,
    FileResult,
    OwnedBlob,
)
from shared.core.request import DeliveryRequest
from shared.storage.aio import EVENT_LOOP
from shared.storage.clients import StorageClients, shared_clients
from shared.storage.errors import describe_error, redact
from shared.storage.sas import SourceSas
from shared.storage.work import (
    WorkStore,
    attempt_marker_name,
    plan_page_name,
    record_owned,
    result_page_name,
)


class CopyInfrastructureError(RuntimeError):
    """Storage failed for a moment in a way that is not about one file: the unit is tried
    again later (the orchestrator waits an outage out). Redacted text."""


NOT_AS_DELIVERED = ("differs from the source now, or is missing from the delivered folder "
                    "(the folder was delivered before and is sealed: nothing was copied over)")


def copy_chunk(chunk_ref: ChunkRef, request: DeliveryRequest, settings: Settings) -> ChunkResult:
    """Copy and verify every file of one plan page not verified by an earlier attempt; write the
    per-file results page. Returns counts and the first failures only. A page holding one file
    larger than a work unit is copied one segment per call (`shared.copy.segments`); a page of a
    sealed folder (`ChunkRef.verify_only`) is only verified where it is.

    Storage that refuses the app in a way no retry changes (no permission, a SAS refused for
    the clock, a container or account gone, an account the allow-lists do not allow) is the
    result's `refusal`. Raises CopyInfrastructureError (redacted) when storage fails for a
    moment; what the unit wrote before is recorded either way (`shared.storage.work`).
    """
    where = f"chunk {chunk_ref.index} of run {chunk_ref.run_id}"
    clients = shared_clients(settings)
    work = WorkStore(clients)
    written: list[OwnedBlob] = []
    try:
        entries = [
            FileEntry.model_validate(record)
            for record in work.read_lines(plan_page_name(chunk_ref.run_id, chunk_ref.index))
        ]
        sink = clients.sink(request.sink_account, request.sink_container)
        if chunk_ref.verify_only:
            return _verify_in_place(sink, work, request, chunk_ref, entries, settings)
        if len(entries) == 1 and segment_count(entries[0], settings) > 1:
            resumed = verified_destinations(sink, request, entries, settings) \
                if chunk_ref.adopted and chunk_ref.segment == 0 else {}
            if not resumed:
                with _file_copier(clients, work, request, chunk_ref, written,
                                  files=1) as copier:
                    return copy_segment(copier, work, chunk_ref, entries[0])
        elif chunk_ref.segment:
            raise SegmentOrderError(f"{where} is not copied in segments")
        else:
            resumed = _verified_before(sink, work, request, chunk_ref, entries, settings)
        to_copy = [entry for entry in entries if entry.path not in resumed]
        copied = _copy_files(clients, work, request, chunk_ref, written, to_copy)
        file_results = [resumed.get(entry.path) or copied[entry.path] for entry in entries]
        work.write_lines(result_page_name(chunk_ref.run_id, chunk_ref.index), file_results)
    except ChunkAbort as abort:
        if not abort.transient:
            return _refused(chunk_ref, f"{where}: {abort.what}")
        raise CopyInfrastructureError(
            f"{where}: {abort.what}: {describe_error(abort.error)}"
        ) from None
    except AccessRefused as refused:
        return _refused(chunk_ref, f"{where}: {refused}")
    except AzureError as error:
        raise CopyInfrastructureError(f"{where}: {describe_error(error)}") from None
    finally:
        record_owned(work, chunk_ref.run_id,
                     f"chunk-{chunk_ref.index:06d}.{chunk_ref.segment:06d}", written)
    return _chunk_result(chunk_ref.index, file_results, resumed_files=len(resumed))


def _refused(chunk_ref: ChunkRef, reason: str) -> ChunkResult:
    return ChunkResult(index=chunk_ref.index, files=0, bytes=0, verified_files=0,
                       verified_bytes=0, failed_files=0, segment=chunk_ref.segment,
                       refusal=redact(reason))


def _verify_in_place(sink: ContainerClient, work: WorkStore, request: DeliveryRequest,
                     chunk_ref: ChunkRef, entries: list[FileEntry],
                     settings: Settings) -> ChunkResult:
    """A sealed folder's page: each file as it is there, verified against the plan (the source
    now); one that is not is a failure naming it. Nothing is written to the destination."""
    found = verified_destinations(sink, request, entries, settings)
    file_results = [found.get(entry.path) or FileResult(
        path=entry.path, destination_path=request.sink_path(entry.path), size=entry.size,
        content_type=entry.content_type, error=NOT_AS_DELIVERED) for entry in entries]
    work.write_lines(result_page_name(chunk_ref.run_id, chunk_ref.index), file_results)
    return _chunk_result(chunk_ref.index, file_results, resumed_files=len(found))


def _verified_before(sink: ContainerClient, work: WorkStore, request: DeliveryRequest,
                     chunk_ref: ChunkRef, entries: list[FileEntry],
                     settings: Settings) -> dict[str, FileResult]:
    """The page's files an earlier attempt verified at the destination, by relative path. Looked
    for when this page was attempted before (its marker exists) or the run adopted an earlier
    attempt's folder; the first attempt of a fresh run creates the marker and looks at nothing."""
    first_attempt = work.create_once(attempt_marker_name(chunk_ref.run_id, chunk_ref.index))
    if first_attempt and not chunk_ref.adopted:
        return {}
    return verified_destinations(sink, request, entries, settings)


@contextmanager
def _file_copier(clients: StorageClients, work: WorkStore, request: DeliveryRequest,
                 chunk_ref: ChunkRef, written: list[OwnedBlob], *,
                 files: int) -> Iterator[FileCopier]:
    """A FileCopier with its thread pools: `files` files at once, each staging blocks."""
    settings = clients.settings
    with (
        ThreadPoolExecutor(max(1, min(settings.copy_threads, files)),
                           thread_name_prefix="copy-file") as file_pool,
        ThreadPoolExecutor(settings.copy_threads, thread_name_prefix="stage-block") as stage_pool,
    ):
        yield FileCopier(
            request=request,
            settings=settings,
            run_id=chunk_ref.run_id,
            source=clients.source(request.source_account, request.source_container),
            sink=clients.sink(request.sink_account, request.sink_container),
            source_sas=SourceSas(clients.source_service(request.source_account), settings),
            stage_pool=stage_pool,
            file_pool=file_pool,
            breaker=Breaker(),
            progress=UnitProgress(work, chunk_ref, every_seconds=settings.progress_seconds / 3),
            written=written,
            policy=chunk_ref.policy,
        )


def _copy_files(
    clients: StorageClients,
    work: WorkStore,
    request: DeliveryRequest,
    chunk_ref: ChunkRef,
    written: list[OwnedBlob],
    entries: list[FileEntry],
) -> dict[str, FileResult]:
    """Copy `entries`: the service-checked ones as coroutines on the event loop
    (`shared.copy.service`) while the threads copy the rest in blocks."""
    if not entries:
        return {}
    settings = clients.settings
    by_service = [entry for entry in entries if copied_in_one_block(entry, settings)]
    in_blocks = [entry for entry in entries if not copied_in_one_block(entry, settings)]
    with _file_copier(clients, work, request, chunk_ref, written,
                      files=len(in_blocks)) as copier:
        served = EVENT_LOOP.submit(copy_by_service(copier, by_service)) if by_service else None
        futures = [copier.file_pool.submit(copier.copy_file, entry) for entry in in_blocks]
        try:
            copied = {
                entry.path: future.result()
                for entry, future in zip(in_blocks, futures, strict=True)
            }
            if served is not None:
                copied.update(served.result())
        except BaseException:
            for future in futures:
                future.cancel()
            if served is not None:
                served.cancel()
            raise
        return copied


def _chunk_result(index: int, file_results: list[FileResult], *, resumed_files: int) -> ChunkResult:
    failures = [result for result in file_results if not result.verified]
    verified = [result for result in file_results if result.verified]
    return ChunkResult(
        index=index,
        files=len(file_results),
        bytes=sum(result.size for result in file_results),
        verified_files=len(verified),
        verified_bytes=sum(result.size for result in verified),
        failed_files=len(failures),
        failures=[
            FileFailure(path=result.path, reason=result.error or "not verified")
            for result in failures[:FAILURES_KEPT]
        ],
        resumed_files=resumed_files,
    )
