"""The one place that decides how the app proves who it is to Azure.

Storage: an account key when one is configured for the account (Azurite, local runs); otherwise
Azure AD through `DefaultAzureCredential` (in Azure: the Function App's managed identity, the
user-assigned one when AZURE_CLIENT_ID is set). Credentials are built on first use, never at import.
The asyncio storage clients (`shared.storage.aio`) use the same credential through
`AsyncTokenAdapter`, so the process asks Azure AD for one token cache, not two.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from azure.core.credentials import AccessToken, AzureNamedKeyCredential, TokenCredential
from azure.identity import DefaultAzureCredential

from shared.core.config import Settings

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


class AsyncTokenAdapter:
    """The process's `TokenCredential` as an `AsyncTokenCredential`: a token it must fetch is
    fetched in a worker thread, so the event loop never waits on Azure AD. Closing it leaves
    the credential open (the synchronous clients keep using it)."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **options: Any) -> AccessToken:
        return await asyncio.to_thread(self._credential.get_token, *scopes, **options)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncTokenAdapter:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None


def async_storage_credential(
    account: str, settings: Settings
) -> AzureNamedKeyCredential | AsyncTokenAdapter:
    """`storage_credential` for the asyncio clients."""
    credential = storage_credential(account, settings)
    if isinstance(credential, AzureNamedKeyCredential):
        return credential
    return AsyncTokenAdapter(credential)
