"""Create the delivered folders in the sink, empty ones included, once every file is copied.

The plan listed every folder of the source (`shared.source.listing`); this makes each of them,
and the delivered folder itself, exist in the sink, as its kind of account allows:

- hierarchical namespace: a directory, created through the Data Lake API only if missing
  (If-None-Match: *). Copying a file already created the directories above it; those answer
  409 PathAlreadyExists and are left as they are;
- flat: a directory marker as ADLS tools write one over the Blob API, an empty blob with
  metadata ``hdi_isfolder=true``, created only if nothing has that name (a file of the same
  name, possible on a flat account, is left alone).

Idempotent: running it again creates nothing twice. One activity does every folder, a bounded
thread pool at a time (``DDD_COPY_THREADS``); a delivery's folders are few next to its files.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import ContainerClient
from azure.storage.filedatalake import FileSystemClient

from shared.core.config import Settings
from shared.core.messages import FoldersInput, FoldersOutcome
from shared.core.models import AccountKind, OwnedBlob
from shared.storage.clients import shared_clients
from shared.storage.datalake import account_kind, lake_file_system
from shared.storage.work import WorkStore, planned_folders, record_owned

FOLDER_MARKER_METADATA = {"hdi_isfolder": "true"}


def create_folders(folders_input: FoldersInput, settings: Settings) -> FoldersOutcome:
    request = folders_input.request
    clients = shared_clients(settings)
    work = WorkStore(clients)
    sink = clients.sink(request.sink_account, request.sink_container)
    kind = account_kind("sink", sink, request.sink_account, settings)
    names = [request.sink_folder, *(
        request.sink_path(relative) for relative in planned_folders(
            work, folders_input.run_id, folders_input.folder_pages))]
    if kind is AccountKind.HIERARCHICAL:
        file_system = lake_file_system("sink", request.sink_account, request.sink_container,
                                       settings)

        def make(name: str) -> str | None:
            return _make_directory(file_system, name)
    else:
        def make(name: str) -> str | None:
            return _make_marker(sink, name)

    # a level at a time, parents before children: a directory is made by its own request, not
    # as the missing parent of another one
    levels: dict[int, list[str]] = {}
    for name in names:
        levels.setdefault(name.count("/"), []).append(name)
    threads = max(1, min(settings.copy_threads, len(names)))
    created: list[OwnedBlob] = []
    try:
        with ThreadPoolExecutor(threads, thread_name_prefix="create-folder") as pool:
            for depth in sorted(levels):
                created.extend(OwnedBlob(path=name, etag=etag, kind="folder")
                               for name, etag in zip(levels[depth], pool.map(make, levels[depth]),
                                                     strict=True) if etag is not None)
    finally:
        record_owned(work, folders_input.run_id, "folders", created)
    return FoldersOutcome(kind=kind, folders=len(names), created=len(created))


def _make_directory(file_system: FileSystemClient, name: str) -> str | None:
    """The new directory's ETag, or None when it existed."""
    try:
        made = file_system.get_directory_client(name).create_directory(
            match_condition=MatchConditions.IfMissing)
    except ResourceExistsError:
        return None
    return str(made["etag"])


def _make_marker(sink: ContainerClient, name: str) -> str | None:
    """The new marker's ETag, or None when something has that name."""
    try:
        made = sink.get_blob_client(name).upload_blob(
            b"", metadata=FOLDER_MARKER_METADATA, overwrite=False)
    except ResourceExistsError:
        return None
    return str(made["etag"])
