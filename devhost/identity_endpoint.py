"""The managed identity endpoint of App Service and Azure Functions, as devhost serves it.

On Azure the platform sets `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` in the app's environment;
`GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<uri>[&client_id=<id>]` with the
header `X-IDENTITY-HEADER: {IDENTITY_HEADER}` answers `{access_token, expires_on, resource,
token_type, client_id}` (learn.microsoft.com/azure/app-service/overview-managed-identity, "REST
endpoint reference"). devhost sets both variables for the app it hosts (unless already set) and
answers here with tokens shaped as Entra ID's, so `DefaultAzureCredential` (its
ManagedIdentityCredential) runs unchanged against the Key Vault and e-mail stand-ins.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from devhost.standin_http import issue_token

PATH = "/msi/token"
API_VERSION = "2019-08-01"


def token_answer(query: Mapping[str, str], sent_header: str | None,
                 expected_header: str) -> tuple[int, dict[str, Any]]:
    """The endpoint's status and JSON answer for one request."""
    if sent_header is None or not hmac.compare_digest(sent_header, expected_header):
        return 401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"}
    if query.get("api-version") != API_VERSION:
        return 400, {"statusCode": 400, "message": f"api-version must be {API_VERSION}"}
    resource = query.get("resource", "")
    if not resource.startswith("https://"):
        return 400, {"statusCode": 400, "message": "resource must be an https:// URI"}
    client_id = query.get("client_id") or None
    token, expires_on = issue_token(resource, client_id)
    return 200, {"access_token": token, "expires_on": str(expires_on), "resource": resource,
                 "token_type": "Bearer", "client_id": client_id or "system-assigned"}
