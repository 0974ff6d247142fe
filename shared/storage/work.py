"""The app's own work container (`DDD_WORK_CONTAINER` in `DDD_WORK_ACCOUNT`) and what it holds.

    plans/<run>/chunk-NNNNNN.jsonl        the plan's pages: one FileEntry a line (a work unit)
    plans/<run>/plan.json                 the plan's totals and the request
    plans/<run>/folders/page-NNNNNN.jsonl the folders under the source folder
    results/<run>/chunk-NNNNNN.jsonl      how each file ended (FileResult)
    results/<run>/chunk-NNNNNN.started    a chunk's first attempt was made (a later one resumes)
    reports/<run>/callback.json           the body POSTed to the website (kept to re-send)
    owned/<run>/<writer>-<id>.jsonl       what the attempt wrote into the destination, by ETag

`WorkStore` reads and writes JSON documents and JSON Lines pages there. The ownership records
are what an attempt may remove from the destination (`shared.destination.cleanup`): each try
of a writer adds a file of its own, so nothing recorded is ever overwritten; should an attempt
die between a commit and its record, the block ids of what it wrote still name it
(`shared.copy.resume.written_by`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob import ContentSettings
from pydantic import BaseModel

from shared.core.models import OwnedBlob
from shared.core.naming import check_run_id
from shared.storage.clients import StorageClients

logger = logging.getLogger(__name__)

# Where the app keeps its own files in the work container.
PLANS_PREFIX = "plans"


RESULTS_PREFIX = "results"


REPORTS_PREFIX = "reports"


# ----- page and document names -------------------------------------------------------------
def plan_pages_prefix(run_id: str) -> str:
    return f"{PLANS_PREFIX}/{check_run_id(run_id)}"


def plan_page_name(run_id: str, index: int) -> str:
    return f"{plan_pages_prefix(run_id)}/chunk-{index:06d}.jsonl"


def plan_summary_name(run_id: str) -> str:
    return f"{plan_pages_prefix(run_id)}/plan.json"


def result_pages_prefix(run_id: str) -> str:
    return f"{RESULTS_PREFIX}/{check_run_id(run_id)}"


def result_page_name(run_id: str, index: int) -> str:
    return f"{result_pages_prefix(run_id)}/chunk-{index:06d}.jsonl"


def attempt_marker_name(run_id: str, index: int) -> str:
    """Created by the first attempt at copying a chunk: a later attempt finds it and resumes."""
    return f"{result_pages_prefix(run_id)}/chunk-{index:06d}.started"


def callback_name(run_id: str) -> str:
    return f"{REPORTS_PREFIX}/{check_run_id(run_id)}/callback.json"


# ----- the work container --------------------------------------------------------------------
def _json_line(record: BaseModel | dict[str, Any]) -> bytes:
    if isinstance(record, BaseModel):
        return record.model_dump_json().encode("utf-8") + b"\n"
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class WorkStore:
    """The app's own container (`DDD_WORK_CONTAINER` in `DDD_WORK_ACCOUNT`)."""

    def __init__(self, clients: StorageClients) -> None:
        settings = clients.settings
        self.account = settings.work_account
        self.container_name = settings.work_container
        self.container = clients.work_container()

    def ensure_container(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()

    def write_lines(self, name: str, records: Iterable[BaseModel | dict[str, Any]]) -> int:
        """Write a JSON Lines page (one chunk: small enough to build in memory). Returns bytes."""
        page = b"".join(_json_line(record) for record in records)
        self._upload(name, page, "application/x-ndjson")
        return len(page)

    def read_lines(self, name: str) -> Iterator[dict[str, Any]]:
        """The records of a JSON Lines page, streamed."""
        downloader = self.container.get_blob_client(name).download_blob()
        pending = b""
        for piece in downloader.chunks():
            pending += piece
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if pending.strip():
            yield json.loads(pending)

    def create_once(self, name: str) -> bool:
        """Create an empty marker unless it exists (If-None-Match: *). True when created now."""
        try:
            self.container.get_blob_client(name).upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            return False
        return True

    def write_json(self, name: str, document: Any) -> int:
        content = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self._upload(name, content, "application/json")
        return len(content)

    def read_json(self, name: str) -> Any:
        return json.loads(self.container.get_blob_client(name).download_blob().readall())

    def delete_pages_from(self, prefix: str, first_stale_index: int) -> int:
        """Delete `<prefix>/chunk-NNNNNN.jsonl` pages with an index >= first_stale_index
        (left by an earlier run of the same plan that had more chunks). Returns how many."""
        deleted = 0
        for blob in self.container.list_blobs(name_starts_with=prefix + "/chunk-"):
            stem = blob.name.rsplit("/chunk-", 1)[1].removesuffix(".jsonl")
            if stem.isdigit() and int(stem) >= first_stale_index:
                self.container.delete_blob(blob.name)
                deleted += 1
        return deleted

    def _upload(self, name: str, content: bytes, content_type: str) -> None:
        self.container.get_blob_client(name).upload_blob(
            content,
            overwrite=True,
            content_settings=ContentSettings(
                content_type=content_type,
                content_md5=bytearray(hashlib.md5(content).digest()),
            ),
        )


OWNED_PREFIX = "owned"


def ledger_prefix(run_id: str) -> str:
    return f"{OWNED_PREFIX}/{check_run_id(run_id)}/"


def record_owned(work: WorkStore, run_id: str, writer: str, blobs: list[OwnedBlob]) -> bool:
    """Record `blobs` as written by `run_id` (nothing when empty). False when the work
    container could not take the record (storage failing): the block ids still tell."""
    if not blobs:
        return True
    name = f"{ledger_prefix(run_id)}{writer}-{uuid.uuid4().hex[:12]}.jsonl"
    try:
        work.write_lines(name, blobs)
    except AzureError as error:
        logger.warning("the record of %d blobs written by %s could not be stored: %s",
                       len(blobs), run_id, type(error).__name__)
        return False
    return True


def owned_blobs(work: WorkStore, run_id: str) -> dict[str, OwnedBlob]:
    """Every blob recorded as written by `run_id`, by path (the last record of a path wins)."""
    owned: dict[str, OwnedBlob] = {}
    for blob in work.container.list_blobs(name_starts_with=ledger_prefix(run_id)):
        with contextlib.suppress(ValueError):
            for record in work.read_lines(blob.name):
                entry = OwnedBlob.model_validate(record)
                owned[entry.path] = entry
    return owned


FOLDERS_PER_PAGE = 5000


def folder_pages_prefix(run_id: str) -> str:
    return f"{PLANS_PREFIX}/{check_run_id(run_id)}/folders"


def folder_page_name(run_id: str, index: int) -> str:
    return f"{folder_pages_prefix(run_id)}/page-{index:06d}.jsonl"


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
