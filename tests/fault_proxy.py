"""A fault-injecting HTTP proxy between the app and Azurite, for tests (loopback only).

    with FaultProxy(azurite.blob_port, fault_rate=0.3, seed=7) as proxy:
        settings = {"DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template, ...}

Every request to `http://127.0.0.1:<proxy port>/<account>/...` is forwarded to Azurite and
recorded as an `Exchange` (method, path, query, a few headers, fault, status, order). A fraction
of the app's requests (`fault_rate`, `random.Random(seed)`, so the sequence of faults is
reproducible; which request gets which depends on thread timing) are answered instead with:

- ``busy``: 503 ServerBusy, as Azure answers when throttling (the request never reaches Azurite);
- ``reset``: the connection reset before the request is forwarded;
- ``reset-after``: the request forwarded and done by Azurite, then the connection reset instead
  of the answer (the app cannot know it was done).

`rules` decide faults for chosen requests (``lambda exchange: "busy" if ... else None``),
`before_forward` hooks act on the storage before a request is forwarded (e.g. rewrite a source
blob), `rewrite_request` may change what is forwarded (headers, body), `corrupt` a response
body, `delay` slows chosen requests. Random faults hit
only the app's requests (its SDK's user agent); Azurite itself reads a copy source over its own
port, whatever host the SAS URL names, so those reads never pass here. Sockets time out after
`SOCKET_TIMEOUT` seconds; `stop()` closes the listening socket and every connection.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

SOCKET_TIMEOUT = 60
FAULT_KINDS = ("busy", "reset", "reset-after")
_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "content-length",
}
_BUSY_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>'
    b"<Message>The server is busy (injected by the test proxy).</Message></Error>"
)


@dataclass
class Exchange:
    """One request through the proxy."""

    seq: int
    method: str
    path: str  # URL-decoded: /account/container/blob
    query: dict[str, str]  # without the SAS signature
    headers: dict[str, str]  # lower-cased names
    from_app: bool
    fault: str | None = None
    status: int | None = None
    done_seq: int | None = None  # order in which answers were delivered (None: never)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.path.split("/")[1]

    @property
    def blob_name(self) -> str:
        """The blob path after the container (no leading slash), '' for service/container calls."""
        parts = self.path.split("/", 3)
        return parts[3] if len(parts) > 3 else ""

    @property
    def is_copy_from_url(self) -> bool:
        """Put Block From URL, Copy Blob From URL, Put Blob From URL: the service reads a source."""
        return self.method == "PUT" and "x-ms-copy-source" in self.headers

    @property
    def is_commit(self) -> bool:
        return self.method == "PUT" and self.query.get("comp") == "blocklist"

    @property
    def delivered(self) -> bool:
        return self.done_seq is not None and self.fault is None


Rule = Callable[[Exchange], str | None]


def is_app_request(headers: dict[str, str]) -> bool:
    return "azsdk-python" in headers.get("user-agent", "")


class FaultProxy:
    def __init__(
        self,
        upstream_port: int,
        *,
        fault_rate: float = 0.0,
        seed: int = 0,
        kinds: tuple[str, ...] = FAULT_KINDS,
        upstream_host: str = "127.0.0.1",
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.fault_rate = fault_rate
        self.kinds = kinds
        self.rules: list[Rule] = []
        self.before_forward: list[Callable[[Exchange], None]] = []
        self.corrupt: Callable[[Exchange, bytes], bytes] | None = None
        self.rewrite_request: (
            Callable[[Exchange, dict[str, str], bytes], tuple[dict[str, str], bytes]] | None
        ) = None
        self.delay: Callable[[Exchange], float] | None = None
        self.exchanges: list[Exchange] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._done = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # ----- life cycle ---------------------------------------------------------------------
    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_ProxyHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def endpoint_template(self) -> str:
        return f"http://127.0.0.1:{self.port}/{{account}}"

    # ----- what happened ------------------------------------------------------------------
    def app_exchanges(self) -> list[Exchange]:
        with self._lock:
            return [exchange for exchange in self.exchanges if exchange.from_app]

    def mark(self) -> int:
        """The number of answers delivered so far (compare with `Exchange.done_seq`)."""
        with self._lock:
            return self._done

    def reset_counts(self) -> None:
        with self._lock:
            self.exchanges.clear()

    # ----- used by the handler ------------------------------------------------------------
    def _record(self, method: str, target: str, headers: dict[str, str]) -> Exchange:
        split = urlsplit(target)
        query = {key: value for key, value in parse_qsl(split.query) if key != "sig"}
        with self._lock:
            exchange = Exchange(
                seq=len(self.exchanges),
                method=method,
                path=unquote(split.path),
                query=query,
                headers=headers,
                from_app=is_app_request(headers),
            )
            self.exchanges.append(exchange)
        return exchange

    def _choose_fault(self, exchange: Exchange) -> str | None:
        for rule in self.rules:
            fault = rule(exchange)
            if fault:
                return fault
        if not exchange.from_app:
            return None
        with self._lock:
            if self.fault_rate and self._random.random() < self.fault_rate:
                return self._random.choice(self.kinds)
        return None

    def _answered(self, exchange: Exchange, status: int | None) -> None:
        with self._lock:
            exchange.status = status
            self._done += 1
            exchange.done_seq = self._done


class _ProxyHandler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    _upstream: http.client.HTTPConnection | None = None

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.owner._lock:
                self.owner._connections.discard(self.connection)
            if self._upstream is not None:
                self._upstream.close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Close the client's connection with a TCP reset."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()

    def _forward(
        self, exchange: Exchange, body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self.owner.rewrite_request is not None:
            headers, body = self.owner.rewrite_request(exchange, headers, body)
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            if self._upstream is None:
                self._upstream = http.client.HTTPConnection(
                    *self.owner.upstream, timeout=SOCKET_TIMEOUT
                )
            try:
                self._upstream.request(self.command, self.path, body=body, headers=headers)
                response = self._upstream.getresponse()
                answer = response.read()
                return response.status, response.reason, response.getheaders(), answer
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._upstream.close()
                self._upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _proxy(self) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner = self.owner
        exchange = owner._record(self.command, self.path, headers)
        if owner.delay is not None:
            time.sleep(owner.delay(exchange))
        exchange.fault = owner._choose_fault(exchange)
        if exchange.fault == "reset":
            owner._answered(exchange, None)
            self._reset()
            return
        if exchange.fault == "busy":
            self._send(503, "Server Busy", [
                ("x-ms-error-code", "ServerBusy"), ("Content-Type", "application/xml"),
            ], _BUSY_BODY)
            owner._answered(exchange, 503)
            return
        for hook in owner.before_forward:
            hook(exchange)
        status, reason, response_headers, answer = self._forward(exchange, body)
        if exchange.fault == "reset-after":
            owner._answered(exchange, None)
            self._reset()
            return
        if owner.corrupt is not None and self.command == "GET":
            answer = owner.corrupt(exchange, answer)
        self._send(status, reason, response_headers, answer, head=self.command == "HEAD")
        owner._answered(exchange, status)

    def _send(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        head: bool = False,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {reason}\r\n"]
        lines += [
            f"{name}: {value}\r\n"
            for name, value in headers
            if name.lower() not in _HOP_BY_HOP or (head and name.lower() == "content-length")
        ]
        if not head:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        self.wfile.write("".join(lines).encode("latin-1") + (b"" if head else body))

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = do_OPTIONS = _proxy
