"""The plan: list the source folder once, check the destination, and write the chunk pages.

`build_plan` streams the listing into chunk pages (JSON Lines, one `FileEntry` a line) in the
work container, holding at most one chunk in memory, and returns only totals and the number of
pages, so the orchestration history does not grow with the number of files. Running it again
for the same run id rewrites the same pages (and deletes pages an earlier run left beyond them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import Literal

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobProperties, ContainerClient

from shared.copy.segments import segment_count
from shared.copy.sharing import announce_planning, withdraw
from shared.core.access import AccessRefused
from shared.core.config import Settings
from shared.core.models import ConflictPolicy, FileEntry, Plan, SealedDelivery
from shared.core.naming import BLOB_NAME_MAX_CHARS, RESERVED_FOLDER, folder_contains
from shared.core.request import DeliveryRequest
from shared.destination.claim import (
    Claim,
    adopt_claim,
    claim_destination,
    nesting_conflict,
    read_claim,
    sink_lock,
)
from shared.destination.grants import grant_refusal
from shared.source.listing import SourceListing
from shared.storage.clients import (
    StorageClients,
    folder_holds_anything,
    md5_hex_of,
    quoted_etag,
    shared_clients,
)
from shared.storage.datalake import account_kind
from shared.storage.errors import StorageFault, describe_error, error_code_of
from shared.storage.work import (
    WorkStore,
    plan_page_name,
    plan_pages_prefix,
    plan_summary_name,
    write_folder_pages,
)

# The roles the deployment grants (infra/modules/roles.bicep), named in refusals.
SOURCE_ROLES = "Storage Blob Data Reader and Storage Blob Delegator"
SINK_ROLES = "Storage Blob Data Contributor"


class StorageRefusal(Exception):
    """Storage answered in a way no retry can change; the message says what a person must do."""


@contextmanager
def refusing(side: Literal["source", "destination"], account: str,
             container: str) -> Iterator[None]:
    """Turn a storage error that retrying cannot fix into a StorageRefusal naming what to fix;
    let transient ones (5xx, 408, 429, timeouts, resets) through, to be retried."""
    try:
        yield
    except AzureError as error:
        fault = StorageFault.of(error)
        if fault.retryable:
            raise
        where = f"storage account '{account}'"
        status = getattr(error, "status_code", None)
        detail = " ".join(str(part) for part in (
            f"HTTP {status}" if status else type(error).__name__, error_code_of(error)) if part)
        if fault is StorageFault.NO_PERMISSION:
            roles = SOURCE_ROLES if side == "source" else SINK_ROLES
            message = (f"This service's identity is not allowed to use the {side} {where} "
                       f"({detail}). An Azure admin must grant it {roles} on '{account}'.")
        elif fault is StorageFault.ACCOUNT_UNREACHABLE:
            message = (f"The {side} {where} could not be found (its name does not resolve); "
                       "check the account name.")
        elif fault is StorageFault.NOT_FOUND:
            message = (f"The {side} container '{container}' or {where} was not found "
                       f"({detail}).")
        else:
            message = f"The {side} {where} refused a request ({detail}): {describe_error(error)}."
        raise StorageRefusal(message) from None


def destination_conflict_message(sink_folder: str, why: str = "") -> str:
    """The website's own wording, from its in-process delivery code (and why, when it is not
    plain: the folder lies in, or holds, another delivery's folder)."""
    return (f"Error: The transfer destination directory '{sink_folder}' already exists."
            + (f" {why}" if why else ""))


@dataclass(frozen=True)
class DestinationOutlook:
    """What a delivery finds at its destination folder."""

    conflict: str | None = None  # refused there, in the website's words
    adopted_from: str | None = None  # an earlier attempt of the delivery, to take over
    sealed: SealedDelivery | None = None  # delivered before: verify and report again only
    claim: Claim | None = None
    # merge or replace-different into a folder that holds files: added to, not refused
    merging: bool = False


