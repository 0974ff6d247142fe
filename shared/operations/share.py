"""Pull-mode shares: for a recipient without a storage account, links to download a folder.

`create_share` lists an allowed source folder (the planner's listing: the same files a delivery
would copy, with their stored MD5s; a file without one is hashed from its bytes now, under its
listed ETag, up to `DDD_SHARE_HASH_MAX_BYTES` in all), signs one read-only link per file
(`shared.operations.share_links`, user delegation SAS in Azure), and writes into the work container:

- `shares/<id>/download.sh`: the download script (`shared.operations.share_script`), links included;
- `shares/<id>/manifest.json`: the files with sizes, MD5s and ETags, and no link (it can be
  passed on without giving access);
- `shares/<id>/share.json`: the share's record (source, counts, times, state), no link.

The caller waits for all this, so it is bounded in time as well as in files and bytes: given a
`Deadline`, the listing checks it at every file, the hashing at every piece read, and the writes
before each of the three; once it has passed, the share stops (`DeadlinePassed`), removes what
it wrote, and `out_of_time` is the refusal to answer (422). The record is written last, so a
share stopped before it does not exist.

The answer holds a link to the script and one to the manifest, valid until the share expires;
they are given only in that HTTP answer (no orchestration is involved, so no SAS reaches
Durable). `revoke_share` deletes the script and the manifest, so their links answer 404 at
once, and records the revocation; the file links inside a script already downloaded stay valid
until they expire unless the source account's user delegation keys are revoked (see
`shared.operations.share_links`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob import BlobClient, ContainerClient, ContentSettings
from pydantic import BaseModel

from shared.core.config import Settings
from shared.core.deadline import Deadline, DeadlinePassed
from shared.core.models import BlobLocation, FileEntry
from shared.core.request import ShareRequest
from shared.operations.share_links import ReadLinks, SigningKind
from shared.operations.share_script import ScriptFile, render_script, unshareable_path
from shared.operations.telemetry import log_event
from shared.plan.planner import StorageRefusal, file_entry, refusing
from shared.storage.checksum import EMPTY_MD5_HEX, reading_blob
from shared.storage.clients import list_folder_files, shared_clients
from shared.storage.sas import SAS_CLOCK_SKEW
from shared.storage.work import WorkStore

SHARES_PREFIX = "shares"
SHARE_ID = re.compile(r"share-[0-9a-f]{32}")
MANIFEST_FORMAT = "ddd-transfer-share-manifest/1"


class ShareRefused(Exception):
    """The share cannot be made: an HTTP status, the request field it concerns, and why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "errors": [{"field": self.field, "message": self.message}]}


class ShareRecord(BaseModel):
    """What the service keeps about a share: no link, no key."""

    id: str
    source: BlobLocation
    files: int
    bytes: int
    files_hashed: int  # files without a stored MD5, hashed from their bytes for the share
    created: datetime
    expires: datetime
    signed_with: SigningKind
    script: BlobLocation
    manifest: BlobLocation
    state: Literal["active", "revoked"] = "active"
    revoked: datetime | None = None


class ShareCreated(BaseModel):
    """The answer to a new share: its record and the two links (only ever in this answer)."""

    share: ShareRecord
    script_url: str
    manifest_url: str


def check_share_id(share_id: str) -> str:
    if not SHARE_ID.fullmatch(share_id):
        raise ValueError("must be a share id as the create call answered it: 'share-' and 32 "
                         "lowercase hexadecimal digits")
    return share_id


def _name(share_id: str, file_name: str) -> str:
    return f"{SHARES_PREFIX}/{check_share_id(share_id)}/{file_name}"


def out_of_time(request: ShareRequest, seconds: float) -> ShareRefused:
    """The refusal of a share not made within the deadline, saying what to do instead."""
    return ShareRefused(422, "Source_TopLevelFolder", (
        f"{request.source_folder} could not be listed and hashed within {seconds:g} s, as long "
        "as this service works on a share while you wait (DDD_HTTP_DEADLINE_SECONDS); nothing "
        "was shared. Ask again later if its storage is slow now; else share its sub-folders, "
        "store MD5s at upload (azcopy --put-md5) so that nothing is hashed, or deliver it."))


