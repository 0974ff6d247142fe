"""What each attempt of a delivery wrote into the destination: the only blobs it may remove.

Every blob an attempt creates in the delivered folder (a file, a folder marker or directory,
the manifest and checksum file) is recorded in the app's work container with the ETag the
service gave it, as the attempt goes:

    owned/<run id>/<writer>-<id>.jsonl   one {"path", "etag", "kind"} a line

`writer` names the work unit, `folders` or `manifest`; each try of a writer adds a file of its
own, so nothing recorded is ever overwritten. A file is created with If-None-Match `*`
(`shared.copy.file`), so a record always names a blob the attempt made, never one it replaced.
Should an attempt die between its commit and its record, the blob still says who wrote it: its
committed block ids name the attempt (`shared.copy.resume.written_by`).

The clean-up of a failed attempt (`shared.destination.cleanup`) deletes a blob only when it is
recorded (or its block ids say so) and its ETag is still the one written: a blob someone changed
since is left alone, and so is every blob the attempt did not write.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Literal

from azure.core.exceptions import AzureError

from shared.core.models import DurableModel
from shared.core.naming import check_run_id
from shared.storage.clients import WorkStore

logger = logging.getLogger(__name__)

OWNED_PREFIX = "owned"
BlobKind = Literal["file", "folder", "service-file"]


class OwnedBlob(DurableModel):
    path: str  # full path in the sink container
    etag: str  # as the service answered the write
    kind: BlobKind = "file"


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
