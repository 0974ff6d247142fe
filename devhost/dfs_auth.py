"""Who is calling the Data Lake stand-in, and what ADLS lets that caller do with access control.

- Shared Key: the signature is checked by running the storage SDK's own signing policy over the
  request as received. Such a caller is a super-user (ADLS: "In the case of Shared Key, the
  caller effectively gains 'super-user' access ... including setting owner and changing ACLs").
- Bearer token (only over HTTPS, as Azure and the SDK require): checked as Azurite's
  ``--oauth basic`` mode checks one, by its claims only (audience Azure Storage, an Entra
  issuer, inside its validity); the caller is the token's ``oid``. The stand-in knows no role
  assignments, so it treats every such caller as holding Storage Blob Data Contributor, the
  role the app holds on a sink: it may change the ACL of a path it owns only, and no owner
  (ADLS access control model: Contributor "can modify the ACL of items that are owned by the
  security principal"; "Super-user access is the only authorized manner to change the owner").
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

from devhost.dfs_acl import SUPERUSER

STORAGE_AUDIENCES = ("https://storage.azure.com", "https://storage.azure.com/",
                     "e406a681-f3d4-42a8-90b6-c2b029497af1")
ENTRA_ISSUERS = ("https://sts.windows.net/", "https://login.microsoftonline.com/")
CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True)
class Caller:
    object_id: str  # SUPERUSER for Shared Key

    @property
    def superuser(self) -> bool:
        return self.object_id == SUPERUSER

    def may_change_access(self, owner: str) -> bool:
        return self.superuser or owner == self.object_id


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def caller_of(method: str, target: str, headers: Mapping[str, str], account: str,
              key: str | None, *, over_tls: bool) -> Caller | None:
    """The authenticated caller of a request, or None when it is not authenticated."""
    authorization = _header(headers, "authorization")
    if authorization.startswith("SharedKey "):
        valid = key is not None and shared_key_is_valid(method, target, headers, account, key)
        return Caller(SUPERUSER) if valid else None
    if authorization.startswith("Bearer ") and over_tls:
        claims = token_claims(authorization.removeprefix("Bearer ").strip())
        return Caller(str(claims["oid"])) if claims and claims.get("oid") else None
    return None


def writer_of(headers: Mapping[str, str]) -> str:
    """Who owns a path written through the Blob API (Azurite authenticated the request)."""
    authorization = _header(headers, "authorization")
    if authorization.startswith("Bearer "):
        claims = token_claims(authorization.removeprefix("Bearer ").strip())
        if claims and claims.get("oid"):
            return str(claims["oid"])
    return SUPERUSER


def shared_key_is_valid(method: str, target: str, headers: Mapping[str, str], account: str,
                        key: str) -> bool:
    given = _header(headers, "authorization")
    if not given.startswith(f"SharedKey {account}:"):
        return False
    request = PipelineRequest(
        HttpRequest(method, f"http://127.0.0.1{target}",
                    headers={name: value for name, value in headers.items()
                             if name.lower() != "authorization"}),
        PipelineContext(None))
    SharedKeyCredentialPolicy(account, key).on_request(request)
    return hmac.compare_digest(request.http_request.headers["Authorization"], given)


def token_claims(token: str) -> dict[str, Any] | None:
    """The claims of a token Azurite's basic OAuth would accept, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return None
    if not isinstance(claims, dict):
        return None
    now = time.time()
    try:
        in_time = float(claims["nbf"]) - CLOCK_SKEW_SECONDS <= now \
            <= float(claims["exp"]) + CLOCK_SKEW_SECONDS
    except (KeyError, TypeError, ValueError):
        return None
    audience_ok = claims.get("aud") in STORAGE_AUDIENCES
    issuer_ok = str(claims.get("iss", "")).startswith(ENTRA_ISSUERS)
    return claims if in_time and audience_ok and issuer_ok else None
