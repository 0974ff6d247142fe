"""The manifest: what was delivered, for the recipient (in the delivered folder) and the website.

`write_manifest` reads the result pages once, as a stream, and writes three things:

1. `<sink folder>/_ddd_transfer/manifest.json` in the sink container: the full manifest, one
   entry per folder and file (the website's legacy keys, docs/website-contract.md, plus
   `source_path`, `destination_path`, `verification`, `checksum_algorithm`) and a summary;
2. `<sink folder>/_ddd_transfer/md5sums.txt`: one `<md5>  <path>` line per file, paths relative
   to the delivered folder, in GNU md5sum's format (names holding a backslash, newline or
   carriage return are escaped and the line starts with '\\'), checked with
   `cd <folder> && md5sum -c _ddd_transfer/md5sums.txt`;
3. `reports/<run id>/callback.json` in the work container: the body to POST to the website,
   kept so it can be re-sent. Its `manifest` is always a JSON list of path entries (the
   website's summary code iterates it as one) and the body is at most DDD_CALLBACK_MAX_BYTES
   once encoded: the full entries when they fit; else every entry shrunk to the keys the
   website reads (`shrunk_entry`); else the shrunk entries that fit, in manifest order,
   followed by one entry for the full `_ddd_transfer/manifest.json` (its size and MD5), so a
   reader of the list finds the rest.

Memory: one results page, the folder names seen, and at most twice the callback's budget of
entries (full and shrunk).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

from shared.core.config import Settings
from shared.core.models import BlobLocation, FileResult, ManifestOutcome, OwnedBlob
from shared.core.naming import RESERVED_FOLDER
from shared.core.request import DeliveryRequest
from shared.destination.claim import CLAIM_FILE
from shared.storage.clients import StorageClients, md5_hex_of
from shared.storage.verified_write import BlockWriter
from shared.storage.work import (
    WorkStore,
    callback_name,
    planned_folders,
    record_owned,
    result_page_name,
)
from shared.website.callback import encode_body, transfer_result_body

MANIFEST_FORMAT = "ddd-transfer-manifest/1"
MANIFEST_FILE = "manifest.json"
CHECKSUM_FILE = "md5sums.txt"


class ManifestError(RuntimeError):
    """The results do not allow a manifest (a file is missing or not verified)."""


def manifest_path(request: DeliveryRequest) -> str:
    return f"{request.sink_folder}/{RESERVED_FOLDER}/{MANIFEST_FILE}"


def checksum_path(request: DeliveryRequest) -> str:
    return f"{request.sink_folder}/{RESERVED_FOLDER}/{CHECKSUM_FILE}"


def md5sum_line(md5_hex: str, relative_path: str) -> str:
    """One line of `md5sum` output (text mode), with GNU coreutils' escaping of file names."""
    if any(character in relative_path for character in "\\\n\r"):
        escaped = (
            relative_path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        )
        return f"\\{md5_hex}  {escaped}\n"
    return f"{md5_hex}  {relative_path}\n"


def manifest_file_entry(result: FileResult, request: DeliveryRequest) -> dict[str, Any]:
    """A file's manifest entry: the legacy ADLS keys first, then what this service adds."""
    return {
        "name": result.destination_path,
        "is_directory": False,
        "content_length": result.size,
        "last_modified": result.last_modified.isoformat() if result.last_modified else None,
        "etag": result.etag,
        "content_settings": {
            "content_type": result.content_type,
            "content_md5": result.content_md5,
        },
        "source_path": request.source_path(result.path),
        "destination_path": result.destination_path,
        "verification": result.verification,
        "checksum_algorithm": "md5",
    }


def manifest_folder_entry(folder_path: str) -> dict[str, Any]:
    return {
        "name": folder_path,
        "is_directory": True,
        "content_length": 0,
        "last_modified": None,
        "etag": None,
        "content_settings": None,
    }


