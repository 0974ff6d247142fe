"""Delivery benchmark: the app through devhost against plain-SDK baselines, in the same run.

One run (``python bench/delivery.py``; flags: ``--help``; about 2.5 minutes with the defaults on
2 cores):

1. starts Azurite with the app's account (``devstoreaccount1``), a source (``sequencingcore``)
   and a sink (``labsmith``), and seeds one folder: many small files (Content-MD5 set) and a few
   large ones uploaded in blocks, some with a Content-MD5 (set at Put Block List), some without;
2. **delivery**: starts devhost with ``function_app.py`` and a website stand-in, POSTs the
   website's payload, polls ``GET /api/deliveries/{id}`` every 0.2 s until it ends, and times
   it (POST to Completed: planning, copying, manifest and the website report included);
3. **baselines**, same files, each into a fresh sink folder: a plain script with the Azure SDK
   and one pool of 16 threads over the files, listing included in its time, every file read
   once to hash it:
   (b) like-for-like, the app's primitives: sync Copy Blob From URL + destination hashed for
       small files with Content-MD5; for the others the source hashed once, block by block,
       each Put Block From URL sent with its block's MD5, then Put Block List;
   (a) async Copy Blob (``start_copy_from_url``) + destination hashed. On Azurite this copy
       moves no byte (metadata only), so (a) is a floor, not a peer;
   (c) as (b) but Put Block From URL with no source MD5 and the destination hashed after: the
       other natural script. Azurite then computes a CRC64 of every staged block in
       JavaScript (about 4x the CPU per staged byte), which Azure would not charge;
   Runs are repeated ``--rounds`` times in rotating order; the best of each kind is compared.
4. **storage traffic** of each run, counted by a byte-counting HTTP/1.1 proxy (a child process)
   that every storage client of the runs goes through (the app's endpoint template points at
   it). ``/proc/<pid>/io`` cannot do this: ``rchar``/``wchar`` count read()/write() only, and
   Python sockets use recv()/send(), which the kernel does not count there (measured here: 0
   bytes for 50 MiB through a socket). The proxy follows the request and response framing
   (Content-Length, chunked), so it tells blob content (GET Blob bodies, per blob; Put Blob and
   Put Block bodies) from HTTP heads, listings and the app's own plan/result pages. Azurite's
   own requests (its copy-source access check, ``User-Agent: axios``) are counted apart. The
   benchmark also checks that devhost never holds a socket to Azurite's own port (a bypass);
5. **peak memory** of the devhost process: ``VmHWM`` (the kernel's RSS high-water mark, over
   the process's life) in ``/proc/<pid>/status``, plus a 50 ms RSS sampler; the pid is checked
   to be the Python process running ``-m devhost`` (Popen without a shell; no children);
6. **verification**: every delivered blob is read back directly from Azurite and its MD5
   compared with the MD5 of the bytes seeded, and its Content-MD5 property too; the baselines'
   MD5s are compared as well. A run that does not verify makes the benchmark fail (exit 1).

It prints a table of figures and a Markdown snippet for the README. Goals (issue 3, item 9):
delivery >= 0.9x the baseline's speed, <= 1.0 byte read per byte delivered (also for files with
no stored MD5), 0 file bytes written through the app, peak host memory <= 256 MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

KIB, MIB = 1024, 1024 * 1024
SOURCE_ACCOUNT, SINK_ACCOUNT, WORK_ACCOUNT = "sequencingcore", "labsmith", "devstoreaccount1"
SOURCE_CONTAINER, SINK_CONTAINER = "deliveries", "incoming"
MANIFEST_FOLDER = "_ddd_transfer"  # the app writes its manifest and checksum file here
WEBSITE_TOKEN = "bench-website-token"  # the stand-in's own; not a real credential
READ_PIECE_BYTES = 4 * MIB  # the app's read piece (shared.storage.READ_PIECE_BYTES)
SEED_BLOCK_BYTES = 8 * MIB
PROXY_BUFFER = 256 * KIB
HEAD_LIMIT = 64 * KIB
# operations whose request body is blob content
DATA_OPS = {"put-blob", "put-block", "put-appendblock", "put-page"}
GOAL_SPEED_RATIO = 0.9
GOAL_READ_RATIO = 1.0
GOAL_PEAK_MIB = 256


def say(text: str = "") -> None:
    print(text, flush=True)


# =============================================================================================
# The counting proxy (runs in a child process: ``delivery.py --serve-proxy TARGET_PORT``)
# =============================================================================================
class _Counters:
    """Per-operation byte counts of one proxy process; every update under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # key -> [requests, request head bytes, request body bytes, response head, response body]
        self.ops: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.reads: dict[str, int] = defaultdict(int)  # GET Blob body bytes per blob path
        self.raw = [0, 0]  # bytes client->server, server->client
        self.unparsed = [0, 0]
        self.connections = 0
        self.errors = 0

    def snapshot(self) -> dict:
        with self.lock:
            return {"ops": {k: list(v) for k, v in self.ops.items()}, "reads": dict(self.reads),
                    "raw": list(self.raw), "unparsed": list(self.unparsed),
                    "connections": self.connections, "errors": self.errors}


def classify_request(head: bytes) -> tuple[str, str, str | None, int | None, bool]:
    """(method, counter key, blob path or None, content length, chunked) of a request head."""
    lines = head.decode("latin-1").split("\r\n")
    method, target = (lines[0].split(" ") + ["", ""])[:2]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    parts = urlsplit(target)
    segments = [unquote(s) for s in parts.path.split("/")[1:]]
    query = parse_qs(parts.query)
    comp = (query.get("comp") or [None])[0]
    restype = (query.get("restype") or [None])[0]
    account = segments[0] if segments and segments[0] else "-"
    blob = "/".join(segments[2:]) if len(segments) > 2 else ""
    if "x-ms-copy-source" in headers:
        if comp == "block":
            op = "put-block-from-url"
        elif headers.get("x-ms-requires-sync", "").lower() == "true":
            op = "copy-blob-from-url(sync)"
        else:
            op = "copy-blob(async)"
    elif method == "GET":
        op = "list" if comp == "list" else ("get-blob" if blob and comp is None else
                                            f"get-{comp or restype or 'other'}")
    elif method == "HEAD":
        op = "get-properties"
    elif method == "PUT":
        op = {"block": "put-block", "blocklist": "put-block-list",
              "properties": "set-properties", "metadata": "set-metadata"}.get(
            comp or "", "create-container" if restype == "container" else
            ("put-blob" if blob and comp is None else f"put-{comp or 'other'}"))
    else:
        op = method.lower()
    client = "azurite" if headers.get("user-agent", "").startswith("axios") else "client"
    area = MANIFEST_FOLDER if f"/{MANIFEST_FOLDER}/" in f"/{blob}" else ""
    key = f"{client}|{account}|{op}|{area}"
    path = f"/{'/'.join(segments)}" if op == "get-blob" else None
    length = headers.get("content-length")
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    return method, key, path, int(length) if length and length.isdigit() else None, chunked