def _md5_hex(blob: BlobClient, etag: str, deadline: Deadline) -> str:
    """The blob's MD5 from its bytes under `etag`, the deadline checked at every piece read."""
    md5 = hashlib.md5()
    with reading_blob(blob, etag=etag) as (_, pieces):
        for piece in pieces:
            deadline.check()
            md5.update(piece)
    return md5.hexdigest()


def _list_files(source: ContainerClient, request: ShareRequest, settings: Settings,
                deadline: Deadline) -> tuple[list[FileEntry], int]:
    """The folder's files with an MD5 each, and how many had to be hashed (see module doc)."""
    folder = request.source_folder
    entries: list[FileEntry] = []
    unhashed_bytes = 0
    deadline.check()
    for blob in list_folder_files(source, folder):
        deadline.check()
        if len(entries) == settings.share_max_files:
            raise ShareRefused(400, "Source_TopLevelFolder", (
                f"{folder} holds more than {settings.share_max_files:,} files, the most one "
                "share holds (DDD_SHARE_MAX_FILES); share its sub-folders, or deliver it."))
        entry = file_entry(blob, folder)
        problem = unshareable_path(entry.path)
        if problem:
            raise ShareRefused(409, "Source_TopLevelFolder",
                               f"'{entry.path}' cannot be shared by a download script: {problem}.")
        if entry.content_md5 is None and entry.size:
            unhashed_bytes += entry.size
        entries.append(entry)
    if not entries:
        raise ShareRefused(404, "Source_TopLevelFolder",
                           f"The folder '{folder}' in container '{request.source_container}' of "
                           f"storage account '{request.source_account}' holds no files.")
    if unhashed_bytes > settings.share_hash_max_bytes:
        raise ShareRefused(409, "Source_TopLevelFolder", (
            f"{unhashed_bytes:,} bytes of {folder} have no stored MD5, more than this service "
            f"reads to hash them while you wait ({settings.share_hash_max_bytes:,} bytes, "
            "DDD_SHARE_HASH_MAX_BYTES); deliver the folder instead, or store MD5s at upload "
            "(azcopy --put-md5)."))
    hashed = 0
    for index, entry in enumerate(entries):
        if entry.content_md5 is None:
            md5_hex = EMPTY_MD5_HEX
            if entry.size:
                md5_hex = _md5_hex(source.get_blob_client(f"{folder}/{entry.path}"), entry.etag,
                                   deadline)
            entries[index] = entry.model_copy(update={"content_md5": md5_hex})
            hashed += 1
    return entries, hashed


def create_share(request: ShareRequest, settings: Settings, *, now: datetime | None = None,
                 deadline: Deadline | None = None) -> ShareCreated:
    """Make a share (see module doc). Raises ShareRefused, transient storage errors, and
    DeadlinePassed once `deadline` has passed (nothing of the share is left then)."""
    deadline = deadline or Deadline.unbounded()
    deadline.check()
    now = now or datetime.now(UTC)
    start, expires = now - SAS_CLOCK_SKEW, now + timedelta(seconds=request.expires_in_seconds)
    share_id = f"share-{uuid.uuid4().hex}"
    source_location = BlobLocation(account=request.source_account,
                                   container=request.source_container, path=request.source_folder)
    clients = shared_clients(settings)
    source = clients.source(request.source_account, request.source_container)
    try:
        with refusing("source", request.source_account, request.source_container):
            if not source.exists():
                raise ShareRefused(404, "Source_FileSystem", (
                    f"The container '{request.source_container}' does not exist in storage "
                    f"account '{request.source_account}'."))
            entries, hashed = _list_files(source, request, settings, deadline)
            links = ReadLinks(clients.source_service(request.source_account), settings,
                              start=start, expiry=expires)
    except StorageRefusal as refusal:
        raise ShareRefused(409, "Source_StorageAccount", str(refusal)) from None
    script = render_script(
        share_id, f"{request.source_account}/{request.source_container}/"
                  f"{request.source_folder}", expires,
        (ScriptFile(md5_hex=entry.content_md5 or "", size=entry.size, path=entry.path,
                    url=links.url(request.source_container,
                                  f"{request.source_folder}/{entry.path}"))
         for entry in entries))
    work = WorkStore(clients)
    work.ensure_container()
    location = BlobLocation(account=work.account, container=work.container_name, path="")
    record = ShareRecord(
        id=share_id, source=source_location, files=len(entries),
        bytes=sum(entry.size for entry in entries), files_hashed=hashed, created=now,
        expires=expires, signed_with=links.kind,
        script=location.model_copy(update={"path": _name(share_id, "download.sh")}),
        manifest=location.model_copy(update={"path": _name(share_id, "manifest.json")}))
    _store(work, record, script.encode("utf-8"), _manifest(record, entries), deadline)
    log_event("share.created", share_id=share_id, source=_folder_of(record),
              files=record.files, bytes=record.bytes, expires=record.expires.isoformat(),
              created=record.created.isoformat())
    work_links = ReadLinks(clients.service(work.account), settings, start=start,
                           expiry=expires)
    return ShareCreated(
        share=record,
        script_url=work_links.url(work.container_name, record.script.path),
        manifest_url=work_links.url(work.container_name, record.manifest.path))


