"""Read-only links for a share: one SAS per blob, every one of a share expiring at the same time.

In Azure the accounts have no usable key, so each link is a *user delegation* SAS: the app asks
the account for a user delegation key (its identity needs a data role with
`generateUserDelegationKey`: Storage Blob Delegator or Reader on a source, Data Owner on its
work account) valid from the SAS start to the share's expiry (at most 7 days, Azure's limit),
and signs every link of the share with it, locally. Read permission only (`sp=r`), one blob
each (`sr=b`), HTTPS only when the endpoint is HTTPS. With a configured account key (Azurite
over plain HTTP) the links are service SAS signed with that key instead.

Revoking: a user delegation SAS cannot use a stored access policy (Azure refuses `si` with a
delegation key, as Azurite does), and one key cannot be revoked alone. What voids every link
signed with the account's delegation keys before its expiry is revoking all of the account's
user delegation keys (`az storage account revoke-delegation-keys`, an Azure Resource Manager
action on the account), which also voids every other share of that account and the copy
requests of deliveries running from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from shared.core.config import Settings

SigningKind = Literal["user-delegation-key", "account-key"]


class ReadLinks:
    """Read-only SAS URLs for blobs of one account, valid from `start` to `expiry`. Never log
    a URL it makes: use `shared.storage.clients.redact`."""

    def __init__(self, service: BlobServiceClient, settings: Settings, *, start: datetime,
                 expiry: datetime) -> None:
        account = service.account_name
        assert account is not None
        self._service = service
        self._account = account
        self._start = start
        self._expiry = expiry
        self._https_only = service.url.startswith("https://")
        self._account_key = settings.account_key(account)
        self._delegation_key = None
        if self._account_key is None:
            self._delegation_key = service.get_user_delegation_key(
                key_start_time=start, key_expiry_time=expiry)

    @property
    def kind(self) -> SigningKind:
        return "account-key" if self._account_key is not None else "user-delegation-key"

    def url(self, container: str, blob_name: str) -> str:
        options: dict[str, Any] = {
            "account_name": self._account,
            "container_name": container,
            "blob_name": blob_name,
            "permission": BlobSasPermissions(read=True),
            "start": self._start,
            "expiry": self._expiry,
        }
        if self._https_only:
            options["protocol"] = "https"
        if self._account_key is not None:
            sas_token = generate_blob_sas(account_key=self._account_key, **options)
        else:
            sas_token = generate_blob_sas(user_delegation_key=self._delegation_key, **options)
        return f"{self._service.get_blob_client(container, blob_name).url}?{sas_token}"