class _Framing:
    """Incremental HTTP/1.1 framing of one direction of one proxied connection."""

    HEAD, BODY, CHUNK_LINE, CHUNK_DATA, CHUNK_END, TRAILER, TO_CLOSE, FAILED = range(8)

    def __init__(self, counters: _Counters, pending: deque, is_request: bool) -> None:
        self.c = counters
        self.pending = pending  # (method, key, path) of requests awaiting their response
        self.is_request = is_request
        self.state = self.HEAD
        self.buffer = bytearray()
        self.remaining = 0
        self.key = "?|-|unknown|"
        self.path: str | None = None

    def feed(self, data: memoryview) -> None:
        c, direction = self.c, 0 if self.is_request else 1
        with c.lock:
            c.raw[direction] += len(data)
            position = 0
            while position < len(data):
                if self.state == self.FAILED:
                    c.unparsed[direction] += len(data) - position
                    return
                if self.state in (self.BODY, self.CHUNK_DATA, self.TO_CLOSE):
                    taken = len(data) - position
                    if self.state != self.TO_CLOSE:
                        taken = min(taken, self.remaining)
                        self.remaining -= taken
                    self._body(taken)
                    position += taken
                    if self.state == self.BODY and self.remaining == 0:
                        self.state = self.HEAD
                    elif self.state == self.CHUNK_DATA and self.remaining == 0:
                        self.state, self.remaining = self.CHUNK_END, 2
                    continue
                if self.state == self.CHUNK_END:
                    taken = min(len(data) - position, self.remaining)
                    self.remaining -= taken
                    self._head(taken)
                    position += taken
                    if self.remaining == 0:
                        self.state = self.CHUNK_LINE
                    continue
                # HEAD, CHUNK_LINE, TRAILER: collect up to the end marker
                marker = b"\r\n\r\n" if self.state == self.HEAD else b"\r\n"
                start = len(self.buffer)
                self.buffer += bytes(data[position:position + HEAD_LIMIT])
                end = self.buffer.find(marker, max(0, start - len(marker) + 1))
                if end < 0:
                    if len(self.buffer) > HEAD_LIMIT:
                        self.state = self.FAILED
                        c.errors += 1
                    else:
                        self._head(len(self.buffer) - start)
                    position += len(self.buffer) - start
                    if self.state == self.FAILED:
                        c.unparsed[direction] += len(self.buffer) - start
                    continue
                used = end + len(marker)
                self._head(used - start)
                position += used - start
                text, self.buffer = bytes(self.buffer[:used]), bytearray()
                try:
                    self._after(text)
                except (ValueError, IndexError):
                    self.state = self.FAILED
                    c.errors += 1

    def _head(self, count: int) -> None:
        self.c.ops[self.key][1 if self.is_request else 3] += count

    def _body(self, count: int) -> None:
        self.c.ops[self.key][2 if self.is_request else 4] += count
        if self.path is not None:
            self.c.reads[self.path] += count

    def _after(self, text: bytes) -> None:
        if self.state == self.CHUNK_LINE:
            size = int(text.split(b";")[0].strip() or b"0", 16)
            self.state, self.remaining = (self.TRAILER, 0) if size == 0 else (self.CHUNK_DATA,
                                                                               size)
            return
        if self.state == self.TRAILER:
            if text == b"\r\n":
                self.state = self.HEAD
            return
        if self.is_request:
            method, key, path, length, chunked = classify_request(text)
            head_bytes = len(text)
            # the head was counted under the previous key: move it to this request's key
            self.c.ops[self.key][1] -= head_bytes
            self.key, self.path = key, None
            self.c.ops[key][0] += 1
            self.c.ops[key][1] += head_bytes
            self.pending.append((method, key, path))
            self._frame(length, chunked, no_body=False, to_close_ok=False)
            return
        # a response: framing depends on the request it answers
        status = int(text.split(b" ", 2)[1])
        method, key, path = (self.pending[0] if self.pending else ("GET", "?|-|unknown|", None))
        if status >= 200 and self.pending:
            self.pending.popleft()
        self.c.ops[self.key][3] -= len(text)
        self.key, self.path = key, path
        self.c.ops[key][3] += len(text)
        lowered = text.decode("latin-1").lower()
        length = None
        for line in lowered.split("\r\n")[1:]:
            if line.startswith("content-length:"):
                length = int(line.split(":", 1)[1].strip())
        chunked = "transfer-encoding: chunked" in lowered
        no_body = method == "HEAD" or status < 200 or status in (204, 304)
        self._frame(length, chunked, no_body=no_body, to_close_ok=True)

    def _frame(self, length: int | None, chunked: bool, *, no_body: bool,
               to_close_ok: bool) -> None:
        if no_body:
            self.state = self.HEAD
        elif chunked:
            self.state = self.CHUNK_LINE
        elif length:
            self.state, self.remaining = self.BODY, length
        elif length == 0 or not to_close_ok:
            self.state = self.HEAD
        else:
            self.state = self.TO_CLOSE


def _pump(source: socket.socket, target: socket.socket, framing: _Framing,
          done: Callable[[], None]) -> None:
    buffer = bytearray(PROXY_BUFFER)
    view = memoryview(buffer)
    try:
        while True:
            count = source.recv_into(buffer)
            if not count:
                break
            framing.feed(view[:count])  # parse first: a request is queued before its answer
            target.sendall(view[:count])
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
    except OSError:
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    finally:
        done()


def serve_proxy(target_port: int) -> int:
    """Forward 127.0.0.1:<free port> to 127.0.0.1:target_port, counting; answer 'stats' lines
    on stdin with one JSON line on stdout; exit when stdin closes."""
    counters = _Counters()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)

    def connection(client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", target_port))
        except OSError:
            client.close()
            with counters.lock:
                counters.errors += 1
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending: deque = deque()
        finished = []
        lock = threading.Lock()

        def done() -> None:
            with lock:
                finished.append(1)
                if len(finished) == 2:
                    client.close()
                    upstream.close()

        with counters.lock:
            counters.connections += 1
        for args in ((client, upstream, _Framing(counters, pending, True)),
                     (upstream, client, _Framing(counters, pending, False))):
            threading.Thread(target=_pump, args=(*args, done), daemon=True).start()

    def accept_loop() -> None:
        while True:
            client, _ = listener.accept()
            connection(client)

    threading.Thread(target=accept_loop, daemon=True).start()
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps(counters.snapshot()), flush=True)
    return 0