def destination_outlook(sink: ContainerClient, request: DeliveryRequest, run_id: str,
                        policy: ConflictPolicy = "fail") -> DestinationOutlook:
    """Look at the destination folder, writing nothing: free (empty, and in no other
    delivery's folder), this delivery's to take over or to verify again, one to add to (a
    policy other than `fail`), or refused."""
    if policy != "fail":
        return _merging_outlook(sink, request, run_id)
    claim = read_claim(sink, request)
    nested = nesting_conflict(sink, request, look_inside=claim is not None)
    if nested is not None:
        where = ("lies inside" if folder_contains(nested, request.sink_folder)
                 else "holds")
        return DestinationOutlook(conflict=destination_conflict_message(
            request.sink_folder, f"It {where} the folder of another delivery, '{nested}'; "
            "deliveries are never nested."), claim=claim)
    if claim is None:
        if folder_holds_anything(sink, request.sink_folder):
            return DestinationOutlook(
                conflict=destination_conflict_message(request.sink_folder))
        return DestinationOutlook()
    if claim.run_id == run_id:  # this run claimed it already (the plan ran again)
        return DestinationOutlook(claim=claim)
    if not claim.is_same_delivery(request):
        return DestinationOutlook(conflict=destination_conflict_message(request.sink_folder),
                                  claim=claim)
    if claim.sealed is not None:
        return DestinationOutlook(sealed=claim.sealed, claim=claim)
    return DestinationOutlook(adopted_from=claim.run_id, claim=claim)


def _merging_outlook(sink: ContainerClient, request: DeliveryRequest,
                     run_id: str) -> DestinationOutlook:
    """Merge or replace-different: a folder that holds files, or another delivery's delivered
    one, is added to; a folder another delivery is still copying into, or a nested one, is
    refused."""
    claim = read_claim(sink, request)
    nested = nesting_conflict(sink, request, look_inside=True)
    if nested is not None:
        return DestinationOutlook(conflict=destination_conflict_message(
            request.sink_folder, f"It lies in, or holds, the folder of another delivery, "
            f"'{nested}'; deliveries are never nested."), claim=claim)
    if claim is None or claim.run_id == run_id:
        return DestinationOutlook(claim=claim, merging=True)
    if claim.sealed is None and not claim.is_same_delivery(request):
        return DestinationOutlook(conflict=destination_conflict_message(
            request.sink_folder, f"Another delivery ({claim.delivery_id}) is copying into it, "
            "or failed there; it cannot be added to now."), claim=claim)
    if claim.sealed is None:  # an earlier attempt of this delivery: taken over as ever
        return DestinationOutlook(adopted_from=claim.run_id, claim=claim, merging=True)
    return DestinationOutlook(claim=claim, merging=True)


def take_destination(sink: ContainerClient, request: DeliveryRequest, run_id: str,
                     policy: ConflictPolicy = "fail") -> DestinationOutlook:
    """Under the sink container's lock: look again, then claim a free folder or adopt an
    earlier attempt's. A sealed folder is not written to (unless a policy adds to it; its
    claim stays then)."""
    outlook = destination_outlook(sink, request, run_id, policy)
    if outlook.conflict is not None or outlook.sealed is not None:
        return outlook
    if outlook.merging and outlook.claim is not None and outlook.adopted_from is None:
        return outlook  # adds to a folder delivered before: its claim stays as it is
    if outlook.claim is None:
        taken = claim_destination(sink, request, run_id)
    elif outlook.adopted_from is not None:
        taken = adopt_claim(sink, request, run_id, outlook.claim)
    else:
        taken = True
    if not taken:
        return DestinationOutlook(conflict=destination_conflict_message(request.sink_folder))
    return outlook


