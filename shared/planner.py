"""The plan: list the source folder once, check the destination, and write the chunk pages.

`build_plan` streams the listing into chunk pages (JSON Lines, one `FileEntry` a line) in the
work container, holding at most one chunk in memory, and returns only totals and the number of
pages, so the orchestration history does not grow with the number of files. Running it again
for the same run id rewrites the same pages (and deletes pages an earlier run left beyond them).
"""

from __future__ import annotations

import json

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobProperties, ContainerClient

from shared.config import Settings
from shared.models import DeliveryRequest, FileEntry, Plan
from shared.naming import BLOB_NAME_MAX_CHARS
from shared.storage import (
    StorageClients,
    WorkStore,
    folder_holds_anything,
    list_folder_files,
    md5_hex_of,
    plan_page_name,
    plan_pages_prefix,
    plan_summary_name,
    quoted_etag,
)

# Inside the delivered folder, the service writes its manifest and checksum file here.
RESERVED_FOLDER = "_ddd_transfer"


def destination_conflict_message(sink_folder: str) -> str:
    """The website's own wording (d4s2-contract.md §4)."""
    return f"Error: The transfer destination directory '{sink_folder}' already exists."


def file_entry(blob: BlobProperties, folder: str) -> FileEntry:
    return FileEntry(
        path=blob.name[len(folder) + 1 :],
        size=blob.size,
        content_md5=md5_hex_of(blob.content_settings),
        content_type=blob.content_settings.content_type,
        last_modified=blob.last_modified,
        etag=quoted_etag(blob.etag),
    )


class _ChunkWriter:
    """Collects entries into chunks bounded by file count and bytes; writes each as a page."""

    def __init__(self, work: WorkStore, run_id: str, settings: Settings) -> None:
        self._work = work
        self._run_id = run_id
        self._max_files = settings.chunk_max_files
        self._max_bytes = settings.chunk_max_bytes
        self._entries: list[FileEntry] = []
        self._bytes = 0
        self.chunk_count = 0

    def add(self, entry: FileEntry) -> None:
        if self._entries and (
            len(self._entries) >= self._max_files or self._bytes + entry.size > self._max_bytes
        ):
            self.flush()
        self._entries.append(entry)
        self._bytes += entry.size

    def flush(self) -> None:
        if not self._entries:
            return
        self._work.write_lines(plan_page_name(self._run_id, self.chunk_count), self._entries)
        self.chunk_count += 1
        self._entries = []
        self._bytes = 0


def build_plan(request: DeliveryRequest, run_id: str, settings: Settings) -> Plan:
    """List the source folder into chunk pages; refuse (a Plan with a reason) when the delivery
    cannot start: destination already holds anything, a container is missing, the source folder
    holds no files, or a name cannot be delivered."""
    with StorageClients(settings) as clients:
        source = clients.container(request.source_account, request.source_container)
        sink = clients.container(request.sink_account, request.sink_container)

        if not source.exists():
            return Plan(
                run_id=run_id,
                storage_problem=(
                    f"The source container '{request.source_container}' does not exist in "
                    f"storage account '{request.source_account}'."
                ),
            )
        if not sink.exists():
            return Plan(
                run_id=run_id,
                storage_problem=(
                    f"The destination container '{request.sink_container}' does not exist in "
                    f"storage account '{request.sink_account}'."
                ),
            )
        already_ours = claim_owner(sink, request) == run_id  # a retry of this same plan
        if not already_ours and folder_holds_anything(sink, request.sink_folder):
            conflict = destination_conflict_message(request.sink_folder)
            return Plan(run_id=run_id, destination_conflict=conflict)

        work = WorkStore(clients)
        work.ensure_container()
        chunks = _ChunkWriter(work, run_id, settings)
        files = total_bytes = files_without_md5 = 0
        longest_name_allowed = BLOB_NAME_MAX_CHARS - len(request.sink_folder) - 1
        for blob in list_folder_files(source, request.source_folder):
            entry = file_entry(blob, request.source_folder)
            problem = _unusable_name(entry.path, longest_name_allowed)
            if problem:
                return Plan(run_id=run_id, storage_problem=problem)
            chunks.add(entry)
            files += 1
            total_bytes += entry.size
            files_without_md5 += entry.content_md5 is None
        chunks.flush()
        work.delete_pages_from(plan_pages_prefix(run_id), chunks.chunk_count)

        if files == 0:
            return Plan(
                run_id=run_id,
                storage_problem=(
                    f"The source folder '{request.source_folder}' in container "
                    f"'{request.source_container}' of storage account '{request.source_account}' "
                    "holds no files."
                ),
            )
        if not claim_destination(sink, request, run_id):
            # another run claimed the (then empty) folder between our check and now
            conflict = destination_conflict_message(request.sink_folder)
            return Plan(run_id=run_id, destination_conflict=conflict)
        plan = Plan(
            run_id=run_id,
            files=files,
            bytes=total_bytes,
            files_without_md5=files_without_md5,
            chunk_count=chunks.chunk_count,
        )
        work.write_json(plan_summary_name(run_id), {"request": request.to_json(), **plan.to_json()})
        return plan


def _unusable_name(path: str, longest_allowed: int) -> str | None:
    if path == RESERVED_FOLDER or path.startswith(RESERVED_FOLDER + "/"):
        return (
            f"The source folder holds '{RESERVED_FOLDER}/', the name this service uses in the "
            "delivered folder for its manifest; rename it and deliver again."
        )
    if len(path) > longest_allowed:
        return (
            f"The file '{path}' would have a destination name longer than "
            f"{BLOB_NAME_MAX_CHARS} characters."
        )
    return None


# ----- the destination claim -------------------------------------------------------------------
def claim_path(request: DeliveryRequest) -> str:
    """The marker a run creates in the (empty) destination folder before copying into it."""
    return f"{request.sink_folder}/{RESERVED_FOLDER}/run.json"


def claim_owner(sink: ContainerClient, request: DeliveryRequest) -> str | None:
    """The run id that claimed the destination folder, or None when nobody has."""
    try:
        claim = json.loads(sink.get_blob_client(claim_path(request)).download_blob().readall())
    except ResourceNotFoundError:
        return None
    return claim.get("run_id")


def claim_destination(sink: ContainerClient, request: DeliveryRequest, run_id: str) -> bool:
    """Create the claim marker only if none exists (If-None-Match: *): of two runs that both
    found the folder empty, exactly one owns it. True when this run owns it."""
    claim = {"run_id": run_id, "delivery_id": request.delivery_id,
             "transfer_uuid": str(request.transfer_uuid),
             "source": f"{request.source_account}/{request.source_container}/"
                       f"{request.source_folder}"}
    try:
        sink.get_blob_client(claim_path(request)).upload_blob(
            json.dumps(claim).encode(), overwrite=False)
    except ResourceExistsError:
        return claim_owner(sink, request) == run_id
    return True

