"""Resuming a chunk at the file: which destinations an earlier attempt already verified.

A destination blob is only ever committed (Put Block List) after its copy verified: the single
block of a small file was checked by the service against the source's Content-MD5, the blocks of
a large one against the MD5s of the source bytes the app read under the plan's ETag, and the
whole-file MD5 compared with the plan's. The commit is what records the verification; no
separate record is written per file. So, when a chunk runs again (the orchestrator's retry after
the activity raised, or devhost/Azure re-running an activity whose host died), a destination
counts as verified, and is not copied again, when:

- its size is the planned size and it has a Content-MD5, and
- that Content-MD5 is the plan's (the source's stored MD5); or, for a file the source had no MD5
  for, every committed block id names the plan's source ETag (`block_id`): those blocks were
  copied from that version, each checked by the service, and the Content-MD5 is the one the app
  computed from the same bytes. An empty file's MD5 is the MD5 of nothing.

The destination folder was empty when planned and is claimed by this run
(`shared.plan.planner.claim_destination`), so nothing else writes there meanwhile.

Only a chunk's later attempts look: the first attempt creates the chunk's attempt marker in the
work container, and finds it there when it runs again. Looking costs one listing of the chunk's
part of the destination folder, plus one block list per file without a source MD5.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobProperties, ContainerClient

from shared.core.config import Settings
from shared.core.models import FileEntry, FileResult, Verification
from shared.core.request import DeliveryRequest
from shared.storage.checksum import EMPTY_MD5_HEX
from shared.storage.clients import md5_hex_of, quoted_etag


def _digest(text: str, chars: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:chars]


def block_id(index: int, source_etag: str, run_id: str) -> str:
    """The same id for the same block of the same source version on every try of one attempt
    (the SDK base64-encodes it). It names that version by a hash of its ETag, and the attempt
    that wrote it by a hash of its run id: the committed block list says who wrote a blob
    (`written_by`). All ids of a blob have the same length, as the service requires."""
    return f"{index:06d}-{_digest(source_etag, 16)}-{_digest(run_id, 12)}"


def _names_block(block: str, index: int, source_etag: str) -> bool:
    """The block is block `index` of that source version, whoever wrote it (ids written before
    they named their attempt stop after the version)."""
    return block[:23] == f"{index:06d}-{_digest(source_etag, 16)}"


SERVICE_BLOCK_ID = re.compile(r"\d{6}-[0-9a-f]{16}(?:-[0-9a-f]{12})?")


def written_by_this_service(block_ids: list[str]) -> bool:
    """The committed block ids are this service's (any attempt of any delivery, ids written
    before they named their attempt included): the blob is a copy it made."""
    return bool(block_ids) and all(SERVICE_BLOCK_ID.fullmatch(block) for block in block_ids)


def written_by(block_ids: list[str], run_id: str) -> bool:
    """The committed block ids of a blob say this attempt wrote it (it committed them)."""
    writer = "-" + _digest(run_id, 12)
    return bool(block_ids) and all(len(block) == 36 and block.endswith(writer)
                                   for block in block_ids)


def copied_in_one_block(entry: FileEntry, settings: Settings) -> bool:
    """Small files with a source MD5: one Put Block From URL checked against that MD5."""
    return entry.content_md5 is not None and entry.size <= settings.small_file_max_bytes


def verification_for(entry: FileEntry, settings: Settings) -> Verification:
    if copied_in_one_block(entry, settings):
        return "source-md5+copy-md5"
    if entry.content_md5 is not None:
        return "source-md5+block-md5"
    return "computed-from-source+block-md5"


def verified_destinations(
    sink: ContainerClient,
    request: DeliveryRequest,
    entries: list[FileEntry],
    settings: Settings,
) -> dict[str, FileResult]:
    """The chunk's files whose destination an earlier attempt verified (see the module doc),
    by relative path."""
    wanted = {request.sink_path(entry.path): entry for entry in entries}
    if not wanted:
        return {}
    found: dict[str, FileResult] = {}
    seen = 0
    for blob in sink.list_blobs(name_starts_with=os.path.commonprefix(list(wanted))):
        entry = wanted.get(blob.name)
        if entry is None:
            continue
        result = _verified_result(blob, entry, settings, _block_ids_of(sink, blob.name))
        if result is not None:
            found[entry.path] = result
        seen += 1
        if seen == len(wanted):
            break
    return found


def verified_existing(blob: BlobClient, entry: FileEntry,
                      settings: Settings) -> FileResult | None:
    """The file at `blob` as a verified result when it is the plan's version of `entry` (as a
    chunk's later attempt would find it), else None."""
    try:
        properties = blob.get_blob_properties()
    except ResourceNotFoundError:
        return None
    return _verified_result(properties, entry, settings, lambda: committed_block_ids(blob))


def _block_ids_of(sink: ContainerClient, name: str) -> Callable[[], list[str]]:
    return lambda: committed_block_ids(sink.get_blob_client(name))


def committed_block_ids(blob: BlobClient) -> list[str]:
    committed, _uncommitted = blob.get_block_list("committed")
    return [block.id for block in committed]


def _verified_result(
    blob: BlobProperties, entry: FileEntry, settings: Settings,
    block_ids: Callable[[], list[str]],
) -> FileResult | None:
    md5_hex = md5_hex_of(blob.content_settings)
    if blob.size != entry.size or md5_hex is None:
        return None
    if entry.content_md5 is not None:
        if md5_hex != entry.content_md5:
            return None
    elif entry.size == 0:
        if md5_hex != EMPTY_MD5_HEX:
            return None
    elif not _blocks_name_the_source(block_ids(), entry):
        return None
    return FileResult(
        path=entry.path,
        destination_path=blob.name,
        size=blob.size,
        content_md5=md5_hex,
        content_type=blob.content_settings.content_type,
        last_modified=blob.last_modified,
        etag=quoted_etag(blob.etag),
        verification=verification_for(entry, settings),
    )


def _blocks_name_the_source(block_ids: list[str], entry: FileEntry) -> bool:
    return bool(block_ids) and all(
        _names_block(block, index, entry.etag) for index, block in enumerate(block_ids))
