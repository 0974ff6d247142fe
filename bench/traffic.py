"""Storage traffic of a run, counted by a byte-counting HTTP/1.1 proxy in front of Azurite.

Every storage client of a run (the app through ``DDD_STORAGE_ENDPOINT_TEMPLATE``, the baselines
through their endpoint) goes through the proxy, a child process (``python -m bench.traffic
PORT``). ``/proc/<pid>/io`` cannot do this: ``rchar``/``wchar`` count read()/write() only, and
Python sockets use recv()/send(), which the kernel does not count there (measured: 0 bytes for
50 MiB through a socket). The proxy follows the request and response framing (Content-Length,
chunked), so it tells blob content (GET Blob bodies, per blob; Put Blob and Put Block bodies)
from HTTP heads, listings and the app's own work pages. Azurite's own requests through it (its
copy-source access check, ``User-Agent: axios``) are counted apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from bench.common import KIB, MANIFEST_FOLDER, REPO

PROXY_BUFFER = 256 * KIB
HEAD_LIMIT = 64 * KIB


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
            [sys.executable, "-m", "bench.traffic", str(self.target_port)], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
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
    """What one run added to the proxy's counters."""
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


if __name__ == "__main__":
    sys.exit(serve_proxy(int(sys.argv[1])))
