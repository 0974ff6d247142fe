"""Plain-SDK scripts the app is measured against, each run on a fresh Azurite like the app.

Every baseline is tuned as a careful engineer would write it: one client per account built
once and reused by every thread, a connection pool as big as its threads, proxy settings
read once (``trust_env`` off), sockets read in 256 KiB steps (as the app), the listing counted
in its time, and the same verification the app does for each file class:

- a file with a stored Content-MD5 up to DDD_SMALL_FILE_MAX_BYTES: one Put Block From URL
  carrying that MD5 (the service hashes the bytes it copies and refuses a mismatch), then
  Put Block List with it; no byte read by the script;
- any other file: its bytes read once and hashed, each 32 MiB block staged by Put Block From
  URL with its own MD5, Put Block List with the whole-file MD5 (compared with the stored one
  when there is one), then the destination's size and Content-MD5 read back.

``tuned``: 32 threads over the files, largest first; a file read as one stream.
``sequential``: the large file read as one stream (download, hash, stage 8 blocks ahead).
``parallel-ranged``: the large file read as 8 ranged GETs of 32 MiB in flight, hashed in
order, each range staged as a block with its MD5 as soon as it is hashed.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bench.accounting import split_traffic
from bench.common import (
    SINK_ACCOUNT,
    SINK_CONTAINER,
    SOURCE_ACCOUNT,
    SOURCE_CONTAINER,
    SOURCE_FOLDER,
)
from bench.results import RunResult
from bench.sampling import CpuMeter
from bench.seeding import SeededFile, storage_client
from bench.stack import Storage
from bench.traffic import traffic_delta

STAGED_AHEAD = 8  # blocks in flight per streamed file (the app's BLOCKS_IN_FLIGHT_PER_FILE)
RANGES_IN_FLIGHT = 8


@dataclass
class Script:
    """What a baseline works with: its clients, a source SAS, its pools and settings."""

    source: object  # ContainerClient
    sink: object  # ContainerClient
    source_sas: str
    sink_folder: str
    block_bytes: int
    small_file_max_bytes: int
    stage_pool: ThreadPoolExecutor

    def source_url(self, name: str) -> str:
        return f"{self.source.url}/{quote(name)}?{self.source_sas}"  # type: ignore[attr-defined]

    def destination(self, name: str):
        return self.sink.get_blob_client(  # type: ignore[attr-defined]
            f"{self.sink_folder}/{name[len(SOURCE_FOLDER) + 1:]}")

    def copy_checked_by_service(self, blob) -> str:
        from azure.storage.blob import BlobBlock, ContentSettings

        md5 = bytes(blob.content_settings.content_md5)
        destination = self.destination(blob.name)
        destination.stage_block_from_url("000000", self.source_url(blob.name), source_offset=0,
                                         source_length=blob.size, source_content_md5=md5)
        destination.commit_block_list([BlobBlock("000000")], content_settings=ContentSettings(
            content_type=blob.content_settings.content_type, content_md5=bytearray(md5)))
        return md5.hex()

    def copy_from_pieces(self, blob, pieces: Iterator[bytes]) -> str:
        """Hash the pieces in order, stage each block with its MD5, commit and check."""
        from azure.storage.blob import BlobBlock, ContentSettings

        destination = self.destination(blob.name)
        whole, block, block_bytes = hashlib.md5(), hashlib.md5(), 0
        blocks: list[BlobBlock] = []
        in_flight: deque[Future] = deque()

        def stage(length: int, md5: bytes) -> None:
            index = len(blocks)
            blocks.append(BlobBlock(f"{index:06d}"))
            in_flight.append(self.stage_pool.submit(
                destination.stage_block_from_url, f"{index:06d}", self.source_url(blob.name),
                source_offset=index * self.block_bytes, source_length=length,
                source_content_md5=md5))
            if len(in_flight) >= STAGED_AHEAD:
                in_flight.popleft().result()

        for piece in pieces:
            view = memoryview(piece)
            while view:
                taken = view[:self.block_bytes - block_bytes]
                whole.update(taken)
                block.update(taken)
                block_bytes += len(taken)
                view = view[len(taken):]
                if block_bytes == self.block_bytes:
                    stage(block_bytes, block.digest())
                    block, block_bytes = hashlib.md5(), 0
        if block_bytes:
            stage(block_bytes, block.digest())
        for future in in_flight:
            future.result()
        stored = blob.content_settings.content_md5
        if stored and bytes(stored) != whole.digest():
            raise RuntimeError(f"{blob.name}: MD5 mismatch")
        destination.commit_block_list(blocks, content_settings=ContentSettings(
            content_type=blob.content_settings.content_type,
            content_md5=bytearray(whole.digest())))
        properties = destination.get_blob_properties()
        if (properties.size != blob.size
                or bytes(properties.content_settings.content_md5 or b"") != whole.digest()):
            raise RuntimeError(f"{blob.name}: the destination does not verify")
        return whole.hexdigest()

    def stream(self, blob) -> Iterator[bytes]:
        return self.source.download_blob(  # type: ignore[attr-defined]
            blob.name, max_concurrency=1).chunks()

    def ranges(self, blob, pool: ThreadPoolExecutor) -> Iterator[bytes]:
        def read(offset: int) -> bytes:
            return self.source.download_blob(  # type: ignore[attr-defined]
                blob.name, offset=offset, length=min(self.block_bytes, blob.size - offset),
                max_concurrency=1).readall()

        pending: deque[Future[bytes]] = deque()
        offsets = iter(range(0, blob.size, self.block_bytes))
        for offset in offsets:
            pending.append(pool.submit(read, offset))
            if len(pending) >= RANGES_IN_FLIGHT:
                break
        while pending:
            piece = pending.popleft().result()
            following = next(offsets, None)
            if following is not None:
                pending.append(pool.submit(read, following))
            yield piece


def tuned(script: Script, listed: list, threads: int) -> dict[str, str]:
    def copy(blob) -> str:
        if blob.content_settings.content_md5 and blob.size <= script.small_file_max_bytes:
            return script.copy_checked_by_service(blob)
        return script.copy_from_pieces(blob, script.stream(blob))

    with ThreadPoolExecutor(threads) as pool:
        futures = {blob.name: pool.submit(copy, blob) for blob in listed}
        return {name: future.result() for name, future in futures.items()}


def sequential(script: Script, listed: list, threads: int) -> dict[str, str]:
    return {blob.name: script.copy_from_pieces(blob, script.stream(blob)) for blob in listed}


def parallel_ranged(script: Script, listed: list, threads: int) -> dict[str, str]:
    with ThreadPoolExecutor(RANGES_IN_FLIGHT) as readers:
        return {blob.name: script.copy_from_pieces(blob, script.ranges(blob, readers))
                for blob in listed}


BASELINES: dict[str, tuple[Callable[[Script, list, int], dict[str, str]], str]] = {
    "tuned": (tuned, "tuned baseline: 32 threads, service-checked small files, one stream "
                     "per other file"),
    "sequential": (sequential, "sequential baseline: one stream, hash, stage 8 blocks ahead"),
    "parallel-ranged": (parallel_ranged, "parallel-ranged baseline: 8 x 32 MiB ranged reads "
                                         "in flight, hashed in order"),
}


def run_baseline(name: str, storage: Storage, files: list[SeededFile], sink_folder: str,
                 args: argparse.Namespace) -> RunResult:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    function, label = BASELINES[name]
    threads = args.baseline_threads
    connections = threads * (1 + STAGED_AHEAD) + RANGES_IN_FLIGHT + 8
    azurite = storage.azurite
    # a ranged read of one block is one GET; a stream comes in 4 MiB pieces (as the app's)
    source = storage_client(azurite, SOURCE_ACCOUNT, storage.endpoint, connections,
                            single_get_bytes=args.block_bytes)
    sink = storage_client(azurite, SINK_ACCOUNT, storage.endpoint, connections)
    sas = generate_container_sas(SOURCE_ACCOUNT, SOURCE_CONTAINER,
                                 account_key=azurite.account_key(SOURCE_ACCOUNT),  # type: ignore
                                 permission=ContainerSasPermissions(read=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=3))
    meter = CpuMeter(storage.pids()).start()
    before = storage.proxy.stats()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads * STAGED_AHEAD) as stage_pool:
        script = Script(source.get_container_client(SOURCE_CONTAINER),
                        sink.get_container_client(SINK_CONTAINER), sas, sink_folder,
                        args.block_bytes, args.small_file_max_bytes, stage_pool)
        listed = sorted(script.source.list_blobs(  # type: ignore[attr-defined]
            name_starts_with=SOURCE_FOLDER + "/"), key=lambda blob: -blob.size)
        md5s = function(script, listed, threads)
    seconds = time.perf_counter() - started
    traffic = traffic_delta(storage.proxy.stats(), before)
    cpu = meter.stop()
    result = RunResult(name, label, seconds, files_done=len(md5s),
                       bytes_done=sum(item.size for item in files), cpu=cpu, load=meter.load,
                       traffic=split_traffic(traffic, files, sink_folder,
                                             args.small_file_max_bytes))
    for item in files:
        got = md5s.get(f"{SOURCE_FOLDER}/{item.relative}")
        if got != item.md5:
            result.problems.append(f"{name}: {item.relative} hashed {got}, seeded {item.md5}")
    if len(md5s) != len(files):
        result.problems.append(f"{name}: {len(md5s)} files copied, {len(files)} seeded")
    return result

