"""MD5 over streamed blob bytes, MD5 encodings, and a count of the file bytes the app reads.

Blobs are read in pieces (the client's `max_chunk_get_size`, 4 MiB in `StorageClients`), so
hashing a file of any size holds one piece at a time. `FILE_BYTES_READ` counts every byte of a
delivered file that the app reads (source or destination), so a benchmark can report bytes read
per byte delivered; the app's own bookkeeping (plan and result pages, and reading back the
manifest it wrote: `counted=False`) is not counted.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from azure.core import MatchConditions
from azure.storage.blob import BlobClient, BlobProperties


class ByteCounter:
    """A thread-safe running total."""

    def __init__(self) -> None:
        self._total = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self._total += count

    @property
    def total(self) -> int:
        with self._lock:
            return self._total

    def reset(self) -> int:
        """Set to zero; returns the total before."""
        with self._lock:
            total, self._total = self._total, 0
            return total


FILE_BYTES_READ = ByteCounter()


def md5_hex_to_base64(md5_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")


def md5_base64_to_hex(md5_base64: str) -> str:
    return base64.b64decode(md5_base64).hex()


# At most this many blob reads stream at once in the process, whatever the number of activities
# and threads: each holds about two read pieces (StorageClients reads 4 MiB pieces), so reads
# hold at most ~128 MiB together.
PROCESS_READ_SLOTS = 16
_read_slots = threading.BoundedSemaphore(PROCESS_READ_SLOTS)


@contextmanager
def reading_blob(
    blob: BlobClient,
    *,
    offset: int | None = None,
    length: int | None = None,
    etag: str | None = None,
    counted: bool = True,
) -> Iterator[tuple[BlobProperties, Iterator[bytes]]]:
    """The blob's properties and its bytes (a range, or all) as a stream of pieces, while a
    process-wide read slot is held (waits for one).

    With `etag`, the read fails with ResourceModifiedError unless the blob still has that ETag
    (every piece is read under that condition). Each piece is counted in FILE_BYTES_READ unless
    `counted` is False.
    """
    with _read_slots:
        downloader = blob.download_blob(
            offset=offset,
            length=length,
            max_concurrency=1,
            etag=etag,
            match_condition=MatchConditions.IfNotModified if etag else None,
        )
        properties = downloader.properties
        # Keep only the chunk iterator: the downloader would hold the first piece to the end.
        chunk_iterator = downloader.chunks()
        del downloader
        yield properties, _counted(chunk_iterator, counted)


def _counted(chunk_iterator: Iterator[bytes], counted: bool) -> Iterator[bytes]:
    while True:
        piece = next(chunk_iterator, None)
        if piece is None:
            return
        if counted:
            FILE_BYTES_READ.add(len(piece))
        yield piece
        # Let the piece go before the next one is fetched (one piece held, not two).
        del piece


def md5_of_blob(
    blob: BlobClient,
    *,
    offset: int | None = None,
    length: int | None = None,
    etag: str | None = None,
    counted: bool = True,
) -> tuple[str, int, BlobProperties]:
    """(MD5 hex, bytes read, properties) of a blob or a range of it, read once as a stream."""
    md5 = hashlib.md5()
    size = 0
    with reading_blob(blob, offset=offset, length=length, etag=etag, counted=counted) as (
        properties,
        pieces,
    ):
        for piece in pieces:
            md5.update(piece)
            size += len(piece)
            del piece
    return md5.hexdigest(), size, properties


EMPTY_MD5_HEX = hashlib.md5(b"").hexdigest()
