"""Read a span of a blob as several ranged GETs in flight, handed back in order.

One GET stream is limited by one connection's throughput; a file's bytes arrive faster as a
few ranges read at once (measured in issue 9: 8 parallel 32 MiB ranges were 1.16x a single
stream). The reader hashes them in order, so the ranges come back in order.

Memory is bounded per process: a range holds up to `RANGE_BYTES`, and at most
`PROCESS_RANGES` ranges are alive in the process (`RANGES_PER_READ` per read), whatever the
number of activities: a range counts from before its GET until its reader has hashed it and
asks for the next. The reads at once share the budget (`RangeBudget`): a read that holds no
range waits for one, the others take no more while it waits, and none holds more than its even
part while others read; a read that holds a range never waits, so reads never wait on each
other in a circle. Each range is one GET (the clients' first GET is `FIRST_GET_BYTES`), its
body handed over as it came.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from azure.core import MatchConditions
from azure.storage.blob import BlobClient

from shared.copy.native_heap import give_back_free_memory
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


class RangeBudget:
    """The ranges alive in the process, shared between the reads at once. A read that holds no
    range may wait for one, in turn: a range given back goes to the first waiting read before
    anyone else may take it, and while one waits the reads that hold ranges take no more. A read
    holding ranges takes another only below its even part of the budget (at least one). So a
    file read beside others gets its ranges at once, whatever the others hold."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._taken = 0
        self._reads = 0
        self._waiting: deque[list[bool]] = deque()  # each waiter's flag: given a range
        self._changed = threading.Condition()

    def join(self) -> None:
        with self._changed:
            self._reads += 1

    def leave(self) -> None:
        with self._changed:
            self._reads -= 1

    def acquire(self, blocking: bool = True, held: int = 0) -> bool:
        """One range more for a read that holds `held`; waits in turn (if `blocking`) when the
        budget is used up or others wait."""
        with self._changed:
            if not self._waiting and self._taken < self.total and (
                    held == 0 or held < -(-self.total // max(1, self._reads))):
                self._taken += 1
                return True
            if not blocking:
                return False
            given = [False]
            self._waiting.append(given)
            try:
                while not given[0]:
                    self._changed.wait()
            except BaseException:
                if given[0]:
                    self._give_back()
                else:
                    self._waiting.remove(given)
                raise
            return True

    def release(self) -> None:
        with self._changed:
            if self._taken <= 0:
                raise ValueError("a range released more often than taken")
            self._give_back()

    def _give_back(self) -> None:
        """A range given back: to the first waiting read (it stays taken), else to the budget."""
        if self._waiting:
            self._waiting.popleft()[0] = True
            self._changed.notify_all()
        else:
            self._taken -= 1

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._waiting)


class _RangePool:
    """The process's range-reading threads and its budget of ranges in flight (built on
    first use, never at import)."""

    _lock = threading.Lock()
    _pool: ThreadPoolExecutor | None = None
    budget = RangeBudget(PROCESS_RANGES)

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
    budget.join()
    try:
        while True:
            while more and len(pending) < in_flight:
                # block for the budget only while holding no range: no circular wait
                if not budget.acquire(blocking=not pending, held=len(pending)):
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
            # the future holds the bytes too: dropped now, or they would stay alive (outside
            # the budget) while this read waits for its next range
            del future
            try:
                yield content
            finally:
                # the caller is done with this range (it asks for the next, or stops)
                del content
                budget.release()
                give_back_free_memory()
    finally:
        for future in pending:
            if not future.cancel():
                future.exception()  # wait: its bytes and its connection are released
            budget.release()
        budget.leave()