class CountingProxy:
    """The proxy child process, seen from the benchmark."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._lock = threading.Lock()

    def __enter__(self) -> CountingProxy:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-proxy",
             str(self.target_port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the counting proxy did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stats(self) -> dict:
        assert self.process and self.process.stdin and self.process.stdout
        with self._lock:
            self.process.stdin.write("stats\n")
            self.process.stdin.flush()
            return json.loads(self.process.stdout.readline())

    def __exit__(self, *exc_info) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # type: ignore[union-attr]
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def traffic_delta(after: dict, before: dict) -> dict:
    ops = {}
    for key, values in after["ops"].items():
        old = before["ops"].get(key, [0] * 5)
        delta = [a - b for a, b in zip(values, old, strict=True)]
        if any(delta):
            ops[key] = delta
    reads = {path: count - before["reads"].get(path, 0) for path, count in after["reads"].items()
             if count != before["reads"].get(path, 0)}
    return {"ops": ops, "reads": reads,
            "raw": [a - b for a, b in zip(after["raw"], before["raw"], strict=True)],
            "unparsed": [a - b for a, b in zip(after["unparsed"], before["unparsed"],
                                                 strict=True)],
            "connections": after["connections"] - before["connections"],
            "errors": after["errors"] - before["errors"]}


# =============================================================================================
# Processes: CPU time, memory, sockets
# =============================================================================================
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_fields(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)


def kib_field(fields: dict[str, str], name: str) -> int:
    return int(fields[name].split()[0]) * KIB


def child_pids(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as children:
            found += [int(child) for child in children.read().split()]
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def remote_ports_of(inodes: set[str]) -> list[int]:
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows, None)
            for row in rows:
                columns = row.split()
                if len(columns) > 9 and columns[9] in inodes:
                    ports.append(int(columns[2].rsplit(":", 1)[1], 16))
    return ports


class HostSampler:
    """Samples devhost's RSS and threads every 50 ms, and its sockets every 0.5 s (to see that
    none goes to Azurite's port directly, around the counting proxy)."""

    def __init__(self, pid: int, azurite_port: int) -> None:
        self.pid = pid
        self.azurite_port = azurite_port
        self.peak_rss = 0
        self.peak_rss_at = 0.0
        self.peak_threads = 0
        self.direct_connections = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def __enter__(self) -> HostSampler:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        next_socket_check = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError, ValueError):
                fields = status_fields(self.pid)
                rss = kib_field(fields, "VmRSS")
                for child in child_pids(self.pid):
                    rss += kib_field(status_fields(child), "VmRSS")
                if rss > self.peak_rss:
                    self.peak_rss, self.peak_rss_at = rss, time.perf_counter() - self._started
                self.peak_threads = max(self.peak_threads, int(fields["Threads"]))
                self.samples += 1
                if time.monotonic() >= next_socket_check:
                    next_socket_check = time.monotonic() + 0.5
                    ports = remote_ports_of(socket_inodes(self.pid))
                    self.direct_connections += ports.count(self.azurite_port)
            self._stop.wait(0.05)


@dataclass
class CpuMeter:
    """CPU seconds used by named processes between start() and stop()."""

    pids: dict[str, int]
    used: dict[str, float] = field(default_factory=dict)
    _start: dict[str, float] = field(default_factory=dict)

    def start(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        return self.used


# =============================================================================================
# Seeding
# =============================================================================================
@dataclass
class SeededFile:
    relative: str
    size: int
    md5: str
    stored_md5: bool  # the source blob has a Content-MD5
    kind: str  # "small" or "large"

    @property
    def label(self) -> str:
        return f"{self.kind}, {'Content-MD5' if self.stored_md5 else 'no Content-MD5'}"


def storage_client(azurite, account: str, endpoint: str | None = None, connections: int = 40):
    """A key-authenticated client with a connection pool big enough for the threads (and the
    app's read piece size), at `endpoint` (the proxy) or Azurite itself."""
    import requests
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.blob import BlobServiceClient

    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=connections)
    session.mount("http://", adapter)
    return BlobServiceClient(
        f"{endpoint or azurite.blob_endpoint(WORK_ACCOUNT).rsplit('/', 1)[0]}/{account}",
        credential=AzureNamedKeyCredential(account, azurite.account_key(account)),
        transport=RequestsTransport(session=session, session_owner=True),
        max_single_get_size=READ_PIECE_BYTES, max_chunk_get_size=READ_PIECE_BYTES,
        max_block_size=SEED_BLOCK_BYTES, max_single_put_size=SEED_BLOCK_BYTES)


def small_file_names(count: int) -> Iterator[str]:
    """Names laid out as a sequencer's run folder (lanes, cycles, tiles)."""
    for number in range(count):
        lane, rest = 1 + number % 4, number // 4
        yield (f"Data/Intensities/BaseCalls/L{lane:03d}/C{1 + rest // 25}.1/"
               f"s_{lane}_{11101 + rest % 25}.bcl.bgzf")


def seed(azurite, folder: str, args: argparse.Namespace) -> list[SeededFile]:
    from azure.storage.blob import BlobBlock, ContentSettings

    source = storage_client(azurite, SOURCE_ACCOUNT).get_container_client(SOURCE_CONTAINER)
    source.create_container()
    generator = random.Random(args.seed)
    files: list[SeededFile] = []

    def upload_small(relative: str, size: int, seed_value: int) -> SeededFile:
        content = random.Random(seed_value).randbytes(size)
        digest = hashlib.md5(content).digest()
        source.upload_blob(f"{folder}/{relative}", content, content_settings=ContentSettings(
            content_type="application/octet-stream", content_md5=bytearray(digest)))
        return SeededFile(relative, size, digest.hex(), True, "small")

    low, high = args.small_min_kib * KIB, args.small_max_kib * KIB
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(upload_small, name, generator.randint(low, high),
                               generator.getrandbits(64))
                   for name in small_file_names(args.small_files)]
        files += [future.result() for future in futures]

    with ThreadPoolExecutor(8) as pool:
        for index, (size_mib, with_md5) in enumerate(zip(args.large_mib, args.large_md5,
                                                         strict=True)):
            relative = f"Analysis/fastq/Sample_{index + 1:02d}_S{index + 1}_L001_R1_001.fastq.gz"
            # not a whole number of blocks: the last block is short
            size = int(size_mib * MIB) + 12_345 * (index + 1)
            blob = source.get_blob_client(f"{folder}/{relative}")
            whole = hashlib.md5()
            block_ids: list[BlobBlock] = []
            in_flight: deque[Future] = deque()
            for number, offset in enumerate(range(0, size, SEED_BLOCK_BYTES)):
                piece = os.urandom(min(SEED_BLOCK_BYTES, size - offset))
                whole.update(piece)
                block_id = f"{number:06d}"
                block_ids.append(BlobBlock(block_id))
                in_flight.append(pool.submit(blob.stage_block, block_id, piece))
                if len(in_flight) >= 8:
                    in_flight.popleft().result()
            for future in in_flight:
                future.result()
            content_settings = ContentSettings(content_type="application/gzip")
            if with_md5:
                content_settings.content_md5 = bytearray(whole.digest())
            blob.commit_block_list(block_ids, content_settings=content_settings)
            stored = blob.get_blob_properties().content_settings.content_md5
            if bool(stored) != with_md5 or (stored and bytes(stored) != whole.digest()):
                raise RuntimeError(f"seeding {relative}: Content-MD5 is {stored!r}")
            files.append(SeededFile(relative, size, whole.hexdigest(), with_md5, "large"))
    return sorted(files, key=lambda f: f.relative)


