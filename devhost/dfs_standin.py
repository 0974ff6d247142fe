"""A local ADLS Gen2 account: Azurite's Blob API plus a Data Lake (`dfs`) endpoint, one port.

Azurite has no `dfs` endpoint, so this stand-in sits in front of it. Every account reaches it
path-style, ``http://127.0.0.1:<port>/<account>``; for a loopback URL the Data Lake SDK uses the
same address for its Blob calls (it only swaps ``.dfs.`` for ``.blob.`` in host names), so one
port serves both, as both endpoints of one Azure account serve the same data:

- Data Lake requests (a ``resource=`` or ``action=`` query, or PATCH) are answered here
  (`devhost.dfs_operations`), after checking their Shared Key signature;
- every other request is forwarded to Azurite unchanged. For an account named hierarchical it
  then behaves as ADLS does on the Blob API: Get Account Information says
  ``x-ms-is-hns-enabled: true``, writing a blob creates its missing parent directories, and a
  directory that still holds anything cannot be deleted (409 ``DirectoryNotEmpty``).

    with DfsStandIn(azurite, hierarchical={"sequencingcore", "labsmith"}) as dfs:
        dfs.endpoint_template          # for DDD_STORAGE_ENDPOINT_TEMPLATE and DDD_DFS_...
        dfs.datalake_service("labsmith").get_file_system_client("incoming").get_paths()

What it serves and how it differs from Azure: devhost/README.md.
"""

from __future__ import annotations

import contextlib
import http.client
import ssl
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient
from azure.storage.filedatalake import DataLakeServiceClient

from devhost.azurite import LOOPBACK, AzuriteServer
from devhost.dfs_auth import Caller, caller_of, writer_of
from devhost.dfs_operations import Answer, DataLakeOperations, DfsError
from devhost.dfs_paths import FOLDER_METADATA, Namespace, rfc1123

SOCKET_TIMEOUT = 60
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailers", "transfer-encoding", "upgrade", "content-length"}
AUTHENTICATION_FAILED = DfsError(
    403, "AuthenticationFailed",
    "Server failed to authenticate the request. Make sure the value of Authorization header is "
    "formed correctly including the signature.")
DIRECTORY_NOT_EMPTY = DfsError(409, "DirectoryNotEmpty", "The recursive query parameter value "
                               "must be true to delete a non-empty directory.")


def is_data_lake_request(method: str, query: Mapping[str, str]) -> bool:
    return method == "PATCH" or "resource" in query or "action" in query or (
        method == "DELETE" and "recursive" in query)


class DfsStandIn:
    """Runs in a thread of the caller; use as a context manager (or start()/stop())."""

    def __init__(self, azurite: AzuriteServer, hierarchical: Iterable[str] = ()) -> None:
        """With an `oauth=True` Azurite it serves HTTPS with Azurite's certificate and also
        takes bearer tokens; otherwise plain HTTP and Shared Key only."""
        self.azurite = azurite
        self.hierarchical = frozenset(hierarchical)
        self.tls = azurite.oauth
        self.verify: str | bool = str(azurite.cert_path) if self.tls else True
        self.namespace = Namespace(f"{azurite.scheme}://{LOOPBACK}:{azurite.blob_port}",
                                   dict(azurite.account_keys), self.verify)
        self.operations = DataLakeOperations(self.namespace, self.hierarchical)
        self._server: ThreadingHTTPServer | None = None

    # ----- life cycle -------------------------------------------------------------------
    def start(self) -> DfsStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.azurite.cert_path, self.azurite.key_path)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, name="dfs-standin",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.namespace.close()

    def __enter__(self) -> DfsStandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # ----- addresses and clients --------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "the stand-in is not started"
        return int(self._server.server_address[1])

    @property
    def endpoint_template(self) -> str:
        return f"{self.azurite.scheme}://{LOOPBACK}:{self.port}/{{account}}"

    def account_url(self, account: str) -> str:
        return self.endpoint_template.format(account=account)

    def blob_service(self, account: str) -> BlobServiceClient:
        """A key-authenticated Blob client of one account, through the stand-in."""
        return BlobServiceClient(self.account_url(account), credential=AzureNamedKeyCredential(
            account, self.azurite.account_key(account)), connection_verify=self.verify)

    def datalake_service(self, account: str) -> DataLakeServiceClient:
        """A key-authenticated Data Lake client of one account, through the stand-in."""
        return DataLakeServiceClient(self.account_url(account), credential={
            "account_name": account, "account_key": self.azurite.account_key(account)},
            connection_verify=self.verify)

    def upstream_connection(self) -> http.client.HTTPConnection:
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.azurite.cert_path))
            return http.client.HTTPSConnection(LOOPBACK, self.azurite.blob_port,
                                               timeout=SOCKET_TIMEOUT, context=context)
        return http.client.HTTPConnection(LOOPBACK, self.azurite.blob_port,
                                          timeout=SOCKET_TIMEOUT)

    # ----- the two faces ----------------------------------------------------------------
    def answer_data_lake(self, method: str, target: str, headers: Mapping[str, str],
                         account: str, container: str, path: str,
                         query: Mapping[str, str]) -> Answer:
        caller = self._caller(method, target, headers, account)
        if caller is None:
            return AUTHENTICATION_FAILED.answer()
        lowered = {name.lower(): value for name, value in headers.items()}
        return self.operations.serve(method, account, container, path, query, lowered, caller)

    def _caller(self, method: str, target: str, headers: Mapping[str, str],
                account: str) -> Caller | None:
        return caller_of(method, target, headers, account,
                         self.azurite.account_keys.get(account), over_tls=self.tls)

    def refuse_before_forwarding(self, method: str, target: str, headers: Mapping[str, str],
                                 account: str, container: str, path: str,
                                 query: Mapping[str, str]) -> Answer | None:
        """ADLS refuses, on the Blob API, to delete a directory that holds anything."""
        if (account in self.hierarchical and method == "DELETE" and path and "comp" not in query
                and self._caller(method, target, headers, account) is not None):
            item = self.namespace.item(account, container, path)
            if item is not None and item.is_directory and self.namespace.has_children(
                    account, container, path):
                return DIRECTORY_NOT_EMPTY.answer()
        return None

    def after_forwarding(self, method: str, headers: Mapping[str, str], account: str,
                         container: str, path: str, query: Mapping[str, str],
                         answer_headers: list[tuple[str, str]], status: int) -> None:
        """What an ADLS account does besides the blob operation Azurite just did."""
        if account not in self.hierarchical or not 200 <= status < 300:
            return
        if query.get("restype") == "account" and query.get("comp") == "properties":
            answer_headers[:] = [(name, value) for name, value in answer_headers
                                 if name.lower() != "x-ms-is-hns-enabled"]
            answer_headers.append(("x-ms-is-hns-enabled", "true"))
            return
        lowered = {name.lower(): value for name, value in headers.items()}
        comp = query.get("comp")
        if method == "PUT" and path and comp in (None, "blocklist") and "restype" not in query:
            is_folder = lowered.get(f"x-ms-meta-{FOLDER_METADATA}", "").lower() == "true"
            writer = writer_of(headers)
            self.namespace.make_parents(account, container, path, owner=writer)
            self.namespace.created(account, container, path, is_directory=is_folder,
                                   owner=writer)
        elif method == "DELETE" and path and comp is None:
            self.namespace.forget(account, container, path)


