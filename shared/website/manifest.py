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

from collections.abc import Iterator
from typing import Any

from shared.core.config import Settings
from shared.core.models import BlobLocation, FileResult, ManifestOutcome, OwnedBlob
from shared.core.naming import RESERVED_FOLDER
from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest
from shared.destination.claim import CLAIM_FILE
from shared.storage.clients import StorageClients, list_folder_files, md5_hex_of
from shared.storage.verified_write import BlockWriter
from shared.storage.work import (
    WorkStore,
    callback_name,
    planned_folders,
    record_owned,
    result_page_name,
)
from shared.website.entries import (
    CallbackEntries,
    ManifestError,
    _encoded,
    manifest_file_entry,
    manifest_folder_entry,
    manifest_pointer_entry,
    md5sum_line,
    present_entry,
)

MANIFEST_FORMAT = "ddd-transfer-manifest/1"
MANIFEST_FILE = "manifest.json"
CHECKSUM_FILE = "md5sums.txt"


def manifest_path(request: DeliveryRequest, own_name: str | None = None) -> str:
    """The folder's manifest; with `own_name`, a delivery's own beside the one of the delivery
    that holds the folder (a policy's delivery adding to it)."""
    name = MANIFEST_FILE if own_name is None else f"manifest.{own_name}.json"
    return f"{request.sink_folder}/{RESERVED_FOLDER}/{name}"


def checksum_path(request: DeliveryRequest, own_name: str | None = None) -> str:
    name = CHECKSUM_FILE if own_name is None else f"md5sums.{own_name}.txt"
    return f"{request.sink_folder}/{RESERVED_FOLDER}/{name}"


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
    sealed: bool = False, options: DeliveryOptions | None = None, holds_claim: bool = True,
) -> ManifestOutcome:
    """Write the manifest and checksum file into the delivered folder and the callback body
    into the work container (see module doc). Raises ManifestError if any file is unverified.

    `sealed`: the folder was delivered before and this run only verified it again; nothing is
    written there, and the callback points at the manifest it was delivered with. `options`:
    the delivery's conflict policy and what becomes of its source are recorded; with a policy
    other than `fail`, the files in the folder that are not part of the delivery are listed as
    present, not delivered. `holds_claim` False: the folder is another delivery's, whose
    manifest and checksum file stay; this delivery's are written under its run id."""
    options = options or DeliveryOptions()
    own_name = None if holds_claim else run_id
    # relative to the delivered folder
    checksums_file = checksum_path(request, own_name).removeprefix(request.sink_folder + "/")
    manifest_file = manifest_path(request, own_name).removeprefix(request.sink_folder + "/")
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        sink = clients.sink(request.sink_account, request.sink_container)
        manifest_writer: BlockWriter | NoWriter = BlockWriter(
            sink.get_blob_client(manifest_path(request, own_name)), content_type="application/json"
        ) if not sealed else NoWriter()
        checksum_writer: BlockWriter | NoWriter = BlockWriter(
            sink.get_blob_client(checksum_path(request, own_name)),
            content_type="text/plain; charset=utf-8",
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
                    "conflict_policy": options.conflict_policy,
                    # the source folder's files are deleted once the result is acknowledged
                    "source_after_delivery": "removed" if options.move_source else "kept",
                    # the standing rule that started the delivery (None: a person did)
                    "standing_rule": options.rule,
                    "checksum_file": checksums_file,
                    "check_with": f"md5sum -c {checksums_file}",
                    # the service's own files in the delivered folder, besides the data
                    "service_files": {
                        "manifest": manifest_file,
                        "checksums": checksums_file,
                        "claim": f"{RESERVED_FOLDER}/{CLAIM_FILE}",
                    },
                }
            )[:-1]
            + b',"files":['
        )
        entries_written = 0

        def add_entry(entry: dict[str, Any], *, to_receiver: bool = True) -> None:
            nonlocal entries_written
            encoded_entry = _encoded(entry)
            manifest_writer.write((b"," if entries_written else b"") + encoded_entry)
            entries_written += 1
            if to_receiver:
                callback_entries.offer(entry, encoded_entry)

        delivered: set[str] | None = set() if options.conflict_policy != "fail" else None
        for result in _results(work, run_id, chunk_count):
            if delivered is not None:
                delivered.add(result.destination_path)
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
        if delivered is not None:  # what the folder holds besides this delivery
            for blob in list_folder_files(sink, request.sink_folder):
                service_file = blob.name.startswith(f"{request.sink_folder}/{RESERVED_FOLDER}/")
                if blob.name not in delivered and not service_file:
                    # in the manifest file only: the website counts every entry it gets as
                    # delivered (its summary code)
                    add_entry(present_entry(blob.name, blob.size,
                                            md5_hex_of(blob.content_settings)),
                              to_receiver=False)
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
            earlier = sink.get_blob_client(manifest_path(request, own_name)).get_blob_properties()
            manifest_size = earlier.size
            manifest_md5 = md5_hex_of(earlier.content_settings) or ""
        else:
            record_owned(work, run_id, "manifest", [
                OwnedBlob(path=writer.blob_name, etag=writer.etag, kind="service-file")
                for writer in (manifest_writer, checksum_writer)
                if isinstance(writer, BlockWriter) and writer.etag is not None])

        manifest_location = BlobLocation(
            account=request.sink_account,
            container=request.sink_container,
            path=manifest_path(request, own_name),
        )
        checksum_location = BlobLocation(
            account=request.sink_account,
            container=request.sink_container,
            path=checksum_path(request, own_name),
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
