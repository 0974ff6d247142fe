"""Moving a delivery: deleting its source folder once the result was acknowledged.

Only where moving is allowed (`DDD_MOVE_SOURCES`, `DDD_MOVE_ALWAYS`), only after every file
verified at the destination, the manifest and checksum file were written and the receiver
acknowledged the result (the orchestrator calls this last). It deletes exactly the source blobs
the plan listed, each only if its ETag is still the one that was copied (If-Match): a file
changed since is kept and named, and so is a file added since (it was never listed). Then the
folders left empty, deepest first, and the source folder itself when nothing is left in it.

Bounded: one call deletes the files of `PAGES_PER_CALL` plan pages and says which page is next;
the folders go with the last call. Idempotent: a blob already gone (a call run again after a
crash) counts as removed. A failure to delete is the outcome's to report, never the delivery's
failure (`SourceMoved`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import islice

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContainerClient, StorageErrorCode

from shared.core.config import Settings
from shared.core.messages import MoveInput, SourceMoved
from shared.core.models import FAILURES_KEPT, FileEntry, FileFailure
from shared.storage.clients import list_folder_files, shared_clients
from shared.storage.errors import error_code_of
from shared.storage.work import WorkStore, plan_page_name, planned_folders

PAGES_PER_CALL = 4
LEFT_COUNTED = 10_000
# a Data Lake directory that is not empty: the Blob endpoint's code, and the Data Lake one's
FOLDER_NOT_EMPTY = ("DirectoryIsNotEmpty", StorageErrorCode.DIRECTORY_NOT_EMPTY.value)
CHANGED_SINCE = "changed since it was delivered (its ETag differs): kept"


def move_source(move_input: MoveInput, settings: Settings) -> SourceMoved:
    """Delete the planned source files of pages [first_page, first_page + PAGES_PER_CALL), and
    with the last page the folders left empty. Refuses where moving is not allowed."""
    request = move_input.request
    if not settings.moves_allowed(request.source_account, request.source_container):
        return SourceMoved(refusal=f"moving is not allowed from '{request.source_account}/"
                                   f"{request.source_container}' (DDD_MOVE_SOURCES): the source "
                                   "was kept")
    clients = shared_clients(settings)
    work = WorkStore(clients)
    source = clients.source(request.source_account, request.source_container)
    last = min(move_input.first_page + PAGES_PER_CALL, move_input.chunk_count)
    entries = [FileEntry.model_validate(record)
               for page in range(move_input.first_page, last)
               for record in work.read_lines(plan_page_name(move_input.run_id, page))]
    with ThreadPoolExecutor(max(1, min(settings.copy_threads, len(entries) or 1)),
                            thread_name_prefix="move-source") as pool:
        outcomes = list(pool.map(lambda entry: delete_planned(source, request.source_path(
            entry.path), entry.etag), entries))
    kept = [FileFailure(path=entry.path, reason=CHANGED_SINCE)
            for entry, removed in zip(entries, outcomes, strict=True) if not removed]
    moved = SourceMoved(
        files_removed=sum(outcomes),
        bytes_removed=sum(entry.size for entry, removed in zip(entries, outcomes, strict=True)
                          if removed),
        files_kept=len(kept), kept=kept[:FAILURES_KEPT],
        next_page=last if last < move_input.chunk_count else None)
    if moved.next_page is None:
        folders = [request.source_path(relative) for relative
                   in planned_folders(work, move_input.run_id)] + [request.source_folder]
        removed = sum(_delete_empty_folder(source, folder)
                      for folder in sorted(folders, key=lambda name: (-name.count("/"), name)))
        left = _files_left(source, request.source_folder)
        moved = moved.model_copy(update={"folders_removed": removed, "files_left": len(left),
                                         "left": left[:FAILURES_KEPT]})
    return moved


def _files_left(source: ContainerClient, folder: str) -> list[str]:
    """The files still in the source folder (changed or added since it was planned), by their
    path in it; at most `LEFT_COUNTED` are counted."""
    return [blob.name.removeprefix(folder + "/")
            for blob in islice(list_folder_files(source, folder), LEFT_COUNTED)]


def delete_planned(source: ContainerClient, name: str, etag: str) -> bool:
    """Delete the planned version of a source file; False when it changed since."""
    try:
        source.delete_blob(name, etag=etag, match_condition=MatchConditions.IfNotModified)
    except ResourceNotFoundError:
        return True  # gone already: an earlier try of this call removed it
    except ResourceModifiedError:
        # changed since, or gone (a precondition on a missing blob can fail as 412 too)
        return not source.get_blob_client(name).exists()
    return True


def _delete_empty_folder(source: ContainerClient, folder: str) -> bool:
    """Delete a folder (an ADLS directory, or a marker blob) when nothing is left in it."""
    if any(True for _ in source.list_blobs(name_starts_with=folder + "/", results_per_page=1)):
        return False
    try:
        source.delete_blob(folder)
    except ResourceNotFoundError:
        return False
    except HttpResponseError as error:
        if error_code_of(error) in FOLDER_NOT_EMPTY:  # something landed in it since the listing
            return False
        raise
    return True
