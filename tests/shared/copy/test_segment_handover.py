"""A segment leaves its last blocks, hashed, to the next segment, which stages them while it
reads its own (against Azurite): what the saved state holds, when the blocks are staged, and
that running a segment again gives the same state."""

from __future__ import annotations

import base64
import hashlib
import os

from shared.copy.chunk import copy_chunk
from shared.copy.segments import LEFT_FOR_NEXT, segment_state_name
from shared.core.config import MIB, load_settings
from shared.core.models import ChunkRef
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore
from tests.shared.conftest import BLOCK_SIZE
from tests.shared.delivery_setup import Delivery

CONTENT = os.urandom(9 * MIB + 5)  # blocks of 1 MiB, segments of 4: 3 segments, 10 blocks


def uncommitted(delivery: Delivery, path: str) -> int:
    blob = delivery.sink.get_blob_client(delivery.request.sink_path(path))
    return len(blob.get_block_list("uncommitted")[1])


def test_a_segment_leaves_its_last_blocks_to_the_next_and_the_file_verifies(
        delivery: Delivery, core_environ: dict[str, str]) -> None:
    settings = load_settings({**core_environ, "DDD_CHUNK_MAX_BYTES": str(4 * MIB)})
    delivery.seed("big/no_md5.bin", CONTENT, with_md5=False)
    plan = build_plan(delivery.request, delivery.run_id, settings)
    (first,) = plan.chunk_refs()
    assert plan.unit_count == 3 and LEFT_FOR_NEXT == 2
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        result = copy_chunk(first, delivery.request, settings)
        assert result.next_segment == 1
        state = work.read_json(segment_state_name(first, 0))
        # blocks 2 and 3 of segment 0 (blocks 0-3) hashed, not staged
        assert [block["index"] for block in state["unstaged"]] == [2, 3]
        assert [base64.b64decode(block["md5"]) for block in state["unstaged"]] == [
            hashlib.md5(CONTENT[index * BLOCK_SIZE:(index + 1) * BLOCK_SIZE]).digest()
            for index in (2, 3)]
        assert uncommitted(delivery, "big/no_md5.bin") == 2
        # the same segment again (a retry) saves the same state and stages the same blocks
        again = copy_chunk(first, delivery.request, settings)
        assert again == result and work.read_json(segment_state_name(first, 0)) == state
        second = copy_chunk(ChunkRef(**{**first.model_dump(), "segment": 1}),
                            delivery.request, settings)
        # segment 1 staged what segment 0 left and its own blocks 4 and 5, left 6 and 7
        assert uncommitted(delivery, "big/no_md5.bin") == 6
        assert [block["index"] for block in
                work.read_json(segment_state_name(first, 1))["unstaged"]] == [6, 7]
        last = copy_chunk(ChunkRef(**{**first.model_dump(), "segment": 2}),
                          delivery.request, settings)
    assert second.next_segment == 2 and last.next_segment is None
    assert last.verified_files == 1
    assert delivery.sink_bytes("big/no_md5.bin") == CONTENT
