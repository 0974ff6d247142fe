"""The pieces of segment copies: the resumable MD5, block layouts, ranged reads in order, and
the plan's pages and units for files larger than a unit."""

from __future__ import annotations

import hashlib
import os
import sys
import threading

import pytest
from azure.core.exceptions import ResourceModifiedError

from shared.copy.blocks import MAX_BLOCKS, BlockLayout
from shared.copy.md5_state import ResumableMd5
from shared.copy.ranged_read import PROCESS_RANGES, _RangePool, read_in_order, spans_of
from shared.core.config import GIB, MIB, load_settings
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore, plan_page_name


def test_an_md5_saved_and_restored_equals_hashlib_over_the_same_bytes():
    content = os.urandom(3 * MIB + 17)
    first = ResumableMd5()
    first.update(content[:MIB + 5])
    second = ResumableMd5.restored(first.saved())
    second.update(content[MIB + 5:2 * MIB])
    third = ResumableMd5.restored(second.saved())
    third.update(content[2 * MIB:])
    assert third.hexdigest() == hashlib.md5(content).hexdigest()
    assert len(first.saved()) <= 140  # a 92-byte MD5_CTX, as base64


# saved by the `rehashes` version (0.3.0) after b"ddd-transfer segment " * 10: 3 whole blocks
# and 18 buffered bytes
REHASHES_SAVED = ("TYW6kiSFR2vgLj/OcumzoAMAAAAAAAAAEi10cmFuc2ZlciBzZWdtZW50IAAA"
                  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==")


def test_a_state_saved_by_the_earlier_version_resumes_to_the_same_md5():
    resumed = ResumableMd5.restored(REHASHES_SAVED)
    resumed.update(b"the rest")
    whole = b"ddd-transfer segment " * 10 + b"the rest"
    assert resumed.hexdigest() == hashlib.md5(whole).hexdigest()


@pytest.mark.parametrize("saved", ["md5-ctx:" + "A" * 8, "AAAA"])
def test_a_saved_state_of_the_wrong_size_is_refused(saved):
    with pytest.raises(ValueError, match="bytes"):
        ResumableMd5.restored(saved)


def test_hashing_lets_other_threads_run_python():
    """The ranges' reader threads need the GIL while the whole-file MD5 runs. With a switch
    interval longer than the test, this thread gets the GIL back from the hashing thread only
    if the hashing lets go of it: it then finds the hashing not done (with `rehashes`, or
    libcrypto through ctypes.PyDLL, it found it done)."""
    content = os.urandom(16 * MIB)
    started, done = threading.Event(), threading.Event()

    def hash_it() -> None:
        md5 = ResumableMd5()
        started.set()
        md5.update(content)
        done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(60)
    try:
        hasher = threading.Thread(target=hash_it)
        hasher.start()
        started.wait()
        done_before_this_thread_ran = done.is_set()
        hasher.join()
    finally:
        sys.setswitchinterval(interval)
    assert not done_before_this_thread_ran


def test_segments_cover_every_block_once_in_whole_blocks(core_environ):
    settings = load_settings({**core_environ, "DDD_BLOCK_SIZE_BYTES": str(MIB),
                              "DDD_CHUNK_MAX_BYTES": str(5 * MIB + 1)})
    layout = BlockLayout.of(23 * MIB + 3, settings)
    assert (layout.block_count, layout.blocks_per_segment, layout.segment_count) == (24, 5, 5)
    blocks = [index for segment in range(layout.segment_count)
              for index in layout.segment_blocks(segment)]
    assert blocks == list(range(24))
    assert sum(layout.segment_bytes(s) for s in range(5)) == 23 * MIB + 3
    # the largest block blob: blocks grow so that 50,000 of them hold the file
    huge = BlockLayout.of(4 * 1024 * GIB, load_settings(core_environ))
    assert huge.block_count <= MAX_BLOCKS
    assert huge.segment_count * huge.blocks_per_segment >= huge.block_count


def test_ranged_reads_come_back_in_order_under_the_etag(azurite, delivery):
    content = os.urandom(5 * MIB + 123)
    delivery.seed("big.bin", content, with_md5=False)
    blob = delivery.source.get_blob_client(delivery.request.source_path("big.bin"))
    etag = blob.get_blob_properties().etag
    pieces = list(read_in_order(blob, spans_of(0, len(content), 256 * 1024), etag=etag))
    assert b"".join(pieces) == content
    assert len(pieces) == 21
    # a reader that stops early gives its budget back: the whole budget can be taken again
    reader = read_in_order(blob, spans_of(0, len(content), 256 * 1024), etag=etag)
    next(reader)
    reader.close()
    taken = [_RangePool.budget.acquire(blocking=False) for _ in range(PROCESS_RANGES)]
    for _ in range(sum(taken)):
        _RangePool.budget.release()
    assert all(taken)
    blob.upload_blob(b"changed", overwrite=True)
    with pytest.raises(ResourceModifiedError):
        list(read_in_order(blob, spans_of(0, len(content), MIB), etag=etag))


def test_a_range_counts_against_the_budget_until_its_reader_asks_for_the_next(
        azurite, delivery):
    content = os.urandom(3 * MIB)
    delivery.seed("held.bin", content, with_md5=False)
    blob = delivery.source.get_blob_client(delivery.request.source_path("held.bin"))

    def free_ranges() -> int:
        taken = 0
        while _RangePool.budget.acquire(blocking=False):
            taken += 1
        for _ in range(taken):
            _RangePool.budget.release()
        return taken

    reader = read_in_order(blob, spans_of(0, len(content), MIB), in_flight=2)
    first = next(reader)  # held by this caller, with one more range read ahead
    assert free_ranges() == PROCESS_RANGES - 2
    assert b"".join([first, *reader]) == content
    assert free_ranges() == PROCESS_RANGES


def test_many_readers_at_once_share_the_process_budget_without_waiting_on_each_other(
        azurite, delivery):
    content = os.urandom(2 * MIB)
    delivery.seed("shared.bin", content, with_md5=False)
    blob = delivery.source.get_blob_client(delivery.request.source_path("shared.bin"))
    results: list[bytes] = []
    lock = threading.Lock()

    def read_all() -> None:
        joined = b"".join(read_in_order(blob, spans_of(0, len(content), 64 * 1024)))
        with lock:
            results.append(joined)

    threads = [threading.Thread(target=read_all) for _ in range(3 * PROCESS_RANGES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)  # no reader waits forever
    assert results == [content] * len(threads)


def test_a_file_larger_than_a_unit_is_a_page_of_its_own(core_environ, delivery):
    settings = load_settings({**core_environ, "DDD_CHUNK_MAX_BYTES": str(4 * MIB)})
    delivery.seed("a.txt", b"a")
    delivery.seed("b/big.bin", os.urandom(9 * MIB), with_md5=False)  # 3 segments
    delivery.seed("c.txt", b"c")
    plan = build_plan(delivery.request, "segments-plan", settings)
    assert plan.refusal is None, plan.refusal
    assert (plan.chunk_count, plan.unit_count) == (3, 1 + 3 + 1)
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        pages = [[line["path"] for line in work.read_lines(plan_page_name("segments-plan", i))]
                 for i in range(plan.chunk_count)]
    assert pages == [["a.txt"], ["b/big.bin"], ["c.txt"]]
