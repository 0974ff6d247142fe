"""A local stand-in for Azure Key Vault's secrets, speaking the REST protocol the
`azure-keyvault-secrets` SDK uses, so the real `SecretClient` runs against it unchanged.

What it serves (learn.microsoft.com/rest/api/keyvault/secrets):
- `GET /secrets/{name}/{version}` (version empty: the latest) -> 200 SecretBundle `{value, id,
  attributes}`, or 404 `SecretNotFound` in Key Vault's words;
- `PUT /secrets/{name}` `{value}` -> 200 with the new version (rotation);
- every request needs `api-version` (one the SDK knows; else 400 `BadParameter`) and a bearer
  token for `https://vault.azure.net` that has not expired: without one it answers 401 with
  Key Vault's challenge, `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"`, which is how the SDK learns where to get a token
  (`ChallengeAuthPolicy`); with `deny=True` a valid token gets 403 `Forbidden`
  (`ForbiddenByRbac`: no Key Vault Secrets User role).
It serves HTTPS only (the SDK refuses bearer tokens over http), with a self-signed certificate.

Differences from Azure: no deleted-secret recovery, listing, tags, expiry or access policies;
tokens are checked for audience and lifetime, not signature.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devhost.standin_http import (
    TENANT_ID,
    AnsweringStandIn,
    StandInServer,
    TlsFiles,
    bearer_claims,
)

AUDIENCE = "https://vault.azure.net"
CHALLENGE = (f'Bearer authorization="https://login.microsoftonline.com/{TENANT_ID}", '
             f'resource="{AUDIENCE}"')
# the versions azure-keyvault-secrets 4.12 can ask for (its ApiVersion enum)
API_VERSIONS = frozenset({"2026-04-01", "2025-07-01", "7.6", "7.5", "7.4", "7.3", "7.2",
                          "7.1", "7.0", "2016-10-01"})
SECRET_PATH = re.compile(
    r"/secrets/(?P<name>[0-9A-Za-z-]{1,127})(?:/(?P<version>[0-9a-f]{32})?)?/?")


@dataclass
class SecretVersion:
    version: str
    value: str
    created: int


@dataclass
class KeyVaultStandIn(AnsweringStandIn):
    SERVER_NAME = "keyvault-standin"

    tls: TlsFiles
    port: int = 0
    deny: bool = False  # answer 403 to a valid token: the identity has no role on the vault
    secrets: dict[str, list[SecretVersion]] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)  # names of the secrets served (200)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: StandInServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url + "/"

    def set_secret(self, name: str, value: str) -> str:
        """Store a new version of a secret (as `az keyvault secret set` does); its version."""
        version = uuid.uuid4().hex
        with self.lock:
            self.secrets.setdefault(name, []).append(SecretVersion(version, value,
                                                                   int(time.time())))
        return version

    def reads_of(self, name: str) -> int:
        with self.lock:
            return self.reads.count(name)

    def _bundle(self, name: str, secret: SecretVersion) -> dict[str, Any]:
        return {"value": secret.value, "id": f"{self.url}secrets/{name}/{secret.version}",
                "attributes": {"enabled": True, "created": secret.created,
                               "updated": secret.created, "recoveryLevel": "Recoverable",
                               "recoverableDays": 90}}

    def answer(self, method: str, target: str, authorization: str | None,
               body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(target)
        api_version = (parse_qs(parts.query).get("api-version") or [""])[0]
        if api_version not in API_VERSIONS:
            return 400, {"error": {"code": "BadParameter", "message":
                         f"The specified version ({api_version}) is not recognized. Consider "
                         "using the latest supported version (2025-07-01)."}}, {}
        if bearer_claims(authorization, {AUDIENCE}) is None:
            return 401, {"error": {"code": "Unauthorized", "message":
                         "AKV10000: Request is missing a Bearer or PoP token."}}, \
                {"WWW-Authenticate": CHALLENGE}
        if self.deny:
            return 403, {"error": {"code": "Forbidden", "message":
                         "Caller is not authorized to perform action on resource.",
                         "innererror": {"code": "ForbiddenByRbac"}}}, {}
        match = SECRET_PATH.fullmatch(parts.path)
        if match is None:
            return 404, {"error": {"code": "NotFound", "message": "Not found."}}, {}
        name, version = match["name"], match["version"]
        if method == "PUT" and not version:
            document = _json_object(body)
            if not isinstance(document.get("value"), str):
                return 400, {"error": {"code": "BadParameter",
                                       "message": "The secret value is required."}}, {}
            new_version = self.set_secret(name, document["value"])
            with self.lock:
                stored = next(v for v in self.secrets[name] if v.version == new_version)
            return 200, self._bundle(name, stored), {}
        if method != "GET":
            return 405, {"error": {"code": "MethodNotAllowed", "message": method}}, {}
        with self.lock:
            versions = self.secrets.get(name, [])
            found = next((v for v in versions if v.version == version), None) if version \
                else (versions[-1] if versions else None)
            if found is not None:
                self.reads.append(name)
        if found is None:
            return 404, {"error": {"code": "SecretNotFound", "message":
                         f"A secret with (name/id) {name} was not found in this key vault. If "
                         "you recently deleted this secret you may be able to recover it using "
                         "the correct recovery command."}}, {}
        return 200, self._bundle(name, found), {}


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def main() -> None:
    """``python -m devhost.keyvault_standin --port 8443 --tls-dir DIR --secret NAME=VALUE``."""
    parser = argparse.ArgumentParser(prog="python -m devhost.keyvault_standin")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tls-dir", type=Path, required=True,
                        help="folder holding standin-cert.pem and standin-key.pem")
    parser.add_argument("--secret", action="append", default=[], help="NAME=VALUE to store")
    options = parser.parse_args()
    tls = TlsFiles(options.tls_dir / "standin-cert.pem", options.tls_dir / "standin-key.pem")
    standin = KeyVaultStandIn(tls=tls, port=options.port)
    for pair in options.secret:
        name, _, value = pair.partition("=")
        standin.set_secret(name, value)
    standin.start()
    print(f"Key Vault stand-in on {standin.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.stop()


if __name__ == "__main__":
    main()
