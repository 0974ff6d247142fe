"""What the local stand-ins for Azure services share: a threaded HTTP(S) server, its
self-signed certificate, JSON answers, and Entra ID (Azure AD) shaped bearer tokens.

The Key Vault and Communication Services SDKs send bearer tokens over TLS only, so their
stand-ins serve HTTPS with a certificate made here (`TlsFiles.create`); the app trusts it
through `REQUESTS_CA_BUNDLE`, as the Azurite OAuth set-up does. Tokens are unsigned JWTs as
Azure AD shapes them (`issue_token`); a stand-in accepts one whose audience is its service's and
which has not expired (`bearer_claims`), as Azurite's `--oauth basic` does for storage.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

from devhost.azurite import write_self_signed_certificate

LOOPBACK = "127.0.0.1"
TENANT_ID = "6d3c2f0e-7a51-4c3e-9b8e-0d45d4c0ffee"  # the local stand-ins' tenant
TOKEN_LIFETIME_SECONDS = 3600
CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""

    cert_path: Path
    key_path: Path

    @classmethod
    def create(cls, directory: Path) -> TlsFiles:
        directory.mkdir(parents=True, exist_ok=True)
        files = cls(directory / "standin-cert.pem", directory / "standin-key.pem")
        write_self_signed_certificate(files.cert_path, files.key_path)
        return files

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


class StandInServer:
    """One ThreadingHTTPServer on loopback in a daemon thread, HTTPS when given `tls`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, port: int = 0,
                 tls: TlsFiles | None = None, name: str = "standin") -> None:
        self.server = ThreadingHTTPServer((LOOPBACK, port), handler)
        self.server.daemon_threads = True
        self.tls = tls
        if tls is not None:
            self.server.socket = tls.server_context().wrap_socket(self.server.socket,
                                                                  server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=name)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler with JSON helpers; quiet (no access log on stderr)."""

    protocol_version = "HTTP/1.1"

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        encoded = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, *args: Any) -> None:
        pass


class AnsweringStandIn:
    """Serving for a stand-in whose `answer(method, target, authorization, body)` gives
    (status, JSON body, headers): one `StandInServer` on `port`, HTTPS with `tls`. Subclasses
    (dataclasses) hold `port`, `tls` and `_server`."""

    SERVER_NAME = "standin"
    port: int
    tls: TlsFiles | None
    _server: StandInServer | None

    def answer(self, method: str, target: str, authorization: str | None,
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def start(self) -> Self:
        standin = self

        class Handler(JsonHandler):
            def _serve(self) -> None:
                status, body, headers = standin.answer(
                    self.command, self.path, self.headers.get("Authorization"), self.read_body())
                self.send_json(status, body, headers)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 (http.server's naming)

        self._server = StandInServer(Handler, port=self.port, tls=self.tls,
                                     name=self.SERVER_NAME).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ----- tokens ------------------------------------------------------------------------------
def _b64url(document: dict[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def issue_token(resource: str, client_id: str | None = None) -> tuple[str, int]:
    """An access token for `resource` as Entra ID shapes one (unsigned), and when it expires."""
    now = int(time.time())
    expires_on = now + TOKEN_LIFETIME_SECONDS
    object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"managed-identity:{client_id or 'system'}"))
    claims = {"aud": resource.rstrip("/"), "iss": f"https://sts.windows.net/{TENANT_ID}/",
              "iat": now - 60, "nbf": now - 60, "exp": expires_on, "oid": object_id,
              "sub": object_id, "tid": TENANT_ID, "appid": client_id or object_id, "ver": "1.0"}
    return f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}.", expires_on


def bearer_claims(authorization: str | None, audiences: set[str]) -> dict[str, Any] | None:
    """The claims of a bearer token for one of `audiences` that is valid now; else None."""
    scheme, _, token = (authorization or "").partition(" ")
    parts = token.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    now = time.time()
    if not isinstance(claims, dict) or str(claims.get("aud", "")).rstrip("/") not in audiences:
        return None
    if not str(claims.get("iss", "")).startswith("https://sts.windows.net/"):
        return None
    not_before, expires = float(claims.get("nbf", now)), float(claims.get("exp", 0))
    if not_before > now + CLOCK_SKEW_SECONDS or expires <= now:
        return None
    return claims
