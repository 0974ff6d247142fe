"""Read a span of a blob as several ranged GETs in flight, handed back in order.

One GET stream is limited by one connection's throughput; a file's bytes arrive faster as a
few ranges read at once (measured in issue 9: 8 parallel 32 MiB ranges were 1.16x a single
stream). The reader hashes them in order, so the ranges come back in order.

Memory is bounded per process: a range holds up to `RANGE_BYTES`, and at most
`PROCESS_RANGES` ranges are alive in the process (`RANGES_PER_READ` per read), whatever the
number of activities: a range counts from before its GET until its reader has hashed it and
asks for the next. A read that finds the process budget used waits only when it holds no range
itself, so reads never wait on each other in a circle. Each range is one GET (the clients'
first GET is `FIRST_GET_BYTES`), its body handed over as it came.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from azure.core import MatchConditions
from azure.storage.blob import BlobClient

from shared.storage.checksum import FILE_BYTES_READ
from shared.storage.clients import FIRST_GET_BYTES

# One GET per range (the clients' first GET is FIRST_GET_BYTES). A range's body is held about
# twice while it arrives (the SDK joins the socket's pieces): measured on a 1 GiB blob, 16 MiB
# ranges peaked near 300 MiB, 8 MiB ones under 170 MiB; 4 MiB ones cost Azurite a quarter more
# CPU for the 4 GiB benchmark. A reduced NextSeq-like run (40 fastq.gz, 1,000 small files)
# peaked at 627 MiB with 16 ranges in the process and 393 MiB with 8, in the same time (28.1
# and 28.4 s). With ranges in one piece and two malloc arenas, the full mixed benchmark (200
# fastq.gz, 5,000 small files) peaked at 311 MiB with 8 and 243 MiB with 4 (177.9 and 169.5 s);
# one file's read keeps its 4.
RANGE_BYTES = FIRST_GET_BYTES
RANGES_PER_READ = 4
PROCESS_RANGES = 4

Span = tuple[int, int]  # (offset, length)


class _RangePool:
    """The process's range-reading threads and its budget of ranges in flight (built on
    first use, never at import)."""

    _lock = threading.Lock()
    _pool: ThreadPoolExecutor | None = None
    budget = threading.BoundedSemaphore(PROCESS_RANGES)

    @classmethod
    def pool(cls) -> ThreadPoolExecutor:
        with cls._lock:
            if cls._pool is None:
                cls._pool = ThreadPoolExecutor(PROCESS_RANGES, thread_name_prefix="read-range")
            return cls._pool


def spans_of(offset: int, length: int, range_bytes: int = RANGE_BYTES) -> list[Span]:
    """`length` bytes from `offset`, cut into ranges of at most `range_bytes`."""
    return [(start, min(range_bytes, offset + length - start))
            for start in range(offset, offset + length, range_bytes)]


def _read_span(blob: BlobClient, span: Span, etag: str | None) -> bytes:
    offset, length = span
    # the SDK hands an `etag` of None on to the transport: give the condition only with one
    if etag:
        downloader = blob.download_blob(offset=offset, length=length, max_concurrency=1,
                                        etag=etag, match_condition=MatchConditions.IfNotModified)
    else:
        downloader = blob.download_blob(offset=offset, length=length, max_concurrency=1)
    # the first GET's body itself, in one piece (the clients' chunks are FIRST_GET_BYTES, and
    # joining one bytes object returns it): `readall` would copy it through a BytesIO
    content = b"".join(downloader.chunks())
    FILE_BYTES_READ.add(len(content))
    return content


def read_in_order(blob: BlobClient, spans: Sequence[Span], *, etag: str | None = None,
                  in_flight: int = RANGES_PER_READ) -> Iterator[bytes]:
    """The bytes of each span, in order, with up to `in_flight` spans read at once. With
    `etag`, every range is read under that condition (ResourceModifiedError if it changed).
    A span is yielded as read: a short read means the blob is shorter than the span."""
    pool = _RangePool.pool()
    budget = _RangePool.budget
    pending: deque[Future[bytes]] = deque()
    following = iter(spans)
    more = True
    try:
        while True:
            while more and len(pending) < in_flight:
                # block for the budget only while holding no range: no circular wait
                if not budget.acquire(blocking=not pending):
                    break
                span = next(following, None)
                if span is None:
                    budget.release()
                    more = False
                    break
                pending.append(pool.submit(_read_span, blob, span, etag))
            if not pending:
                return
            future = pending.popleft()
            try:
                content = future.result()
            except BaseException:
                budget.release()
                raise
            try:
                yield content
            finally:
                # the caller is done with this range (it asks for the next, or stops)
                del content
                budget.release()
    finally:
        for future in pending:
            if not future.cancel():
                future.exception()  # wait: its bytes and its connection are released
            budget.release()
