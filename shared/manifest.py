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
   kept so it can be re-sent. It is at most DDD_CALLBACK_MAX_BYTES once encoded: the full entry
   list when it fits (the legacy shape: a JSON list), otherwise a compact manifest (an object
   with `truncated: true`, the summary, the entries that fit, and where the full manifest and the
   checksum file are).

Memory: one results page, the folder names seen, and at most the callback's budget of entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from shared.claim import CLAIM_FILE
from shared.config import Settings
from shared.models import BlobLocation, DeliveryRequest, FileResult, ManifestOutcome
from shared.naming import RESERVED_FOLDER
from shared.storage import StorageClients, WorkStore, callback_name, result_page_name
from shared.verified_write import BlockWriter
from shared.website import encode_body, transfer_result_body

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


class _CallbackBudget:
    """Keeps manifest entries (encoded) while they could still fit in the callback body."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.kept: list[bytes] = []
        self.kept_bytes = 0
        self.all_kept = True

    def offer(self, encoded_entry: bytes) -> None:
        if not self.all_kept:
            return
        if self.kept_bytes + len(encoded_entry) + 1 > self.max_bytes:
            self.all_kept = False
            return
        self.kept.append(encoded_entry)
        self.kept_bytes += len(encoded_entry) + 1


def _callback_body(
    request: DeliveryRequest,
    budget: _CallbackBudget,
    summary: dict[str, Any],
    locations: dict[str, Any],
    max_bytes: int,
) -> tuple[dict[str, Any], bool]:
    """The body to POST and whether its manifest is truncated; at most max_bytes encoded."""
    if budget.all_kept:
        full_list = [json.loads(encoded_entry) for encoded_entry in budget.kept]
        body = transfer_result_body(request, manifest=full_list)
        if len(encode_body(body)) <= max_bytes:
            return body, False
    # The count is written with as many digits as it can need before the room is measured.
    compact: dict[str, Any] = {
        "truncated": True,
        "summary": summary,
        **locations,
        "files_included": len(budget.kept),
        "files": [],
    }
    room = max_bytes - len(encode_body(transfer_result_body(request, manifest=compact)))
    if room < 0:
        raise ManifestError(
            f"DDD_CALLBACK_MAX_BYTES ({max_bytes}) is too small for even a compact manifest"
        )
    kept_count = 0
    for encoded_entry in budget.kept:
        needed = len(encoded_entry) + (1 if kept_count else 0)  # a comma between entries
        if needed > room:
            break
        room -= needed
        kept_count += 1
    compact["files_included"] = kept_count
    compact["files"] = [json.loads(encoded_entry) for encoded_entry in budget.kept[:kept_count]]
    body = transfer_result_body(request, manifest=compact)
    return body, True


def _results(work: WorkStore, run_id: str, chunk_count: int) -> Iterator[FileResult]:
    for index in range(chunk_count):
        for record in work.read_lines(result_page_name(run_id, index)):
            yield FileResult.model_validate(record)


def write_manifest(
    request: DeliveryRequest, run_id: str, chunk_count: int, settings: Settings
) -> ManifestOutcome:
    """Write the manifest and checksum file into the delivered folder and the callback body
    into the work container (see module doc). Raises ManifestError if any file is unverified."""
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        sink = clients.container(request.sink_account, request.sink_container)
        manifest_writer = BlockWriter(
            sink.get_blob_client(manifest_path(request)), content_type="application/json"
        )
        checksum_writer = BlockWriter(
            sink.get_blob_client(checksum_path(request)), content_type="text/plain; charset=utf-8"
        )
        budget = _CallbackBudget(settings.callback_max_bytes)
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
            budget.offer(encoded_entry)

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

        summary = {
            "file_count": file_count,
            "folder_count": len(folders_seen),
            "root_folder_count": root_folder_count,
            "sub_folder_count": len(folders_seen) - root_folder_count,
            "total_size": total_size,
            "root_folder": request.sink_folder,
        }
        manifest_writer.write(b'],"summary":' + _encoded(summary) + b"}")
        manifest_writer.close()
        checksum_writer.close()

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
        body, truncated = _callback_body(
            request,
            budget,
            summary,
            {
                "full_manifest": manifest_location.to_json(),
                "checksum_file": checksum_location.to_json(),
            },
            settings.callback_max_bytes,
        )
        callback_bytes = len(encode_body(body))
        work.write_json(callback_name(run_id), body)
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
            truncated=truncated,
        )
