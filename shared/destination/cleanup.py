"""Remove what a failed (or cancelled) attempt wrote to its destination folder, and only that.

An attempt may delete a blob only when it wrote it itself: the blob is recorded as its own
(`shared.storage.work`, with the ETag it was written with) or its committed block ids name
the attempt (`shared.copy.resume.written_by`, for a commit whose record was lost), and its ETag is
still that one (the delete is conditional on it, so a blob changed since is kept). Never:

- a blob another attempt, another delivery or anybody else wrote (an earlier attempt's files in
  a folder this one adopted stay, and so does the claim then, so a restart can take them over);
- anything in a sealed folder (delivered and reported: `shared.destination.claim`), or in a
  folder whose claim names another attempt now (the website's restart took it over);
- anything outside the delivered folder.

Folders go last, deepest first, and only when empty: the directories and markers the attempt
recorded, and those its deleted files lay in. The claim, its `_ddd_transfer` folder and the
delivered folder go only when nothing else is left there (not with `keep_claim`). The source is
never touched. Idempotent: a blob already gone is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobProperties, ContainerClient

from shared.copy.resume import committed_block_ids, written_by
from shared.core.config import Settings
from shared.core.messages import CleanupOutcome
from shared.core.models import ConflictPolicy, OwnedBlob
from shared.core.request import DeliveryRequest
from shared.destination.claim import claim_path, read_claim
from shared.storage.clients import is_directory_marker, quoted_etag, shared_clients
from shared.storage.work import WorkStore, owned_blobs


def _delete(sink: ContainerClient, name: str, etag: str | None) -> bool:
    """Delete `name` if it is still `etag` (any version when None: an empty folder)."""
    try:
        if etag is None:
            sink.delete_blob(name)
        else:
            sink.delete_blob(name, etag=quoted_etag(etag),
                             match_condition=MatchConditions.IfNotModified)
    except (ResourceNotFoundError, ResourceModifiedError):
        return False
    return True


def _is_empty(sink: ContainerClient, folder: str) -> bool:
    return not any(True for _ in sink.list_blobs(name_starts_with=folder + "/",
                                                 results_per_page=1))


def _parents_within(name: str, folder: str) -> Iterable[str]:
    parts = name.split("/")
    base = folder.count("/") + 1
    for depth in range(len(parts) - 1, base, -1):
        yield "/".join(parts[:depth])


def discard_partial_delivery(request: DeliveryRequest, run_id: str, settings: Settings, *,
                             keep_claim: bool = False,
                             policy: ConflictPolicy = "fail") -> CleanupOutcome:
    """Delete what `run_id` wrote under the request's sink folder (see the module doc).

    `keep_claim`: leave the claim (and so the folder) in place, for a cancelled attempt whose
    copy activities may still be finishing: a later clean-up still finds the folder its own, and
    the website's retry of the delivery adopts it meanwhile. `policy`: an attempt that could
    replace files (merge, replace-different) removes only what its records say it created: a
    file it replaced stays (the one before is gone), and block ids alone prove nothing then."""
    clients = shared_clients(settings)
    sink = clients.sink(request.sink_account, request.sink_container)
    claim = read_claim(sink, request)
    if claim is None:
        return CleanupOutcome()  # never claimed: nothing was written
    if claim.sealed is not None:
        return CleanupOutcome(claim_kept=True, untouched="the folder was delivered (sealed)")
    if claim.run_id != run_id:
        return CleanupOutcome(claim_kept=True,
                              untouched=f"another attempt holds the folder now ({claim.run_id})")
    folder = request.sink_folder
    own_claim = claim_path(request)
    recorded = {path: blob for path, blob in owned_blobs(WorkStore(clients), run_id).items()
                if path.startswith(folder + "/")}
    by_records_only = policy != "fail"
    removed = left = 0
    folders: set[str] = {path for path, blob in recorded.items() if blob.kind == "folder"}
    listed: list[BlobProperties] = []
    for blob in sink.list_blobs(name_starts_with=folder + "/", include=["metadata"]):
        if blob.name == own_claim:
            continue
        if is_directory_marker(blob):
            listed.append(blob)
            continue
        if _written_here(sink, blob, recorded.get(blob.name), run_id, by_records_only) \
                and _delete(sink, blob.name, blob.etag):
            removed += 1
            folders.update(_parents_within(blob.name, folder))
            continue
        left += 1
    # folders last, deepest first, each only while empty
    markers = {blob.name for blob in listed}
    for name in sorted(folders & markers, key=lambda path: (-path.count("/"), path)):
        if _is_empty(sink, name) and _delete(sink, name, None):
            removed += 1
    claim_folder = own_claim.rpartition("/")[0]
    nothing_else = not any(True for blob in sink.list_blobs(name_starts_with=folder + "/")
                           if blob.name not in (own_claim, claim_folder))
    if keep_claim or not nothing_else:
        return CleanupOutcome(removed=removed, left=left, claim_kept=True)
    removed += _delete(sink, own_claim, claim.etag)
    for name in (claim_folder, folder):  # the folders themselves, when they are folders
        removed += _is_folder(sink, name) and _delete(sink, name, None)
    return CleanupOutcome(removed=removed, left=left)


def _is_folder(sink: ContainerClient, name: str) -> bool:
    """`name` is an empty folder's marker (ADLS directory, or a marker blob), not a file."""
    try:
        properties = sink.get_blob_client(name).get_blob_properties()
    except ResourceNotFoundError:
        return False
    return is_directory_marker(properties) and _is_empty(sink, name)


def _written_here(sink: ContainerClient, blob: BlobProperties, record: OwnedBlob | None,
                  run_id: str, by_records_only: bool) -> bool:
    """This attempt created the blob as it is now: recorded with this ETag (a file it replaced
    is not its to remove), or (its record lost) committed with block ids that name the
    attempt."""
    if record is not None:
        return record.kind != "replaced" and quoted_etag(record.etag) == quoted_etag(blob.etag)
    return not by_records_only and written_by(
        committed_block_ids(sink.get_blob_client(blob.name)), run_id)