def _encoded(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def shrunk_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry with only what the website's summary code reads (`name`, `is_directory`,
    `content_length`) and the MD5 a file is checked against (`content_settings.content_md5`)."""
    content_settings = entry["content_settings"]
    return {
        "name": entry["name"],
        "is_directory": entry["is_directory"],
        "content_length": entry["content_length"],
        "content_settings": (
            None if content_settings is None
            else {"content_md5": content_settings["content_md5"]}
        ),
    }


def manifest_pointer_entry(path: str, size: int, md5_hex: str) -> dict[str, Any]:
    """The last entry of a callback that leaves entries out: the full manifest file, as any
    (shrunk) file entry."""
    return shrunk_entry(
        {
            "name": path,
            "is_directory": False,
            "content_length": size,
            "content_settings": {"content_md5": md5_hex},
        }
    )


class _KeptEntries:
    """Encoded entries, kept in order while they (and a comma after each) fit in max_bytes."""

    def __init__(self, max_bytes: int, *, keep_prefix: bool) -> None:
        self.max_bytes = max_bytes
        self.keep_prefix = keep_prefix  # keep the entries that fit once one does not
        self.encoded: list[bytes] = []
        self.total_bytes = 0
        self.complete = True

    def offer(self, encoded_entry: bytes) -> None:
        if not self.complete:
            return
        if self.total_bytes + len(encoded_entry) + 1 > self.max_bytes:
            self.complete = False
            if not self.keep_prefix:
                self.encoded = []
            return
        self.encoded.append(encoded_entry)
        self.total_bytes += len(encoded_entry) + 1


class CallbackBody(NamedTuple):
    body: dict[str, Any]  # transfer_uuid, delivery_id and manifest: a list of path entries
    entries_shrunk: bool  # its entries keep only what the website reads (`shrunk_entry`)
    entries_left_out: int  # manifest entries not in it (then it ends with the manifest file)


class CallbackEntries:
    """The manifest entries the callback body may carry, kept while they could still fit: the
    full entries (while all of them could), and the same entries shrunk (`shrunk_entry`)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.entry_count = 0
        self._full = _KeptEntries(max_bytes, keep_prefix=False)
        self._shrunk = _KeptEntries(max_bytes, keep_prefix=True)

    def offer(self, entry: dict[str, Any], encoded_entry: bytes | None = None) -> None:
        self.entry_count += 1
        self._full.offer(_encoded(entry) if encoded_entry is None else encoded_entry)
        if self._shrunk.complete:
            self._shrunk.offer(_encoded(shrunk_entry(entry)))

    def body(self, request: DeliveryRequest, manifest_entry: dict[str, Any]) -> CallbackBody:
        """The body to POST, at most max_bytes encoded. Its manifest is the full entries if
        they fit, else the shrunk ones if they fit, else the shrunk entries that fit followed
        by `manifest_entry` (the full manifest file)."""
        empty_list_bytes = len(encode_body(transfer_result_body(request, manifest=[])))
        for kept, shrunk in ((self._full, False), (self._shrunk, True)):
            # total_bytes counts a comma after each entry; a list has one fewer
            list_bytes = empty_list_bytes + max(kept.total_bytes - 1, 0)
            if kept.complete and list_bytes <= self.max_bytes:
                return CallbackBody(_body_of(request, kept.encoded), shrunk, 0)
        encoded_manifest_entry = _encoded(manifest_entry)
        room = self.max_bytes - empty_list_bytes - len(encoded_manifest_entry)
        if room < 0:
            raise ManifestError(
                f"DDD_CALLBACK_MAX_BYTES ({self.max_bytes}) is too small for even one entry"
            )
        kept_count = 0
        for encoded_entry in self._shrunk.encoded:
            if len(encoded_entry) + 1 > room:  # the entry and the comma after it
                break
            room -= len(encoded_entry) + 1
            kept_count += 1
        encoded_entries = [*self._shrunk.encoded[:kept_count], encoded_manifest_entry]
        return CallbackBody(
            _body_of(request, encoded_entries), True, self.entry_count - kept_count
        )


def _body_of(request: DeliveryRequest, encoded_entries: list[bytes]) -> dict[str, Any]:
    return transfer_result_body(
        request, manifest=[json.loads(encoded_entry) for encoded_entry in encoded_entries]
    )


def _results(work: WorkStore, run_id: str, chunk_count: int) -> Iterator[FileResult]:
    for index in range(chunk_count):
        for record in work.read_lines(result_page_name(run_id, index)):
            yield FileResult.model_validate(record)


class NoWriter:
    """Where the manifest of a sealed folder goes: nowhere (the delivered one stays)."""

    size = 0

    def write(self, content: bytes) -> None:
        pass

    def close(self) -> str:
        return ""


