"""A local stand-in for Azure Communication Services e-mail, speaking the REST protocol the
`azure-communication-email` SDK uses, so the real `EmailClient` runs against it unchanged.

What it serves (learn.microsoft.com/rest/api/communication/dataplane/email):
- `POST /emails:send?api-version=...` with an `EmailMessage` (`senderAddress`,
  `recipients.to[].address`, `content.subject`, `content.plainText`/`html`) -> 202 with
  `Operation-Location` (where to poll), `Retry-After` and `{id, status: "Running"}`; a sender
  other than the resource's own address is refused (400, as a domain not linked to the
  resource is), a message without recipients or subject too (400 `BadRequest`);
- `GET /emails/operations/{id}?api-version=...` -> `{id, status: "Succeeded"}`.
Every request needs a bearer token for `https://communication.azure.com` that has not expired
(401 otherwise) and an api-version the SDK knows (400 otherwise). It serves HTTPS only (the SDK
sends bearer tokens over TLS only). Each accepted message is kept (`messages`) and, when
`outbox` is given, written there as one JSON file.

Differences from Azure: nothing is delivered to a mailbox; no attachments, engagement tracking,
repeatability headers, quotas or suppression lists; the operation succeeds at its first poll.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devhost.standin_http import (
    AnsweringStandIn,
    StandInServer,
    TlsFiles,
    bearer_claims,
)

AUDIENCE = "https://communication.azure.com"
# the versions azure-communication-email 1.1 can ask for (its ApiVersion enum)
API_VERSIONS = frozenset({"2023-03-31", "2024-07-01-preview", "2025-09-01"})
OPERATION_PATH = re.compile(r"/emails/operations/(?P<id>[0-9a-fA-F-]{36})")


@dataclass
class EmailStandIn(AnsweringStandIn):
    SERVER_NAME = "email-standin"

    tls: TlsFiles
    sender: str  # the resource's sender address (DoNotReply@<domain> in Azure)
    port: int = 0
    outbox: Path | None = None
    retry_after_seconds: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    operations: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: StandInServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def received(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.messages)

    def answer(self, method: str, target: str, authorization: str | None,
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        api_version = (parse_qs(parts.query).get("api-version") or [""])[0]
        if api_version not in API_VERSIONS:
            return 400, _error("InvalidApiVersion", f"api-version '{api_version}' is not "
                               "supported"), {}
        if bearer_claims(authorization, {AUDIENCE}) is None:
            return 401, _error("Denied", "Denied by the resource provider."), {}
        if method == "POST" and parts.path == "/emails:send":
            return self._send(body, api_version)
        match = OPERATION_PATH.fullmatch(parts.path)
        if method == "GET" and match:
            with self.lock:
                status = self.operations.get(match["id"])
            if status is None:
                return 404, _error("NotFound", "Operation not found."), {}
            return 200, {"id": match["id"], "status": status, "error": None}, {}
        return 404, _error("NotFound", "Resource not found."), {}

    def _send(self, body: bytes, api_version: str) -> tuple[int, Any, dict[str, str]]:
        try:
            message = json.loads(body)
        except ValueError:
            return 400, _error("BadRequest", "The request body is not JSON."), {}
        if not isinstance(message, dict):
            return 400, _error("BadRequest", "The request body must be an EmailMessage."), {}
        if message.get("senderAddress") != self.sender:
            return 400, _error("DomainNotLinked", "The specified sender domain has not been "
                               "linked."), {}
        recipients = (message.get("recipients") or {}).get("to") or []
        content = message.get("content") or {}
        if not recipients or not all(isinstance(r, dict) and r.get("address")
                                     for r in recipients):
            return 400, _error("BadRequest", "At least one recipient is required."), {}
        if not content.get("subject") or not (content.get("plainText") or content.get("html")):
            return 400, _error("BadRequest", "A subject and a body are required."), {}
        operation_id = str(uuid.uuid4())
        with self.lock:
            self.messages.append(message)
            self.operations[operation_id] = "Succeeded"
            if self.outbox is not None:
                self.outbox.mkdir(parents=True, exist_ok=True)
                (self.outbox / f"{len(self.messages):04d}-{operation_id}.json").write_text(
                    json.dumps(message, indent=2, ensure_ascii=False), encoding="utf-8")
        location = f"{self.url}/emails/operations/{operation_id}?api-version={api_version}"
        return 202, {"id": operation_id, "status": "Running"}, {
            "Operation-Location": location, "Retry-After": str(self.retry_after_seconds)}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def main() -> None:
    """``python -m devhost.email_standin --port 8444 --tls-dir DIR --sender A --outbox DIR``."""
    parser = argparse.ArgumentParser(prog="python -m devhost.email_standin")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--tls-dir", type=Path, required=True,
                        help="folder holding standin-cert.pem and standin-key.pem")
    parser.add_argument("--sender", required=True, help="the resource's sender address")
    parser.add_argument("--outbox", type=Path, required=True, help="where to keep each mail")
    options = parser.parse_args()
    tls = TlsFiles(options.tls_dir / "standin-cert.pem", options.tls_dir / "standin-key.pem")
    standin = EmailStandIn(tls=tls, sender=options.sender, port=options.port,
                           outbox=options.outbox).start()
    print(f"e-mail stand-in on {standin.url}, mail kept in {options.outbox}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
