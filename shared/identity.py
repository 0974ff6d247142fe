"""The one place that decides how the app proves who it is to Azure.

Storage: an account key when one is configured for the account (Azurite, local runs); otherwise
Azure AD through `DefaultAzureCredential` (in Azure: the Function App's managed identity, the
user-assigned one when AZURE_CLIENT_ID is set). Credentials are built on first use, never at import.
"""

from __future__ import annotations

import threading

from azure.core.credentials import AzureNamedKeyCredential, TokenCredential
from azure.identity import DefaultAzureCredential

from shared.config import Settings

_credentials: dict[str | None, DefaultAzureCredential] = {}
_credentials_lock = threading.Lock()


def azure_ad_credential(settings: Settings) -> TokenCredential:
    """One DefaultAzureCredential per managed identity client id, kept for the process
    (it caches its tokens, so building one per call would fetch a token per call)."""
    client_id = settings.azure_client_id
    with _credentials_lock:
        credential = _credentials.get(client_id)
        if credential is None:
            credential = DefaultAzureCredential(managed_identity_client_id=client_id)
            _credentials[client_id] = credential
        return credential


def storage_credential(
    account: str, settings: Settings
) -> AzureNamedKeyCredential | TokenCredential:
    """The credential for one storage account: its key when configured, else Azure AD."""
    key = settings.account_key(account)
    if key is not None:
        return AzureNamedKeyCredential(account, key)
    return azure_ad_credential(settings)
