"""Copy a file larger than a work unit as a sequence of segments, one activity each.

A file whose blocks span more than `DDD_CHUNK_MAX_BYTES` is alone on its plan page and is
copied segment after segment (`BlockLayout`): each segment activity reads its byte range once
(ranged reads, in order), stages its blocks with their MD5s, and saves the whole-file MD5's
running state (`shared.copy.md5_state`, a 92-byte OpenSSL MD5_CTX) in the work container for the
next segment:

    results/<run>/chunk-NNNNNN.segment-SSSSSS.json  {"source_etag", "md5_state", "hashed_bytes"}

A segment does not wait for its last blocks to stage: it hashes them and leaves them to the
next segment (`LEFT_FOR_NEXT`, saved with the state as `unstaged`: their indexes and MD5s),
which stages them while it reads its own, so the service copies while the next segment's
reads start. The last segment finishes the MD5, checks it against the plan's, stages what was
left to it and its own blocks, commits every block with the MD5 (Put Block List) and writes the
chunk's results page. A crash or a failed attempt loses at most the segment it was in: the
segments before it are staged or left, hashed, in its saved state. Running a segment again
stages the same blocks (same ids) and saves the same state.

A file that fails in a segment (its source changed, a block refused, MD5 mismatch at the end)
gets its results page at once and the result says there is no next segment.
"""

from __future__ import annotations

import base64

from azure.core.exceptions import ResourceNotFoundError

from shared.copy.blocks import BlockLayout, HashedBlock
from shared.copy.file import FileCopier
from shared.copy.md5_state import ResumableMd5
from shared.copy.resume import copied_in_one_block
from shared.core.config import Settings
from shared.core.models import ChunkRef, ChunkResult, FileEntry, FileFailure, FileResult
from shared.storage.work import WorkStore, result_page_name, result_pages_prefix

# the last blocks a segment hashes and leaves to the next segment to stage
LEFT_FOR_NEXT = 2


class SegmentOrderError(RuntimeError):
    """A segment ran before the one it follows had saved its state (never in a delivery)."""


def segment_count(entry: FileEntry, settings: Settings) -> int:
    """How many work units copy this file: 1, or its segments when it is copied in blocks and
    its blocks span more than one unit."""
    if copied_in_one_block(entry, settings):
        return 1
    return BlockLayout.of(entry.size, settings).segment_count


def segment_state_name(chunk: ChunkRef, segment: int) -> str:
    return f"{result_pages_prefix(chunk.run_id)}/chunk-{chunk.index:06d}.segment-{segment:06d}.json"


def copy_segment(copier: FileCopier, work: WorkStore, chunk: ChunkRef,
                 entry: FileEntry) -> ChunkResult:
    """Copy segment `chunk.segment` of the page's one file; see the module doc."""
    layout = BlockLayout.of(entry.size, copier.settings)
    last = layout.segment_count - 1
    if chunk.segment > last:
        raise SegmentOrderError(f"{entry.path} has {layout.segment_count} segments, "
                                f"not {chunk.segment + 1}")
    before, unstaged = _saved_state(work, chunk, entry) if chunk.segment else (None, [])
    blocks = layout.segment_blocks(chunk.segment)
    leave = 0 if chunk.segment == last else min(LEFT_FOR_NEXT, len(blocks))

    def copy_this_segment() -> tuple[str, list[HashedBlock]] | FileResult:
        md5 = ResumableMd5.restored(before) if before else ResumableMd5()
        left = copier.stage_blocks(entry, layout, blocks, md5, staged_first=unstaged,
                                   left_to_stage=leave)
        if chunk.segment < last:
            return md5.saved(), left
        return copier.commit_blocks(entry, layout, md5.hexdigest())

    outcome = copier.attempts(entry, copy_this_segment)
    moved = layout.segment_bytes(chunk.segment)
    if isinstance(outcome, tuple):
        state, left = outcome
        work.write_json(segment_state_name(chunk, chunk.segment), {
            "source_etag": entry.etag, "md5_state": state,
            "hashed_bytes": min(entry.size, blocks.stop * layout.block_size),
            "unstaged": [{"index": block.index, "md5": base64.b64encode(block.md5).decode()}
                         for block in left]})
        return ChunkResult(index=chunk.index, files=0, bytes=moved, verified_files=0,
                           verified_bytes=0, failed_files=0, segment=chunk.segment,
                           next_segment=chunk.segment + 1)
    work.write_lines(result_page_name(chunk.run_id, chunk.index), [outcome])
    return _final_result(chunk, outcome, moved if outcome.verified else 0)


def _saved_state(work: WorkStore, chunk: ChunkRef,
                 entry: FileEntry) -> tuple[str, list[HashedBlock]]:
    """The whole-file MD5's state the segment before saved, and the blocks it left to stage
    (none in a state saved before segments left any)."""
    name = segment_state_name(chunk, chunk.segment - 1)
    try:
        saved = work.read_json(name)
    except ResourceNotFoundError:
        raise SegmentOrderError(f"segment {chunk.segment} of {entry.path}: the state of the "
                                "segment before is missing") from None
    if saved.get("source_etag") != entry.etag:
        raise SegmentOrderError(f"segment {chunk.segment} of {entry.path}: the saved state is "
                                "of another version of the source")
    unstaged = [HashedBlock(int(block["index"]), base64.b64decode(block["md5"]))
                for block in saved.get("unstaged") or []]
    return str(saved["md5_state"]), unstaged


def _final_result(chunk: ChunkRef, result: FileResult, moved: int) -> ChunkResult:
    return ChunkResult(
        index=chunk.index, files=1, bytes=moved,
        verified_files=int(result.verified), verified_bytes=result.size if result.verified else 0,
        failed_files=int(not result.verified),
        failures=[] if result.verified else [
            FileFailure(path=result.path, reason=result.error or "not verified")],
        segment=chunk.segment, next_segment=None)
