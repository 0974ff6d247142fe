"""What the source folder holds: its files, and every folder in it (empty ones included).

Files come from the Blob API listing on both kinds of account, because it carries what the
copy needs without another request (size, Content-MD5, content headers, metadata, ETag).
Folders depend on the kind of account (`shared.storage.datalake.account_kind`):

- hierarchical namespace (ADLS Gen2): the Data Lake API lists the folder's paths
  (`get_paths`, recursive), and every path with `is_directory` is a folder, empty or not;
- flat (Blob storage, Azurite): a folder is what ADLS tools leave over the Blob API, an empty
  blob with metadata ``hdi_isfolder=true`` (AzCopy's directory stubs, and how ADLS itself shows
  a directory on the Blob API), or a name prefix of a file.

Folders are kept relative to the delivered folder, in pages of the work container
(`plans/<run id>/folders/page-NNNNNN.jsonl`, one ``{"path": ...}`` a line), read back by the
folder creation and the manifest. The plan keeps their count and the number of pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from azure.storage.blob import BlobProperties, ContainerClient

from shared.core.config import Settings
from shared.core.models import AccountKind
from shared.storage.clients import is_directory_marker
from shared.storage.datalake import lake_file_system


def parents_of(relative_path: str) -> list[str]:
    """'a/b/c.txt' -> ['a', 'a/b']."""
    parts = relative_path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


@dataclass
class SourceListing:
    """One pass over the source folder: `files()` first, then `folders()`."""

    container: ContainerClient
    account: str
    folder: str
    kind: AccountKind
    settings: Settings
    _implied: set[str] = field(default_factory=set)

    def files(self) -> Iterator[BlobProperties]:
        """Every file blob under the folder, in the service's (name) order."""
        prefix = self.folder + "/"
        for blob in self.container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            relative = blob.name[len(prefix):]
            if is_directory_marker(blob):
                if self.kind is AccountKind.FLAT:
                    self._implied.update([*parents_of(relative), relative])
                continue
            if self.kind is AccountKind.FLAT:
                self._implied.update(parents_of(relative))
            yield blob

    def folders(self) -> Iterator[str]:
        """Every folder under the folder, relative to it (call after `files()` is done)."""
        if self.kind is AccountKind.FLAT:
            yield from sorted(self._implied)
            return
        prefix = self.folder + "/"
        file_system = lake_file_system("source", self.account,
                                       str(self.container.container_name), self.settings)
        for path in file_system.get_paths(path=self.folder, recursive=True):
            if path.is_directory and path.name.startswith(prefix):
                yield path.name[len(prefix):]


