"""How a file is cut into blocks, and its blocks into segments (work units).

A file is cut into blocks of `BlockLayout.block_size` (the setting, grown for a file that
would need more than 50,000 blocks, the block blob limit) and its blocks into segments of at
most `DDD_CHUNK_MAX_BYTES`: a work unit. A file of one segment is copied by one activity; a
larger one segment by segment (`shared.copy.segments`), one activity each. Ranges of a
parallel read never straddle a block. Copying the blocks is `shared.copy.file.FileCopier`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shared.copy.ranged_read import Span
from shared.core.config import MIB, Settings

MAX_BLOCKS = 50_000  # per block blob
BLOCKS_IN_FLIGHT_PER_FILE = 8


@dataclass(frozen=True)
class HashedBlock:
    """A block whose bytes were read and hashed, to be staged by its MD5 (Put Block From URL
    needs no byte from the app): what a segment leaves for the next one to stage."""

    index: int
    md5: bytes


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