def file_entry(blob: BlobProperties, folder: str) -> FileEntry:
    headers = blob.content_settings
    return FileEntry(
        path=blob.name[len(folder) + 1 :],
        size=blob.size,
        content_md5=md5_hex_of(headers),
        content_type=headers.content_type,
        last_modified=blob.last_modified,
        etag=quoted_etag(blob.etag),
        content_encoding=headers.content_encoding,
        content_language=headers.content_language,
        content_disposition=headers.content_disposition,
        cache_control=headers.cache_control,
        metadata=dict(blob.metadata or {}),
    )


class _ChunkWriter:
    """Collects entries into chunks bounded by file count and bytes (a work unit); writes each
    as a page. A file larger than a unit is a page of its own, copied in segments."""

    def __init__(self, work: WorkStore, run_id: str, settings: Settings) -> None:
        self._work = work
        self._run_id = run_id
        self._max_files = settings.chunk_max_files
        self._max_bytes = settings.chunk_max_bytes
        self._settings = settings
        self._entries: list[FileEntry] = []
        self._bytes = 0
        self.chunk_count = 0
        self.unit_count = 0

    def add(self, entry: FileEntry) -> None:
        segments = segment_count(entry, self._settings)
        if segments > 1:  # a file larger than a unit: a page of its own, copied by segments
            self.flush()
            self._entries.append(entry)
            self.flush()
            self.unit_count += segments
            return
        if self._entries and (
            len(self._entries) >= self._max_files or self._bytes + entry.size > self._max_bytes
        ):
            self.flush()
        if not self._entries:
            self.unit_count += 1
        self._entries.append(entry)
        self._bytes += entry.size

    def flush(self) -> None:
        if not self._entries:
            return
        self._work.write_lines(plan_page_name(self._run_id, self.chunk_count), self._entries)
        self.chunk_count += 1
        self._entries = []
        self._bytes = 0


def build_plan(request: DeliveryRequest, run_id: str, settings: Settings, *,
               policy: ConflictPolicy = "fail", dry_run: bool = False,
               observe: Callable[[FileEntry], None] | None = None) -> Plan:
    """List the source folder into chunk pages; refuse (a Plan with a reason) when the delivery
    cannot start: destination already holds anything, a container is missing, the source folder
    holds no files, a name cannot be delivered, or storage refuses the app in a way no retry
    can change (no permission, no such account). Transient storage errors are raised.

    `policy`: what to do with a destination that holds files (`shared.core.options`); `dry_run`:
    the same plan, but the destination is only looked at, never claimed or adopted (a conflict
    is reported with the counts); `observe` sees every planned file in order."""
    try:
        return _build_plan(shared_clients(settings), request, run_id, settings, policy,
                           dry_run, observe)
    except (StorageRefusal, AccessRefused) as refusal:
        return Plan(run_id=run_id, storage_problem=str(refusal))


def plan_among_copying(request: DeliveryRequest, run_id: str, settings: Settings, *,
                       policy: ConflictPolicy = "fail") -> Plan:
    """`build_plan` for a delivery that will copy: its entry among the deliveries copying is
    written first, as still planning (`shared.copy.sharing`), so deliveries started together
    count each other from their first ask. A refused plan, or planning that raises, takes the
    entry back."""
    work = WorkStore(shared_clients(settings))
    announce_planning(work, run_id, settings.progress_seconds)
    try:
        plan = build_plan(request, run_id, settings, policy=policy)
    except BaseException:
        with suppress(AzureError):
            withdraw(work, run_id)
        raise
    if plan.refusal:
        withdraw(work, run_id)
    return plan


