"""What keeps a worker's memory near what it reads: a range arrives in one piece, and the C
heap has two arenas however many threads read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.copy.ranged_read import RANGE_BYTES
from shared.storage.clients import StorageClients

ROOT = Path(__file__).resolve().parents[3]

ARENAS_AFTER_EIGHT_THREADS = """
import ctypes, sys, threading
from shared.copy.native_heap import limit_malloc_arenas
if sys.argv[1] == "limited":
    assert limit_malloc_arenas()
together = threading.Barrier(8)
def allocate():
    together.wait()
    held = [bytearray(100_000) for _ in range(20)]  # below the mmap threshold: from an arena
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" paragraph per arena, on stderr
"""


def test_a_range_is_the_first_gets_body_in_one_piece(settings, delivery):
    content = os.urandom(RANGE_BYTES + 4096)
    delivery.seed("range.bin", content, with_md5=False)
    with StorageClients(settings) as clients:
        source = clients.source(delivery.request.source_account,
                                   delivery.source.container_name)
        blob = source.get_blob_client(delivery.request.source_path("range.bin"))
        pieces = list(blob.download_blob(offset=4096, length=RANGE_BYTES,
                                         max_concurrency=1).chunks())
    assert [len(piece) for piece in pieces] == [RANGE_BYTES]
    assert pieces[0] == content[4096:]


def arenas_used(mode: str) -> int:
    finished = subprocess.run([sys.executable, "-c", ARENAS_AFTER_EIGHT_THREADS, mode],
                              cwd=ROOT, capture_output=True, text=True, check=True)
    return finished.stderr.count("Arena ")


def test_eight_reading_threads_share_two_malloc_arenas():
    """mallopt(M_ARENA_MAX, 2), as MALLOC_ARENA_MAX=2 (glibc malloc/arena.c: a thread takes a
    new arena while fewer than the limit exist, up to 8 per core by default)."""
    assert arenas_used("default") > 2
    assert arenas_used("limited") <= 2