def _manifest(record: ShareRecord, entries: list[FileEntry]) -> bytes:
    document = {
        "format": MANIFEST_FORMAT,
        "share": record.id,
        "source": record.source.model_dump(),
        "expires": record.expires.isoformat(),
        "checksum_algorithm": "md5",
        "files": [{"path": entry.path, "size": entry.size, "content_md5": entry.content_md5,
                   "etag": entry.etag, "last_modified": entry.last_modified.isoformat()}
                  for entry in entries],
        "summary": {"files": record.files, "bytes": record.bytes},
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _store(work: WorkStore, record: ShareRecord, script: bytes, manifest: bytes,
           deadline: Deadline) -> None:
    """The script, the manifest, then the record, the deadline checked before each; stopped
    by it (or by the caller while the record was written), what was written is removed."""
    written: list[str] = []
    try:
        for name, content, content_type in (
                (record.script.path, script, "text/x-shellscript; charset=utf-8"),
                (record.manifest.path, manifest, "application/json")):
            deadline.check()
            _upload(work, name, content, content_type, name.rsplit("/", 1)[-1])
            written.append(name)
        deadline.check()
        written.append(_name(record.id, "share.json"))
        work.write_json(written[-1], record.model_dump(mode="json"))
        if deadline.stopped:
            raise DeadlinePassed(deadline.seconds)
    except DeadlinePassed:
        for name in written:
            with contextlib.suppress(AzureError):
                work.container.delete_blob(name)
        raise


def _upload(work: WorkStore, name: str, content: bytes, content_type: str,
            file_name: str) -> None:
    work.container.get_blob_client(name).upload_blob(
        content, overwrite=True, content_settings=ContentSettings(
            content_type=content_type,
            content_disposition=f'attachment; filename="{file_name}"',
            content_md5=bytearray(hashlib.md5(content).digest())))


def read_share(share_id: str, settings: Settings) -> ShareRecord | None:
    clients = shared_clients(settings)
    try:
        document = WorkStore(clients).read_json(_name(share_id, "share.json"))
    except ResourceNotFoundError:
        return None
    return ShareRecord.model_validate(document)


def revoke_share(share_id: str, settings: Settings, *,
                 now: datetime | None = None) -> ShareRecord | None:
    """Delete the share's script and manifest and record the revocation (again: the same).
    None when there is no such share."""
    clients = shared_clients(settings)
    work = WorkStore(clients)
    try:
        record = ShareRecord.model_validate(work.read_json(_name(share_id, "share.json")))
    except ResourceNotFoundError:
        return None
    for location in (record.script, record.manifest):
        with contextlib.suppress(ResourceNotFoundError):
            work.container.delete_blob(location.path)
    if record.state != "revoked":
        record = record.model_copy(update={"state": "revoked",
                                           "revoked": now or datetime.now(UTC)})
        work.write_json(_name(share_id, "share.json"), record.model_dump(mode="json"))
        log_event("share.revoked", share_id=share_id, source=_folder_of(record),
                  expires=record.expires.isoformat(),
                  revoked=record.revoked.isoformat() if record.revoked else None)
    return record


def _folder_of(record: ShareRecord) -> str:
    return f"{record.source.account}/{record.source.container}/{record.source.path}"
