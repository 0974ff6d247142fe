"""The website's project summary of a source folder, counted by the website's own rules.

The website shows, for a delivery, `total_size`, `file_count`, `folder_count`,
`root_folder_count`, `sub_folder_count` and `error_msg`. Its code built them from the folder's
ADLS Gen2 paths (a recursive listing of the folder: every file and directory below it, with its
full name in the file system) one path at a time: a directory adds one folder, and is a root
folder when its name has three parts (`netid/project/dir`), else a sub folder; a file adds one
file and its `content_length`. When it could not list, it said "No project found at <folder>."
(missing) or "Unable to determine due to permission limitations." (its answer today).

This module lists the same paths through the blob API: files are the blobs; directories are the
ADLS directory markers (empty blobs with `hdi_isfolder=true`, as an ADLS account lists them) and
every folder a file's name passes through (all a flat-namespace account has). The listing is
bounded (`DDD_SUMMARY_MAX_ENTRIES`): past it, the summary says so instead of counting on. It is
bounded in time too, for the caller waits for it: given a `Deadline`, the count checks it at
every entry listed and stops (`DeadlinePassed`) once it has passed; `out_of_time` is the
refusal to answer then, naming what to do instead.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import ContainerClient
from pydantic import BaseModel

from shared.core.config import Settings
from shared.core.deadline import Deadline
from shared.storage.clients import is_directory_marker, shared_clients
from shared.storage.errors import StorageFault, describe_error

PERMISSION_LIMITATIONS = "Unable to determine due to permission limitations."
# parts in the name of a root folder: netid/project/dir
ROOT_FOLDER_PARTS = 3


class ProjectSummary(BaseModel):
    """The website's summary shape, field for field."""

    total_size: int = 0
    file_count: int = 0
    folder_count: int = 0
    root_folder_count: int = 0
    sub_folder_count: int = 0
    error_msg: str | None = None

    def apply_path(self, name: str, is_directory: bool, content_length: int) -> None:
        """One path of the listing, counted as the website counts it."""
        if is_directory:
            self.folder_count += 1
            if len(name.split("/")) == ROOT_FOLDER_PARTS:
                self.root_folder_count += 1
            else:
                self.sub_folder_count += 1
        else:
            self.total_size += content_length
            self.file_count += 1

    @classmethod
    def unknown(cls, error_msg: str) -> ProjectSummary:
        return cls(error_msg=error_msg)


def not_found_message(folder: str) -> str:
    return f"No project found at {folder}."


def out_of_time(folder: str, seconds: float) -> dict[str, Any]:
    """The 422 answer's body for a folder not counted within the deadline: the field, and what
    to do instead."""
    message = (f"{folder} could not be counted within {seconds:g} s, as long as this service "
               "counts while you wait (DDD_HTTP_DEADLINE_SECONDS). Ask again later if its "
               "storage is slow now; else ask for the summaries of its sub-folders, or plan a "
               "dry run of its delivery (POST /api/dry-runs), which counts any number of files "
               "in the background.")
    return {"error": message, "errors": [{"field": "Source_TopLevelFolder", "message": message}]}


def project_summary(account: str, container: str, folder: str, settings: Settings,
                    deadline: Deadline | None = None) -> ProjectSummary:
    """The summary of `folder` (a normalized folder path) in one container. Storage problems
    no retry can fix are the summary's `error_msg`; transient ones are raised, and
    DeadlinePassed once `deadline` has passed."""
    clients = shared_clients(settings)
    client = clients.source(account, container)
    try:
        return _count(client, folder, settings.summary_max_entries,
                      deadline or Deadline.unbounded())
    except AzureError as error:
        fault = StorageFault.of(error)
        if fault.retryable:
            raise
        if fault is StorageFault.NO_PERMISSION:
            return ProjectSummary.unknown(
                f"{PERMISSION_LIMITATIONS} This service's identity needs Storage Blob Data "
                f"Reader on '{account}'.")
        if fault is StorageFault.NOT_FOUND:
            return ProjectSummary.unknown(not_found_message(folder))
        if fault is StorageFault.ACCOUNT_UNREACHABLE:
            return ProjectSummary.unknown(
                f"The storage account '{account}' could not be found (its name does not "
                "resolve).")
        return ProjectSummary.unknown(
            f"The storage account '{account}' refused to list {folder}: "
            f"{describe_error(error)}")


def _count(client: ContainerClient, folder: str, max_entries: int,
           deadline: Deadline) -> ProjectSummary:
    summary = ProjectSummary()
    folders: set[str] = set()
    entries = 0
    deadline.check()
    for blob in client.list_blobs(name_starts_with=folder + "/", include=["metadata"]):
        deadline.check()
        entries += 1
        if entries > max_entries:
            return ProjectSummary.unknown(
                f"{folder} holds more than {max_entries:,} files and folders, more than this "
                "service counts while you wait.")
        name: str = blob.name
        if is_directory_marker(blob):
            folders.add(name)
            continue
        summary.apply_path(name, is_directory=False, content_length=blob.size)
        parts = name.split("/")
        for depth in range(len(folder.split("/")) + 1, len(parts)):
            folders.add("/".join(parts[:depth]))
    if entries == 0 and not _folder_exists(client, folder):
        return ProjectSummary.unknown(not_found_message(folder))
    for name in sorted(folders):
        summary.apply_path(name, is_directory=True, content_length=0)
    return summary


def _folder_exists(client: ContainerClient, folder: str) -> bool:
    """An empty ADLS directory is still a project (its marker blob exists)."""
    try:
        properties = client.get_blob_client(folder).get_blob_properties()
    except ResourceNotFoundError:
        return False
    return is_directory_marker(properties)