def _build_plan(clients: StorageClients, request: DeliveryRequest, run_id: str,
                settings: Settings, policy: ConflictPolicy, dry_run: bool = False,
                observe: Callable[[FileEntry], None] | None = None) -> Plan:
    source = clients.source(request.source_account, request.source_container)
    sink = clients.sink(request.sink_account, request.sink_container)

    def on_source() -> AbstractContextManager[None]:
        return refusing("source", request.source_account, request.source_container)

    def on_sink() -> AbstractContextManager[None]:
        return refusing("destination", request.sink_account, request.sink_container)

    with on_source():
        if not source.exists():
            raise StorageRefusal(
                f"The source container '{request.source_container}' does not exist in "
                f"storage account '{request.source_account}'."
            )
    with on_sink():
        if not sink.exists():
            raise StorageRefusal(
                f"The destination container '{request.sink_container}' does not exist in "
                f"storage account '{request.sink_account}'."
            )
        # looked at before the listing, so a taken folder is refused at once; taken (claimed,
        # adopted) only after it, under the sink container's lock, looked at again there
        outlook = destination_outlook(sink, request, run_id, policy)
        if outlook.conflict is not None and not dry_run:
            return Plan(run_id=run_id, destination_conflict=outlook.conflict)
        grants_impossible = grant_refusal(sink, request, settings)
        if grants_impossible:
            raise StorageRefusal(grants_impossible)

    work = WorkStore(clients)
    work.ensure_container()
    chunks = _ChunkWriter(work, run_id, settings)
    files = total_bytes = files_without_md5 = 0
    longest_name_allowed = BLOB_NAME_MAX_CHARS - len(request.sink_folder) - 1
    with on_source():
        kind = account_kind("source", source, request.source_account, settings)
        listing = SourceListing(source, request.source_account, request.source_folder, kind,
                                settings)
        for blob in listing.files():
            entry = file_entry(blob, request.source_folder)
            problem = _unusable_name(entry.path, longest_name_allowed)
            if problem:
                raise StorageRefusal(problem)
            chunks.add(entry)
            if observe is not None:
                observe(entry)
            files += 1
            total_bytes += entry.size
            files_without_md5 += entry.content_md5 is None
    chunks.flush()
    work.delete_pages_from(plan_pages_prefix(run_id), chunks.chunk_count)

    if files == 0:
        raise StorageRefusal(
            f"The source folder '{request.source_folder}' in container "
            f"'{request.source_container}' of storage account '{request.source_account}' "
            "holds no files."
        )

    def refuse_folder(relative: str) -> None:
        problem = _unusable_name(relative, longest_name_allowed, what="folder")
        if problem:
            raise StorageRefusal(problem)

    with on_source():
        folders, folder_pages = write_folder_pages(work, run_id, listing.folders(), refuse_folder)
    if not dry_run:
        with on_sink(), sink_lock(work, request):
            outlook = take_destination(sink, request, run_id, policy)
        if outlook.conflict is not None:
            return Plan(run_id=run_id, destination_conflict=outlook.conflict)
    plan = Plan(
        run_id=run_id,
        files=files,
        bytes=total_bytes,
        files_without_md5=files_without_md5,
        chunk_count=chunks.chunk_count,
        # a sealed folder is only verified: one unit per page, whatever its files' sizes
        unit_count=chunks.chunk_count if outlook.sealed else chunks.unit_count,
        folders=folders,
        folder_pages=folder_pages,
        adopted_from=outlook.adopted_from,
        sealed=outlook.sealed,
        conflict_policy=policy,
        holds_claim=not (outlook.merging and outlook.claim is not None
                         and outlook.adopted_from is None and outlook.claim.run_id != run_id),
        destination_conflict=outlook.conflict,
    )
    work.write_json(plan_summary_name(run_id), {"request": request.to_json(), **plan.to_json()})
    return plan


def _unusable_name(path: str, longest_allowed: int, what: str = "file") -> str | None:
    if path == RESERVED_FOLDER or path.startswith(RESERVED_FOLDER + "/"):
        return (
            f"The source folder holds '{RESERVED_FOLDER}/', the name this service uses in the "
            "delivered folder for its manifest; rename it and deliver again."
        )
    if len(path) > longest_allowed:
        return (
            f"The {what} '{path}' would have a destination name longer than "
            f"{BLOB_NAME_MAX_CHARS} characters."
        )
    return None