class _Handler(BaseHTTPRequestHandler):
    owner: DfsStandIn
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        split = urlsplit(self.path)
        account, container, path = (unquote(split.path).lstrip("/").split("/", 2) + ["", ""])[:3]
        path = path.strip("/")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = dict(self.headers.items())
        owner = self.owner
        if is_data_lake_request(self.command, query):
            answer = owner.answer_data_lake(self.command, self.path, headers, account, container,
                                            path, query)
            self._send_answer(answer, headers)
            return
        refusal = owner.refuse_before_forwarding(self.command, self.path, headers, account,
                                                 container, path, query)
        if refusal is not None:
            self._send_answer(refusal, headers)
            return
        status, reason, answer_headers, answer_body = self._forward(headers, body)
        owner.after_forwarding(self.command, headers, account, container, path, query,
                               answer_headers, status)
        self._send(status, reason, answer_headers, answer_body)

    def _forward(self, headers: dict[str, str],
                 body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        forwarded = {name: value for name, value in headers.items()
                     if name.lower() not in _HOP_BY_HOP}
        if body or self.command in ("PUT", "POST"):
            forwarded["Content-Length"] = str(len(body))
        for attempt in range(2):
            if self._upstream is None:
                self._upstream = self.owner.upstream_connection()
            try:
                self._upstream.request(self.command, self.path, body=body, headers=forwarded)
                response = self._upstream.getresponse()
                return response.status, response.reason, response.getheaders(), response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._upstream.close()
                self._upstream = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _send_answer(self, answer: Answer, request_headers: Mapping[str, str]) -> None:
        lowered = {name.lower(): value for name, value in request_headers.items()}
        headers = {"x-ms-request-id": str(uuid.uuid4()),
                   "x-ms-version": lowered.get("x-ms-version", ""),
                   "Date": rfc1123(datetime.now(UTC)), "Server": "devhost-dfs-standin",
                   **answer.headers}
        if "x-ms-client-request-id" in lowered:
            headers["x-ms-client-request-id"] = lowered["x-ms-client-request-id"]
        reason = http.client.responses.get(answer.status, "")
        self._send(answer.status, reason, list(headers.items()), answer.body)

    def _send(self, status: int, reason: str, headers: list[tuple[str, str]],
              body: bytes) -> None:
        head = self.command == "HEAD"
        lines = [f"HTTP/1.1 {status} {reason}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers
                  if name.lower() not in _HOP_BY_HOP
                  or (head and name.lower() == "content-length")]
        if not head:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write("".join(lines).encode("latin-1") + (b"" if head else body))

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = do_PATCH = do_OPTIONS = _handle
