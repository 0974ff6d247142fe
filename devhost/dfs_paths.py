"""The hierarchical namespace the Data Lake stand-in shows, kept in Azurite's own blobs.

ADLS Gen2 shows each directory through the Blob API as an empty blob whose metadata holds
``hdi_isfolder=true``; the stand-in stores directories exactly so, in Azurite, and a file is a
blob. A directory that only holds blobs written straight into Azurite (no marker) is still a
directory here, as its files imply it. Owners, groups and ACLs are kept in memory, one record
per path, made when the stand-in sees the path created (inheriting the parent's default ACL,
as ADLS does) or, for a path it never saw created, on first sight with ADLS's defaults.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobProperties, BlobServiceClient, ContainerClient

from devhost.dfs_acl import SUPERUSER, PathAccess, new_path_access

FOLDER_METADATA = "hdi_isfolder"
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def is_folder_marker(blob: BlobProperties) -> bool:
    metadata = blob.metadata or {}
    return str(metadata.get(FOLDER_METADATA, "")).lower() == "true"


def parents_of(path: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b'] (outermost first)."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def rfc1123(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def filetime(moment: datetime) -> str:
    """Windows file time (100 ns ticks since 1601), as List Paths gives `creationTime`."""
    return str(int((moment - _FILETIME_EPOCH).total_seconds() * 10_000_000))


@dataclass(frozen=True)
class PathItem:
    name: str
    is_directory: bool
    size: int
    last_modified: datetime
    created: datetime
    etag: str  # unquoted, as List Paths gives it


class Namespace:
    """Paths and their access records for the accounts the stand-in serves."""

    def __init__(self, blob_endpoint: str, account_keys: dict[str, str],
                 verify: str | bool = True) -> None:
        self._blob_endpoint = blob_endpoint  # http(s)://127.0.0.1:<azurite port>
        self._keys = account_keys
        self._verify = verify
        self._services: dict[str, BlobServiceClient] = {}
        self._access: dict[tuple[str, str, str], PathAccess] = {}
        self.lock = threading.RLock()  # held while an ACL operation reads and changes records

    # ----- Azurite ------------------------------------------------------------------------
    def container(self, account: str, container: str) -> ContainerClient:
        with self.lock:
            service = self._services.get(account)
            if service is None:
                service = BlobServiceClient(
                    f"{self._blob_endpoint}/{account}",
                    credential=AzureNamedKeyCredential(account, self._keys[account]),
                    connection_verify=self._verify)
                self._services[account] = service
        return service.get_container_client(container)

    def container_exists(self, account: str, container: str) -> bool:
        return self.container(account, container).exists()

    def close(self) -> None:
        for service in self._services.values():
            service.close()

    # ----- paths --------------------------------------------------------------------------
    def item(self, account: str, container: str, path: str) -> PathItem | None:
        """The path (file, directory marker or implied directory), or None."""
        if not path:
            now = datetime.now(UTC)
            return PathItem("", True, 0, now, now, "0x0")
        client = self.container(account, container)
        try:
            blob = client.get_blob_client(path).get_blob_properties()
        except ResourceNotFoundError:
            for child in client.list_blobs(name_starts_with=path + "/", results_per_page=1):
                return _implied(path, child)
            return None
        return _item(blob)

    def walk(self, account: str, container: str, directory: str,
             recursive: bool = True) -> Iterator[PathItem]:
        """Every path under `directory` ('' for the whole file system), parents before their
        children; directories only implied by their files are included."""
        prefix = directory + "/" if directory else ""
        seen: set[str] = set()
        depth = prefix.count("/")
        blobs = self.container(account, container).list_blobs(
            name_starts_with=prefix or None, include=["metadata"])
        for blob in blobs:
            for parent in parents_of(blob.name)[depth:]:
                if parent not in seen:
                    seen.add(parent)
                    if recursive or parent.count("/") == depth:
                        yield _implied(parent, blob)
            if blob.name in seen:
                continue
            seen.add(blob.name)
            if recursive or blob.name.count("/") == depth:
                yield _item(blob)

    def has_children(self, account: str, container: str, path: str) -> bool:
        children = self.container(account, container).list_blobs(
            name_starts_with=path + "/", results_per_page=1)
        return any(True for _ in children)

    def make_directory(self, account: str, container: str, path: str,
                       owner: str = SUPERUSER) -> bool:
        """Create the directory and any missing parent as marker blobs; False if it existed."""
        client = self.container(account, container)
        created = False
        for name in [*parents_of(path), path]:
            try:
                client.upload_blob(name, b"", metadata={FOLDER_METADATA: "true"},
                                   overwrite=False)
            except ResourceExistsError:
                continue
            self.created(account, container, name, is_directory=True, owner=owner)
            created = name == path
        return created

    def make_parents(self, account: str, container: str, path: str,
                     owner: str = SUPERUSER) -> None:
        """After a blob was written through the Blob API: its missing parents appear."""
        parent = path.rpartition("/")[0]
        if parent:
            self.make_directory(account, container, parent, owner)

    # ----- access records -----------------------------------------------------------------
    def access(self, account: str, container: str, path: str, *,
               is_directory: bool) -> PathAccess:
        """The record of a path; one with ADLS's defaults if the stand-in never saw it made."""
        with self.lock:
            key = (account, container, path)
            record = self._access.get(key)
            if record is None:
                record = new_path_access(None, is_directory=is_directory)
                self._access[key] = record
            return record

    def created(self, account: str, container: str, path: str, *, is_directory: bool,
                owner: str = SUPERUSER) -> None:
        """A path was just created by `owner`: it takes its parent's default ACL."""
        with self.lock:
            key = (account, container, path)
            if key in self._access:
                return
            parent_path = path.rpartition("/")[0]
            parent = self.access(account, container, parent_path, is_directory=True)
            self._access[key] = new_path_access(parent, is_directory=is_directory, owner=owner)

    def forget(self, account: str, container: str, path: str) -> None:
        with self.lock:
            self._access.pop((account, container, path), None)


def _item(blob: BlobProperties) -> PathItem:
    return PathItem(name=blob.name, is_directory=is_folder_marker(blob), size=blob.size,
                    last_modified=blob.last_modified,
                    created=blob.creation_time or blob.last_modified,
                    etag=str(blob.etag).strip('"'))


def _implied(path: str, child: BlobProperties) -> PathItem:
    return PathItem(name=path, is_directory=True, size=0, last_modified=child.last_modified,
                    created=child.creation_time or child.last_modified, etag="0x0")
