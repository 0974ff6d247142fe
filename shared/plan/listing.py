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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from azure.storage.blob import BlobProperties, ContainerClient

from shared.core.config import Settings
from shared.core.naming import check_run_id
from shared.storage.clients import PLANS_PREFIX, WorkStore, is_directory_marker, plan_summary_name
from shared.storage.datalake import AccountKind, lake_file_system

FOLDERS_PER_PAGE = 5000


def folder_pages_prefix(run_id: str) -> str:
    return f"{PLANS_PREFIX}/{check_run_id(run_id)}/folders"


def folder_page_name(run_id: str, index: int) -> str:
    return f"{folder_pages_prefix(run_id)}/page-{index:06d}.jsonl"


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


def write_folder_pages(work: WorkStore, run_id: str, folders: Iterable[str],
                       refuse: Callable[[str], None]) -> tuple[int, int]:
    """Write the folders as pages (`refuse` raises for a name that cannot be delivered);
    delete pages an earlier run of the same plan left beyond them. Returns (folders, pages)."""
    count = pages = 0
    page: list[dict[str, str]] = []
    for relative in folders:
        refuse(relative)
        page.append({"path": relative})
        count += 1
        if len(page) == FOLDERS_PER_PAGE:
            work.write_lines(folder_page_name(run_id, pages), page)
            pages, page = pages + 1, []
    if page:
        work.write_lines(folder_page_name(run_id, pages), page)
        pages += 1
    for blob in work.container.list_blobs(name_starts_with=folder_pages_prefix(run_id) + "/"):
        stem = blob.name.rsplit("/page-", 1)[-1].removesuffix(".jsonl")
        if stem.isdigit() and int(stem) >= pages:
            work.container.delete_blob(blob.name)
    return count, pages


def planned_folders(work: WorkStore, run_id: str, pages: int | None = None) -> Iterator[str]:
    """The folders the plan listed, relative to the delivered folder. Without `pages`, the
    count is read from the plan summary."""
    if pages is None:
        pages = int(work.read_json(plan_summary_name(run_id)).get("folder_pages", 0))
    for index in range(pages):
        for record in work.read_lines(folder_page_name(run_id, index)):
            yield str(record["path"])

