"""Copy a run of a file's blocks: read their bytes once, hash them, stage each block with its
MD5 by Put Block From URL; and commit a file's blocks once its MD5 verified.

A file is cut into blocks of `BlockLayout.block_size` (the setting, grown for a file that
would need more than 50,000 blocks) and its blocks into segments of at most
`DDD_CHUNK_MAX_BYTES`: a work unit. A file of one segment is copied by one `copy_file`; a
larger one segment by segment (`shared.copy.segments`), one activity each.

The bytes of a run of blocks are read as ranged GETs, several in flight, handed back in order
(`shared.copy.ranged_read`); every range is read under the plan's source ETag. Each block's MD5
goes with its Put Block From URL, so the service refuses a block whose bytes differ from the
bytes hashed. Block ids name the source version (`shared.copy.resume.block_id`).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.blob import BlobBlock

from shared.copy.md5_state import RunningMd5
from shared.copy.ranged_read import RANGE_BYTES, Span, read_in_order, spans_of
from shared.copy.resume import block_id, verification_for
from shared.core.config import MIB, Settings
from shared.core.models import FileEntry, FileResult
from shared.storage.clients import md5_hex_of

if TYPE_CHECKING:
    from shared.copy.file import FileCopier

MAX_BLOCKS = 50_000  # per block blob
BLOCKS_IN_FLIGHT_PER_FILE = 4


class FileFailed(Exception):
    """A per-file failure: the file's result carries this reason."""


class Mismatch(FileFailed):
    """An MD5 or size mismatch: tried once more before it is final (a read corrupted on the
    way must not fail a good file)."""


def block_size_for(file_size: int, block_size_setting: int) -> int:
    """The setting, grown (to whole MiB) when the file would need more than 50,000 blocks."""
    if file_size <= block_size_setting * MAX_BLOCKS:
        return block_size_setting
    return math.ceil(file_size / MAX_BLOCKS / MIB) * MIB


@dataclass(frozen=True)
class BlockLayout:
    """How one file is cut into blocks, and its blocks into segments (work units)."""

    size: int
    block_size: int
    blocks_per_segment: int

    @classmethod
    def of(cls, size: int, settings: Settings) -> BlockLayout:
        block_size = block_size_for(size, settings.block_size_bytes)
        return cls(size, block_size, max(1, settings.chunk_max_bytes // block_size))

    @property
    def block_count(self) -> int:
        return math.ceil(self.size / self.block_size)

    @property
    def segment_count(self) -> int:
        return max(1, math.ceil(self.block_count / self.blocks_per_segment))

    def segment_blocks(self, segment: int) -> range:
        first = segment * self.blocks_per_segment
        return range(first, min(first + self.blocks_per_segment, self.block_count))

    def segment_bytes(self, segment: int) -> int:
        blocks = self.segment_blocks(segment)
        if not blocks:
            return 0
        return min(self.size, blocks.stop * self.block_size) - blocks.start * self.block_size

    def block_span(self, index: int) -> Span:
        offset = index * self.block_size
        return offset, min(self.block_size, self.size - offset)


def stage_blocks(copier: FileCopier, entry: FileEntry, layout: BlockLayout, blocks: range,
                 whole_md5: RunningMd5) -> int:
    """Read the blocks' bytes once (in order), feed them to `whole_md5`, and stage every
    block with its own MD5. Returns the bytes read; raises FileFailed for a per-file failure
    (the source changed or was deleted, a block's MD5 refused) and storage errors otherwise."""
    source_path = copier.request.source_path(entry.path)
    source_blob = copier.source.get_blob_client(source_path)
    destination = copier.sink.get_blob_client(copier.request.sink_path(entry.path))
    # ranges never straddle a block: each block is a whole number of ranges
    range_bytes = min(RANGE_BYTES, layout.block_size)
    spans: list[Span] = []
    ends: dict[int, int] = {}  # the span index that ends each block -> block index
    for index in blocks:
        offset, length = layout.block_span(index)
        spans.extend(spans_of(offset, length, range_bytes))
        ends[len(spans) - 1] = index
    in_flight: deque[Future[None]] = deque()
    read = 0
    block_md5 = hashlib.md5()
    try:
        try:
            for position, piece in enumerate(read_in_order(source_blob, spans, etag=entry.etag)):
                if len(piece) != spans[position][1]:
                    raise Mismatch(f"read {read + len(piece)} bytes of the source where the "
                                   f"plan has more (planned {entry.size})")
                whole_md5.update(piece)
                block_md5.update(piece)
                read += len(piece)
                copier.progress.add(len(piece))
                del piece
                finished = ends.get(position)
                if finished is None:
                    continue
                offset, length = layout.block_span(finished)
                in_flight.append(copier.stage_pool.submit(
                    copier.stage_block, destination, entry, source_path, finished, offset, length,
                    block_md5.digest()))
                block_md5 = hashlib.md5()
                if len(in_flight) >= BLOCKS_IN_FLIGHT_PER_FILE:
                    in_flight.popleft().result()
        except HttpResponseError as error:
            raise copier.source_failure(error, entry) from None
        while in_flight:
            in_flight.popleft().result()
    finally:
        for pending in in_flight:
            pending.cancel()
    return read


def commit_blocks(copier: FileCopier, entry: FileEntry, layout: BlockLayout,
                  md5_hex: str) -> FileResult:
    """Check the whole-file MD5 against the plan's, then commit every block (with that MD5 and
    the source's headers) and read the destination back. Raises Mismatch or FileFailed."""
    if entry.content_md5 is not None and md5_hex != entry.content_md5:
        raise Mismatch(f"MD5 mismatch: the source's bytes hash to {md5_hex}, its Content-MD5 is "
                       f"{entry.content_md5}")
    destination_path = copier.request.sink_path(entry.path)
    destination = copier.sink.get_blob_client(destination_path)
    md5_digest = bytes.fromhex(md5_hex)
    try:
        # created, never replaced: a blob there is not this attempt's to overwrite
        committed = destination.commit_block_list(
            [BlobBlock(block_id(index, entry.etag, copier.run_id))
             for index in range(layout.block_count)],
            content_settings=copier.headers(entry, md5_digest),
            metadata=entry.metadata or None,
            match_condition=MatchConditions.IfMissing,
        )
    except ResourceExistsError:
        return copier.found_at_destination(entry, destination_path)
    copier.wrote(destination_path, str(committed["etag"]))
    properties = destination.get_blob_properties()
    if properties.size != entry.size or md5_hex_of(properties.content_settings) != md5_hex:
        properties = destination.get_blob_properties()  # one re-read before it is final
    if properties.size != entry.size:
        raise FileFailed(
            f"the destination holds {properties.size} bytes, the source {entry.size}")
    if md5_hex_of(properties.content_settings) != md5_hex:
        raise FileFailed("the destination's Content-MD5 is not the MD5 of the source's bytes")
    return FileResult(
        path=entry.path,
        destination_path=destination_path,
        size=entry.size,
        content_md5=md5_hex,
        content_type=properties.content_settings.content_type,
        last_modified=properties.last_modified,
        etag=properties.etag,
        verification=verification_for(entry, copier.settings),
    )