# =============================================================================================
# Delivery through devhost
# =============================================================================================
@dataclass
class RunResult:
    kind: str  # "delivery", "a" or "b"
    sink_folder: str
    name: str
    seconds: float
    cpu: dict[str, float]
    traffic: dict | None
    md5s: dict[str, str] = field(default_factory=dict)  # relative -> MD5 of destination bytes
    phases: list[tuple[str, float]] = field(default_factory=list)
    peak_rss: int = 0
    peak_rss_at: float = 0.0
    vm_hwm: int = 0
    idle_rss: int = 0
    peak_threads: int = 0
    direct_connections: int = 0
    problems: list[str] = field(default_factory=list)


def run_delivery(host, website, proxy, azurite, files: list[SeededFile], source_folder: str,
                 sink_folder: str, delivery_id: int, cpu_pids: dict[str, int],
                 timeout: float) -> RunResult:
    import requests

    transfer_uuid = str(uuid.uuid4())
    website.expect(delivery_id, transfer_uuid)
    payload = {
        "Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": SOURCE_CONTAINER,
        "Source_TopLevelFolder": source_folder,
        "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": SINK_CONTAINER,
        "Sink_TopLevelFolder": sink_folder,
        "Webhook_DeliveryID": delivery_id, "Webhook_TransferUUID": transfer_uuid,
    }
    pid = host.process.pid
    idle_rss = kib_field(status_fields(pid), "VmRSS")
    before = proxy.stats() if proxy else None
    meter = CpuMeter(cpu_pids).start()
    session = requests.Session()
    phases: list[tuple[str, float]] = []
    with HostSampler(pid, azurite.blob_port) as sampler:
        started = time.perf_counter()
        answer = session.post(f"{host.base_url}/api/deliveries",
                              params={"code": host.function_key}, json=payload,
                              headers={"user-agent": "duke-data-delivery/2.0.0"}, timeout=60)
        if answer.status_code != 202:
            raise RuntimeError(f"POST /api/deliveries answered {answer.status_code}: "
                               f"{answer.text[:500]}")
        instance_id = answer.json()["id"]
        view: dict = {}
        while True:
            view = session.get(f"{host.base_url}/api/deliveries/{instance_id}",
                               params={"code": host.function_key}, timeout=60).json()
            elapsed = time.perf_counter() - started
            phase = view.get("phase") or "starting"
            if not phases or phases[-1][0] != phase:
                phases.append((phase, elapsed))
            if view["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                break
            if elapsed > timeout:
                raise TimeoutError(f"the delivery did not end in {timeout:.0f} s: {view}")
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    cpu = meter.stop()
    after = proxy.stats() if proxy else None
    fields = status_fields(pid)
    result = RunResult(
        "delivery", sink_folder, "delivery (devhost)", seconds, cpu,
        traffic_delta(after, before) if proxy else None,
        phases=phases, peak_rss=sampler.peak_rss, peak_rss_at=sampler.peak_rss_at,
        vm_hwm=kib_field(fields, "VmHWM"), idle_rss=idle_rss, peak_threads=sampler.peak_threads,
        direct_connections=sampler.direct_connections)
    if view["runtimeStatus"] != "Completed" or view.get("phase") != "delivered":
        result.problems.append(f"the delivery ended {view['runtimeStatus']}, phase "
                               f"{view.get('phase')}: {view.get('message')} "
                               f"{view.get('failures')}")
    if view.get("verified", {}).get("files") != len(files):
        result.problems.append(f"the app verified {view.get('verified')} of {len(files)} files")
    recorded = website.recorded(delivery_id) or {}
    if "manifest" not in recorded or recorded.get("error_message"):
        result.problems.append(f"the website recorded no manifest: {str(recorded)[:300]}")
    return result


def verify_destination(azurite, files: list[SeededFile], sink_folder: str) -> list[str]:
    """Read every delivered blob back directly from Azurite; compare MD5s with the seeded bytes
    and the Content-MD5 property; look for missing and unexpected blobs."""
    sink = storage_client(azurite, SINK_ACCOUNT).get_container_client(SINK_CONTAINER)
    problems: list[str] = []

    def check(item: SeededFile) -> str | None:
        downloader = sink.download_blob(f"{sink_folder}/{item.relative}", max_concurrency=1)
        md5, size = hashlib.md5(), 0
        for piece in downloader.chunks():
            md5.update(piece)
            size += len(piece)
        stored = downloader.properties.content_settings.content_md5
        if size != item.size or md5.hexdigest() != item.md5:
            return f"{item.relative}: destination {size} bytes MD5 {md5.hexdigest()}, " \
                   f"source {item.size} bytes MD5 {item.md5}"
        if not stored or bytes(stored).hex() != item.md5:
            return f"{item.relative}: destination Content-MD5 {stored!r}, expected {item.md5}"
        return None

    with ThreadPoolExecutor(8) as pool:
        problems += [p for p in pool.map(check, files) if p]
    expected = {f"{sink_folder}/{item.relative}" for item in files}
    for blob in sink.list_blobs(name_starts_with=sink_folder + "/", include=["metadata"]):
        folder_marker = (blob.metadata or {}).get("hdi_isfolder") == "true"  # a delivered folder
        if blob.name not in expected and not folder_marker and not blob.name.startswith(
                f"{sink_folder}/{MANIFEST_FOLDER}/"):
            problems.append(f"unexpected blob at the destination: {blob.name}")
    return problems


# =============================================================================================
# Baselines: a plain script, Azure SDK, 16-thread pool
# =============================================================================================
BASELINE_NAMES = {
    "b": "baseline (b) app's primitives",
    "a": "baseline (a) async Copy Blob",
    "c": "baseline (c) Put Block, no MD5",
}


def run_baseline(kind: str, azurite, proxy, files: list[SeededFile], source_folder: str,
                 sink_folder: str, args: argparse.Namespace, cpu_pids: dict[str, int]
                 ) -> RunResult:
    """A plain script: the Azure SDK and one pool of `--baseline-threads` threads over the
    files (largest first), listing included in the time. Every file is read once to hash it.

    (a) every file: async Copy Blob (start_copy_from_url), then the destination read and hashed.
    (b) the app's primitives: a file with Content-MD5 up to the small-file size: synchronous
        Copy Blob From URL, then the destination read and hashed; any other file: the source
        read once, each block's MD5 sent with its Put Block From URL (`--baseline-blocks` in
        flight per file), Put Block List with the whole MD5.
    (c) as (b), but large files staged with no source MD5 and the destination hashed after Put
        Block List (on Azurite this costs more: without a source MD5 it computes a CRC64 of
        every staged block in JavaScript).
    """
    from azure.storage.blob import (
        BlobBlock,
        ContainerSasPermissions,
        ContentSettings,
        generate_container_sas,
    )

    endpoint = f"http://127.0.0.1:{proxy.port}" if proxy else None
    connections = args.baseline_threads * (1 + args.baseline_blocks) + 4
    source = storage_client(azurite, SOURCE_ACCOUNT, endpoint, connections).get_container_client(
        SOURCE_CONTAINER)
    sink = storage_client(azurite, SINK_ACCOUNT, endpoint, connections).get_container_client(
        SINK_CONTAINER)
    sas = generate_container_sas(SOURCE_ACCOUNT, SOURCE_CONTAINER,
                                 account_key=azurite.account_key(SOURCE_ACCOUNT),
                                 permission=ContainerSasPermissions(read=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=3))

    def source_url(name: str) -> str:
        return f"{source.url}/{quote(name)}?{sas}"

    def hash_of(container, name: str) -> str:
        md5 = hashlib.md5()
        for piece in container.download_blob(name, max_concurrency=1).chunks():
            md5.update(piece)
        return md5.hexdigest()

    def copy_async(name: str, destination: str) -> str:
        blob = sink.get_blob_client(destination)
        status = blob.start_copy_from_url(source_url(name))["copy_status"]
        while status == "pending":
            time.sleep(0.05)
            status = blob.get_blob_properties().copy.status
        if status != "success":
            raise RuntimeError(f"async copy of {name}: {status}")
        return hash_of(sink, destination)

    def copy_sync(name: str, destination: str) -> str:
        answer = sink.get_blob_client(destination).start_copy_from_url(source_url(name),
                                                                       requires_sync=True)
        if answer["copy_status"] != "success":
            raise RuntimeError(f"sync copy of {name}: {answer['copy_status']}")
        return hash_of(sink, destination)

    def copy_in_blocks(name: str, destination: str, size: int, content_type: str | None) -> str:
        blob = sink.get_blob_client(destination)
        whole, block, block_bytes = hashlib.md5(), hashlib.md5(), 0
        blocks: list[BlobBlock] = []
        in_flight: deque[Future] = deque()
        with ThreadPoolExecutor(args.baseline_blocks) as stager:

            def stage(length: int, md5: bytes | None) -> None:
                index = len(blocks)
                blocks.append(BlobBlock(f"{index:06d}"))
                extra = {"source_content_md5": md5} if md5 is not None else {}
                in_flight.append(stager.submit(
                    blob.stage_block_from_url, f"{index:06d}", source_url(name),
                    source_offset=index * args.block_bytes, source_length=length, **extra))
                if len(in_flight) >= args.baseline_blocks:
                    in_flight.popleft().result()

            if kind == "c":
                for start in range(0, size, args.block_bytes):
                    stage(min(args.block_bytes, size - start), None)
            else:
                for piece in source.download_blob(name, max_concurrency=1).chunks():
                    view = memoryview(piece)
                    while view:
                        taken = view[:args.block_bytes - block_bytes]
                        whole.update(taken)
                        block.update(taken)
                        block_bytes += len(taken)
                        view = view[len(taken):]
                        if block_bytes == args.block_bytes:
                            stage(block_bytes, block.digest())
                            block, block_bytes = hashlib.md5(), 0
                if block_bytes:
                    stage(block_bytes, block.digest())
            for future in in_flight:
                future.result()
        settings = ContentSettings(content_type=content_type)
        if kind != "c":
            settings.content_md5 = bytearray(whole.digest())
        blob.commit_block_list(blocks, content_settings=settings)
        return hash_of(sink, destination) if kind == "c" else whole.hexdigest()

    meter = CpuMeter(cpu_pids).start()
    before = proxy.stats() if proxy else None
    started = time.perf_counter()
    md5s: dict[str, str] = {}
    with ThreadPoolExecutor(args.baseline_threads) as pool:
        listed = list(source.list_blobs(name_starts_with=source_folder + "/"))
        listed.sort(key=lambda blob: -blob.size)  # largest first: the long copies start at once
        futures: dict[Future, str] = {}
        for blob in listed:
            relative = blob.name[len(source_folder) + 1:]
            destination = f"{sink_folder}/{relative}"
            if kind == "a":
                future = pool.submit(copy_async, blob.name, destination)
            elif blob.content_settings.content_md5 and blob.size <= args.small_file_max_bytes:
                future = pool.submit(copy_sync, blob.name, destination)
            else:
                future = pool.submit(copy_in_blocks, blob.name, destination, blob.size,
                                     blob.content_settings.content_type)
            futures[future] = relative
        for future, relative in futures.items():
            md5s[relative] = future.result()
    seconds = time.perf_counter() - started
    after = proxy.stats() if proxy else None
    cpu = meter.stop()
    name = BASELINE_NAMES[kind]
    result = RunResult(kind, sink_folder, name, seconds, cpu,
                       traffic_delta(after, before) if proxy else None, md5s=md5s)
    for item in files:
        if md5s.get(item.relative) != item.md5:
            result.problems.append(f"{name}: {item.relative} hashed {md5s.get(item.relative)}, "
                                   f"expected {item.md5}")
    if len(md5s) != len(files):
        result.problems.append(f"{name}: {len(md5s)} files copied, {len(files)} seeded")
    return result


# =============================================================================================
# Figures
# =============================================================================================
def split_traffic(traffic: dict, files: list[SeededFile], paths: dict[str, SeededFile]) -> dict:
    """From one run's proxied traffic: content bytes read per file, everything else."""
    read_by_file: dict[str, int] = defaultdict(int)
    other_blob_reads = 0
    for path, count in traffic["reads"].items():
        item = paths.get(path)
        if item is None:
            other_blob_reads += count
        else:
            read_by_file[item.relative] += count
    sums: defaultdict[str, Any] = defaultdict(int)
    for key, (requests_, req_head, req_body, resp_head, resp_body) in traffic["ops"].items():
        client, account, op, area = key.split("|")
        who = "azurite" if client == "azurite" else "client"
        sums[f"{who}.requests"] += requests_
        sums[f"{who}.read"] += resp_head + resp_body
        sums[f"{who}.sent"] += req_head + req_body
        if who != "client":
            continue
        sums["sent.heads"] += req_head
        if account == WORK_ACCOUNT:
            sums["sent.work_bodies"] += req_body  # plan and result pages
        elif op not in DATA_OPS:
            sums["sent.control_bodies"] += req_body  # block lists and the like
        elif account == SINK_ACCOUNT and area == MANIFEST_FOLDER:
            sums["sent.manifest_bodies"] += req_body
        else:
            sums["sent.file_bodies"] += req_body  # blob content written through the app
        sums[f"ops.{op}"] += requests_
    sums.update(read_by_file=read_by_file, other_blob_reads=other_blob_reads,
                unparsed=sum(traffic["unparsed"]), errors=traffic["errors"],
                connections=traffic["connections"])
    return sums


def mib(count: float) -> str:
    return f"{count / MIB:,.1f} MiB"


def machine_line() -> str:
    azurite_version = json.loads((REPO / "node_modules" / "azurite" / "package.json")
                                 .read_text())["version"]
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info
                    if line.startswith("model name")), "?")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    from importlib.metadata import version
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (f"nproc {os.cpu_count()} ({cpu}), {memory / 2**30:.0f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}, Node {node or '?'}, "
            f"Azurite {azurite_version}, azure-storage-blob {version('azure-storage-blob')}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


BASELINE_NOTES = {
    "b": "like-for-like: the app's primitives (sync Copy Blob From URL for small files; source "
         "hashed once, Put Block From URL with each block's MD5, Put Block List)",
    "a": "async Copy Blob, metadata only on Azurite: a floor, not a peer",
    "c": "Put Block From URL with no source MD5, destination hashed (Azurite then computes a "
         "CRC64 of every block in JavaScript: slower here than it would be in Azure)",
}


def file_paths(files: list[SeededFile], source_folder: str, sink_folder: str
               ) -> dict[str, SeededFile]:
    """The proxied paths of each file's source and destination blob."""
    paths: dict[str, SeededFile] = {}
    for item in files:
        paths[f"/{SOURCE_ACCOUNT}/{SOURCE_CONTAINER}/{source_folder}/{item.relative}"] = item
        paths[f"/{SINK_ACCOUNT}/{SINK_CONTAINER}/{sink_folder}/{item.relative}"] = item
    return paths


def report(args, files: list[SeededFile], seed_seconds: float, runs: list[RunResult],
           source_folder: str, app_settings: dict[str, str], started: float, machine: str,
           host_pid_note: str, verify_seconds: float) -> bool:
    """Print the figures and the README snippet; True when every run verified."""
    total_bytes = sum(item.size for item in files)
    kinds = list(dict.fromkeys(run.kind for run in runs))
    best = {kind: min((r for r in runs if r.kind == kind), key=lambda r: r.seconds)
            for kind in kinds}
    delivery = best["delivery"]
    ratio = {kind: best[kind].seconds / delivery.seconds for kind in kinds}
    by_kind: dict[str, list[SeededFile]] = defaultdict(list)
    for item in files:
        by_kind[item.label].append(item)
    data_line = "; ".join(f"{len(items):,} {label} ({mib(sum(i.size for i in items))})"
                          for label, items in sorted(by_kind.items()))

    say()
    say("=" * 100)
    say("ddd-transfer delivery benchmark")
    say("=" * 100)
    say(f"machine   {machine}")
    say(f"data      {len(files):,} files, {mib(total_bytes)}: {data_line}; seeded in "
        f"{seed_seconds:.1f} s")
    say(f"app       {', '.join(f'{k}={v}' for k, v in app_settings.items())}")
    say(f"host      {host_pid_note}")
    say("traffic   " + ("every storage request of every run went through the byte-counting "
                        "HTTP proxy (a child process)" if not args.no_proxy else
                        "--no-proxy: storage traffic not counted"))
    say()
    say(f"{'run (in the order run)':<38} {'seconds':>8} {'MiB/s':>8} {'files/s':>8} "
        f"{'speed ratio':>12}  CPU s: azurite / host / bench / proxy")
    for run in runs:
        cpu = " / ".join(f"{run.cpu.get(name, 0):.1f}" for name in
                         ("azurite", "host", "bench", "proxy"))
        share = "" if run.kind == "delivery" else f"{run.seconds / delivery.seconds:.2f}x"
        say(f"{run.name:<38} {run.seconds:>8.1f} {total_bytes / MIB / run.seconds:>8.1f} "
            f"{len(files) / run.seconds:>8.0f} {share:>12}  {cpu}")
    say("(speed ratio: the best delivery's speed / this run's speed; CPU s: CPU seconds each "
        "process used during the run; the baselines run in the bench process)")
    if len(runs) > len(kinds):
        say("(the best run of each kind is used below; rounds rotate the order of the runs)")
        pairs = [b.seconds / d.seconds for d, b in zip(
            [r for r in runs if r.kind == "delivery"], [r for r in runs if r.kind == "b"],
            strict=False)]
        say("delivery speed / baseline (b), round by round: "
            + ", ".join(f"{pair:.2f}x" for pair in pairs)
            + f" (median {statistics.median(pairs):.2f}x; the spread is this machine's noise)")
    say("delivery phases (first seen by the 0.2 s status poll): " + ", ".join(
        f"{phase} at {at:.1f} s" for phase, at in delivery.phases)
        + f", done at {delivery.seconds:.1f} s")
    for kind in kinds:
        if kind != "delivery":
            say(f"  {BASELINE_NAMES[kind]}: {BASELINE_NOTES[kind]}")
    say()

    rows: list[tuple[str, str, str, str]] = []
    rows.append(("delivery speed / baseline (b), like-for-like", f"{ratio['b']:.2f}x",
                 f">= {GOAL_SPEED_RATIO}x", verdict(ratio["b"] >= GOAL_SPEED_RATIO)))
    for kind in ("a", "c"):
        if kind in ratio:
            rows.append((f"delivery speed / baseline ({kind})", f"{ratio[kind]:.2f}x",
                         "(see above)", "info"))
    split = None
    if delivery.traffic is not None:
        split = split_traffic(delivery.traffic, files,
                              file_paths(files, source_folder, delivery.sink_folder))
        read_ratio = sum(split["read_by_file"].values()) / total_bytes
        rows.append(("file bytes read by the app / byte delivered", f"{read_ratio:.4f}",
                     f"<= {GOAL_READ_RATIO}", verdict(read_ratio <= GOAL_READ_RATIO + 1e-9)))
        for label, items in sorted(by_kind.items()):
            kind_read = sum(split["read_by_file"].get(i.relative, 0) for i in items)
            worst = max(split["read_by_file"].get(i.relative, 0) / max(i.size, 1)
                        for i in items)
            rows.append((f"  {label} ({len(items):,} files)",
                         f"{kind_read / max(sum(i.size for i in items), 1):.4f}"
                         f" (worst file {worst:.2f})", f"<= {GOAL_READ_RATIO}",
                         verdict(worst <= GOAL_READ_RATIO + 1e-9)))
        all_read = split["client.read"] + split["unparsed"]
        rows.append(("all bytes the app read from storage / byte", f"{all_read / total_bytes:.4f}",
                     "(+ heads, listings, pages)", "info"))
        rows.append(("file bytes written through the app", f"{split['sent.file_bodies']:,} B",
                     "0", verdict(split["sent.file_bodies"] == 0)))
        sent = split["client.sent"]
        rows.append(("all bytes the app sent to storage",
                     f"{mib(sent)} ({sent / total_bytes:.3%} of delivered)", "(requests)",
                     "info"))
        rows.append(("  heads / manifest / work pages / block lists",
                     f"{mib(split['sent.heads'])} / {mib(split['sent.manifest_bodies'])} / "
                     f"{mib(split['sent.work_bodies'])} / {mib(split['sent.control_bodies'])}",
                     "", ""))
    # memory: over every delivery (VmHWM is the high-water mark of the process's whole life)
    deliveries = [run for run in runs if run.kind == "delivery"]
    hwm = max(run.vm_hwm for run in deliveries)
    rows.append(("peak memory of the host process (VmHWM)", mib(hwm),
                 f"<= {GOAL_PEAK_MIB} MiB", verdict(hwm <= GOAL_PEAK_MIB * MIB)))
    rows.append(("  RSS before each delivery", " / ".join(mib(r.idle_rss) for r in deliveries),
                 "", ""))
    rows.append(("  sampled peak RSS of each (s into it)", " / ".join(
        f"{mib(r.peak_rss)} ({r.peak_rss_at:.1f})" for r in deliveries), "", ""))
    rows.append(("  host threads at peak", f"{max(r.peak_threads for r in deliveries)}", "",
                 ""))
    problems = [problem for run in runs for problem in run.problems]
    rows.append(("every file verified (delivery: MD5 read back)",
                 "all" if not problems else f"NO: {len(problems)} problems", "all",
                 verdict(not problems)))
    width = max(len(r[0]) for r in rows) + 2
    say(f"{'figure':<{width}} {'measured':<34} {'goal':<26} verdict")
    for name, measured, goal, ok in rows:
        say(f"{name:<{width}} {measured:<34} {goal:<26} {ok}")
    if split is not None:
        say()
        say(f"app storage requests during the delivery: {split['client.requests']:,} over "
            f"{split['connections']:,} proxied connections ("
            + ", ".join(f"{key[4:]} {value:,}" for key, value in sorted(split.items())
                        if key.startswith("ops.")) + ")")
        say(f"Azurite's own requests through the proxy (copy-source access checks, not the "
            f"app's): {split['azurite.requests']:,}, "
            f"{mib(split['azurite.read'] + split['azurite.sent'])}; unparsed bytes "
            f"{split['unparsed']:,}; framing errors {split['errors']}; devhost sockets seen on "
            f"Azurite's own port (bypassing the proxy): {delivery.direct_connections}")
        for kind in kinds:
            run = best[kind]
            if kind == "delivery" or run.traffic is None:
                continue
            base = split_traffic(run.traffic, files,
                                 file_paths(files, source_folder, run.sink_folder))
            say(f"{run.name}: {sum(base['read_by_file'].values()) / total_bytes:.4f} file bytes"
                f" read per byte (all traffic {base['client.read'] / total_bytes:.4f}), "
                f"{base['client.requests']:,} requests")
    if problems:
        say()
        say("PROBLEMS:")
        for problem in problems[:40]:
            say(f"  {problem}")
    say()
    say(f"benchmark wall time {time.perf_counter() - started:.0f} s (seeding "
        f"{seed_seconds:.0f} s, verification read-back {verify_seconds:.0f} s)")

    say()
    say("----- Markdown for the README -----")
    say(f"`bench/delivery.py`, {datetime.now(UTC):%Y-%m-%d}: {machine}. Data: {len(files):,} "
        f"files, {mib(total_bytes)} ({data_line}). App settings: "
        + ", ".join(f"`{k}={v}`" for k, v in app_settings.items()) + ".")
    say()
    say("| run | seconds | MiB/s | delivery speed / this |")
    say("|---|---|---|---|")
    for kind in kinds:
        run = best[kind]
        label = ("delivery through devhost (POST to Completed)" if kind == "delivery"
                 else f"{run.name}: {BASELINE_NOTES[kind]}")
        say(f"| {label} | {run.seconds:.1f} | {total_bytes / MIB / run.seconds:.1f} | "
            f"{'' if kind == 'delivery' else f'{ratio[kind]:.2f}x'} |")
    say()
    say("| figure | measured | goal |")
    say("|---|---|---|")
    for name, measured, goal, ok in rows:
        if ok in ("PASS", "FAIL"):
            say(f"| {name.strip()} | {measured} | {goal} ({ok}) |")
    say("-----------------------------------")
    return not problems


# =============================================================================================
# Main
# =============================================================================================
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from shared.config import Settings

    defaults = {name: info.default for name, info in Settings.model_fields.items()}
    parser = argparse.ArgumentParser(
        prog="python bench/delivery.py",
        description="Time a delivery through devhost against plain-SDK baselines on Azurite.")
    parser.add_argument("--small-files", type=int, default=1500)
    parser.add_argument("--small-min-kib", type=int, default=1)
    parser.add_argument("--small-max-kib", type=int, default=64)
    parser.add_argument("--large-mib", default="300,256,200",
                        help="sizes of the large files in MiB, comma-separated (default "
                             "300,256,200; each gets a few KiB more, so the last block is short)")
    parser.add_argument("--large-md5", default=None,
                        help="per large file, yes/no: a stored Content-MD5 (default: alternate, "
                             "no,yes,no,...)")
    parser.add_argument("--copy-threads", type=int, default=16, help="DDD_COPY_THREADS")
    parser.add_argument("--parallel-chunks", type=int, default=None,
                        help=f"DDD_PARALLEL_CHUNKS (default: the app's, "
                             f"{defaults['parallel_chunks']})")
    parser.add_argument("--chunk-max-files", type=int, default=None,
                        help=f"DDD_CHUNK_MAX_FILES (default: the app's, "
                             f"{defaults['chunk_max_files']})")
    parser.add_argument("--block-mib", type=int, default=None,
                        help=f"DDD_BLOCK_SIZE_BYTES in MiB (default: the app's, "
                             f"{defaults['block_size_bytes'] // MIB})")
    parser.add_argument("--small-file-max-mib", type=int, default=None,
                        help=f"DDD_SMALL_FILE_MAX_BYTES in MiB (default: the app's, "
                             f"{defaults['small_file_max_bytes'] // MIB})")
    parser.add_argument("--baseline-threads", type=int, default=16)
    parser.add_argument("--baseline-blocks", type=int, default=4,
                        help="baselines (b), (c): Put Block From URL in flight per file (the "
                             "app's BLOCKS_IN_FLIGHT_PER_FILE is 4)")
    parser.add_argument("--no-baseline-c", action="store_true",
                        help="skip baseline (c) (Put Block From URL with no source MD5)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="run delivery and baselines this many times, rotating their order "
                             "(the best of each is reported; default 2)")
    parser.add_argument("--no-proxy", action="store_true",
                        help="talk to Azurite directly (no storage traffic figures)")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    parser.add_argument("--serve-proxy", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_proxy is not None:
        return args
    args.large_mib = [float(v) for v in args.large_mib.split(",") if v.strip()]
    if args.large_md5 is None:
        args.large_md5 = [index % 2 == 1 for index in range(len(args.large_mib))]
    else:
        args.large_md5 = [v.strip().lower() in ("yes", "y", "1", "true")
                          for v in args.large_md5.split(",")]
    if len(args.large_md5) != len(args.large_mib):
        parser.error("--large-md5 needs one yes/no per --large-mib size")
    args.block_bytes = (args.block_mib * MIB if args.block_mib else
                        defaults["block_size_bytes"])
    args.small_file_max_bytes = (args.small_file_max_mib * MIB if args.small_file_max_mib
                                 is not None else defaults["small_file_max_bytes"])
    args.defaults = defaults
    return args


def app_settings_for(args: argparse.Namespace) -> tuple[dict[str, str], dict[str, str]]:
    """(environment for devhost, the same described for the report)."""
    environ = {"DDD_COPY_THREADS": str(args.copy_threads)}
    shown = {"DDD_COPY_THREADS": str(args.copy_threads)}
    for flag, name, default_name, scale in (
            ("parallel_chunks", "DDD_PARALLEL_CHUNKS", "parallel_chunks", 1),
            ("chunk_max_files", "DDD_CHUNK_MAX_FILES", "chunk_max_files", 1),
            ("block_mib", "DDD_BLOCK_SIZE_BYTES", "block_size_bytes", MIB),
            ("small_file_max_mib", "DDD_SMALL_FILE_MAX_BYTES", "small_file_max_bytes", MIB)):
        value = getattr(args, flag)
        if value is not None:
            environ[name] = str(value * scale)
            shown[name] = f"{value}{' MiB' if scale == MIB else ''}"
        else:
            default = args.defaults[default_name]
            shown[name] = (f"{default // MIB} MiB" if scale == MIB else str(default)) \
                + " (default)"
    return environ, shown


def run(args: argparse.Namespace) -> int:
    from devhost.azurite import AzuriteServer
    from devhost.launcher import DevHostProcess
    from devhost.website_standin import WebsiteStandIn

    bench_started = time.perf_counter()
    machine = machine_line()
    say(f"machine: {machine}")
    stray = sorted(k for k in os.environ if k.startswith("DDD_"))
    if stray:
        say(f"warning: the environment sets {', '.join(stray)}; devhost inherits them")
    tag = uuid.uuid4().hex[:8]
    source_folder = f"bench/run-{tag}"
    work_dir = Path(tempfile.mkdtemp(prefix="ddd-bench-"))
    exit_code = 1
    with contextlib.ExitStack() as stack:
        if args.keep:
            stack.callback(lambda: say(f"work folder kept: {work_dir}"))
        else:
            stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        say("1. starting Azurite (devstoreaccount1 = app storage, sequencingcore = source, "
            "labsmith = sink)")
        azurite = stack.enter_context(AzuriteServer(
            accounts=[WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT], location=work_dir / "azurite"))
        proxy = None if args.no_proxy else stack.enter_context(CountingProxy(azurite.blob_port))
        storage_port = proxy.port if proxy else azurite.blob_port

        say(f"2. seeding {args.small_files:,} small files ({args.small_min_kib}-"
            f"{args.small_max_kib} KiB, Content-MD5) and {len(args.large_mib)} large ("
            + ", ".join(f"{s:g} MiB {'with' if m else 'no'} MD5"
                        for s, m in zip(args.large_mib, args.large_md5, strict=True))
            + f") under {SOURCE_ACCOUNT}/{SOURCE_CONTAINER}/{source_folder}")
        seeding_started = time.perf_counter()
        files = seed(azurite, source_folder, args)
        seed_seconds = time.perf_counter() - seeding_started
        total_bytes = sum(item.size for item in files)
        say(f"   {len(files):,} files, {mib(total_bytes)} in {seed_seconds:.1f} s")
        storage_client(azurite, SINK_ACCOUNT).create_container(SINK_CONTAINER)

        website = stack.enter_context(WebsiteStandIn(token=WEBSITE_TOKEN))
        environ, shown = app_settings_for(args)
        settings = {**azurite.storage_environ(work_account=WORK_ACCOUNT),
                    "DDD_STORAGE_ENDPOINT_TEMPLATE": f"http://127.0.0.1:{storage_port}/{{account}}",
                    "DDD_WEBSITE_URL": website.url, "DDD_WEBSITE_TOKEN": WEBSITE_TOKEN,
                    "DDD_WEBSITE_RETRY_SECONDS": "0.5",
                    "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT, "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
                    **environ}
        host = DevHostProcess(REPO / "function_app.py", work_dir / "devhost", env=settings)
        stack.enter_context(host)
        shown["activities"] = "host.json maxConcurrentActivityFunctions"
        pid = host.process.pid
        exe = os.path.realpath(f"/proc/{pid}/exe")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"devhost" not in cmdline or "python" not in Path(exe).name:
            raise RuntimeError(f"pid {pid} is not devhost's Python: {exe} {cmdline}")
        host_pid_note = (f"pid {pid} = {Path(exe).name} -m devhost (Popen without a shell), "
                         f"child processes: {len(child_pids(pid))}")
        say(f"3. devhost on {host.base_url} ({host_pid_note}); website stand-in {website.url}")

        cpu_pids = {"azurite": azurite._process.pid, "host": pid, "bench": os.getpid()}
        if proxy:
            cpu_pids["proxy"] = proxy.process.pid
        runs: list[RunResult] = []
        order = ["delivery", "b", "a"] + ([] if args.no_baseline_c else ["c"])
        for round_number in range(args.rounds):
            for step in order:
                sink_folder = f"bench/{step}-r{round_number}-{tag}"
                # the previous run's writes go to disk first, so they do not slow this one
                os.sync()
                if step == "delivery":
                    say(f"4. delivery through devhost (round {round_number + 1}) -> "
                        f"{SINK_ACCOUNT}/{SINK_CONTAINER}/{sink_folder}")
                    result = run_delivery(host, website, proxy, azurite, files, source_folder,
                                          sink_folder, 9000 + round_number, cpu_pids,
                                          args.timeout)
                else:
                    say(f"5. {BASELINE_NAMES[step]} (round {round_number + 1}) -> "
                        f"{SINK_ACCOUNT}/{SINK_CONTAINER}/{sink_folder}")
                    result = run_baseline(step, azurite, proxy, files, source_folder,
                                          sink_folder, args, cpu_pids)
                runs.append(result)
                say(f"   {result.seconds:.1f} s ({total_bytes / MIB / result.seconds:.1f} MiB/s)"
                    + (f"; PROBLEMS: {result.problems[:3]}" if result.problems else ""))
            order = order[1:] + order[:1]  # the next round starts with another run
        say("6. verifying every delivered file at the destination (read back from Azurite)")
        verify_started = time.perf_counter()
        for delivery in (run for run in runs if run.kind == "delivery"):
            delivery.problems += verify_destination(azurite, files, delivery.sink_folder)
        verify_seconds = time.perf_counter() - verify_started
        ok = report(args, files, seed_seconds, runs, source_folder, shown, bench_started,
                    machine, host_pid_note, verify_seconds)
        if not ok:
            say(f"devhost log tail:\n{host.logs()[-3000:]}")
        exit_code = 0 if ok else 1
    return exit_code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_proxy is not None:
        return serve_proxy(args.serve_proxy)
    try:
        return run(args)
    except KeyboardInterrupt:
        say("interrupted: stopped every process the benchmark started")
        return 130


if __name__ == "__main__":
    sys.exit(main())

