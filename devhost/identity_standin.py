"""A local stand-in for the managed identity endpoint App Service and Azure Functions give an app.

On Azure the platform sets ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` in the app's
environment; azure-identity's `ManagedIdentityCredential` (inside `DefaultAzureCredential`)
then asks ``GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>`` with the header
``X-IDENTITY-HEADER: {IDENTITY_HEADER}`` and gets ``{"access_token", "expires_on", "resource",
"token_type", "client_id"}`` (the App Service managed identity REST protocol). This stand-in
speaks that protocol on loopback, so the app's real credential code runs unchanged in devhost
and takes the Azure AD path: no account key, bearer tokens, user delegation keys.

It differs from Azure in what it issues: unsigned JWTs (``alg: none``) with the claims Azurite's
``--oauth basic`` checks (``aud`` the resource, an Azure AD ``iss``, ``iat``/``nbf``/``exp``,
and ``oid``/``tid`` for user delegation keys). Azurite accepts them; Azure would not. A request
without the right header is refused with 401, as the platform refuses it.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2019-08-01"
TOKEN_PATH = "/msi/token"
TOKEN_SECONDS = 3600


def _b64url(document: dict[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class IdentityStandIn:
    """The endpoint, in a thread of the caller; `environ()` is what the platform would set."""

    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    header_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    tokens_issued: list[str] = field(default_factory=list)  # the resources asked for
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{TOKEN_PATH}"

    def environ(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.header_secret}

    def token_for(self, resource: str) -> tuple[str, int]:
        now = int(time.time())
        expires_on = now + TOKEN_SECONDS
        claims = {"aud": resource, "iss": f"https://sts.windows.net/{self.tenant_id}/",
                  "iat": now - 60, "nbf": now - 60, "exp": expires_on, "oid": self.object_id,
                  "sub": self.object_id, "tid": self.tenant_id, "appid": self.client_id,
                  "ver": "1.0"}
        return f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}.", expires_on

    def start(self) -> IdentityStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                parts = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(parts.query).items()}
                if parts.path != TOKEN_PATH:
                    return self._answer(404, {"message": "not found"})
                if self.headers.get("X-IDENTITY-HEADER") != stand_in.header_secret:
                    return self._answer(401, {"statusCode": 401,
                                              "message": "X-IDENTITY-HEADER is missing or wrong"})
                if query.get("api-version") != API_VERSION or not query.get("resource"):
                    return self._answer(400, {"statusCode": 400,
                                              "message": "api-version and resource are required"})
                resource = query["resource"].removesuffix("/.default")
                token, expires_on = stand_in.token_for(resource)
                stand_in.tokens_issued.append(resource)
                return self._answer(200, {"access_token": token, "expires_on": str(expires_on),
                                          "resource": resource, "token_type": "Bearer",
                                          "client_id": stand_in.client_id})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                encoded = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> IdentityStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