def write_manifest(
    request: DeliveryRequest, run_id: str, chunk_count: int, settings: Settings, *,
    sealed: bool = False,
) -> ManifestOutcome:
    """Write the manifest and checksum file into the delivered folder and the callback body
    into the work container (see module doc). Raises ManifestError if any file is unverified.

    `sealed`: the folder was delivered before and this run only verified it again; nothing is
    written there, and the callback points at the manifest it was delivered with."""
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        sink = clients.sink(request.sink_account, request.sink_container)
        manifest_writer: BlockWriter | NoWriter = BlockWriter(
            sink.get_blob_client(manifest_path(request)), content_type="application/json"
        ) if not sealed else NoWriter()
        checksum_writer: BlockWriter | NoWriter = BlockWriter(
            sink.get_blob_client(checksum_path(request)), content_type="text/plain; charset=utf-8"
        ) if not sealed else NoWriter()
        callback_entries = CallbackEntries(settings.callback_max_bytes)
        folders_seen: set[str] = set()
        root_folder_count = file_count = total_size = 0

        manifest_writer.write(
            _encoded(
                {
                    "format": MANIFEST_FORMAT,
                    "transfer_uuid": str(request.transfer_uuid),
                    "delivery_id": request.delivery_id,
                    "source": {
                        "account": request.source_account,
                        "container": request.source_container,
                        "folder": request.source_folder,
                    },
                    "destination": {
                        "account": request.sink_account,
                        "container": request.sink_container,
                        "folder": request.sink_folder,
                    },
                    "checksum_algorithm": "md5",
                    "checksum_file": f"{RESERVED_FOLDER}/{CHECKSUM_FILE}",
                    "check_with": f"md5sum -c {RESERVED_FOLDER}/{CHECKSUM_FILE}",
                    # the service's own files in the delivered folder, besides the data
                    "service_files": {
                        "manifest": f"{RESERVED_FOLDER}/{MANIFEST_FILE}",
                        "checksums": f"{RESERVED_FOLDER}/{CHECKSUM_FILE}",
                        "claim": f"{RESERVED_FOLDER}/{CLAIM_FILE}",
                    },
                }
            )[:-1]
            + b',"files":['
        )
        entries_written = 0

        def add_entry(entry: dict[str, Any]) -> None:
            nonlocal entries_written
            encoded_entry = _encoded(entry)
            manifest_writer.write((b"," if entries_written else b"") + encoded_entry)
            entries_written += 1
            callback_entries.offer(entry, encoded_entry)

        for result in _results(work, run_id, chunk_count):
            if not result.verified or result.content_md5 is None:
                raise ManifestError(
                    f"{result.path} is not delivered and verified: {result.error or 'no MD5'}"
                )
            parts = result.path.split("/")
            for depth in range(1, len(parts)):
                folder_path = "/".join(parts[:depth])
                if folder_path not in folders_seen:
                    folders_seen.add(folder_path)
                    root_folder_count += depth == 1
                    add_entry(manifest_folder_entry(request.sink_path(folder_path)))
            add_entry(manifest_file_entry(result, request))
            checksum_writer.write(md5sum_line(result.content_md5, result.path).encode("utf-8"))
            file_count += 1
            total_size += result.size
        # folders no file implies (empty ones, or holding only empty ones), as the plan listed
        for folder_path in planned_folders(work, run_id):
            if folder_path not in folders_seen:
                folders_seen.add(folder_path)
                root_folder_count += "/" not in folder_path
                add_entry(manifest_folder_entry(request.sink_path(folder_path)))

        summary = {
            "file_count": file_count,
            "folder_count": len(folders_seen),
            "root_folder_count": root_folder_count,
            "sub_folder_count": len(folders_seen) - root_folder_count,
            "total_size": total_size,
            "root_folder": request.sink_folder,
        }
        manifest_writer.write(b'],"summary":' + _encoded(summary) + b"}")
        manifest_md5 = manifest_writer.close()
        checksum_writer.close()
        manifest_size = manifest_writer.size
        if sealed:  # the manifest the folder was delivered with stays: it is pointed to
            delivered = sink.get_blob_client(manifest_path(request)).get_blob_properties()
            manifest_size = delivered.size
            manifest_md5 = md5_hex_of(delivered.content_settings) or ""
        else:
            record_owned(work, run_id, "manifest", [
                OwnedBlob(path=writer.blob_name, etag=writer.etag, kind="service-file")
                for writer in (manifest_writer, checksum_writer)
                if isinstance(writer, BlockWriter) and writer.etag is not None])

        manifest_location = BlobLocation(
            account=request.sink_account,
            container=request.sink_container,
            path=manifest_path(request),
        )
        checksum_location = BlobLocation(
            account=request.sink_account,
            container=request.sink_container,
            path=checksum_path(request),
        )
        callback = callback_entries.body(
            request,
            manifest_pointer_entry(manifest_location.path, manifest_size, manifest_md5),
        )
        callback_bytes = work.write_json(callback_name(run_id), callback.body)
        return ManifestOutcome(
            file_count=file_count,
            folder_count=len(folders_seen),
            total_size=total_size,
            manifest=manifest_location,
            checksums=checksum_location,
            callback=BlobLocation(
                account=work.account, container=work.container_name, path=callback_name(run_id)
            ),
            callback_bytes=callback_bytes,
            truncated=callback.entries_shrunk or callback.entries_left_out > 0,
            entries_left_out=callback.entries_left_out,
        )
