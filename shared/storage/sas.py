"""Short read-only SAS for source blobs, one per copy request.

`SourceSas` mints account-key SAS when the account has a configured key (Azurite), otherwise
user delegation SAS (the delegation key is fetched once and reused). A SAS given to the
service for one copy request lives `COPY_REQUEST_SAS_LIFETIME` (what that request can take,
retries included). Never log a URL it returns: use `shared.storage.clients.redact`.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    UserDelegationKey,
    generate_blob_sas,
)

from shared.core.config import USER_DELEGATION_KEY_MAX_MINUTES, Settings
from shared.storage.clients import STORAGE_RETRY

# Clock skew allowance for SAS start times.
SAS_CLOCK_SKEW = timedelta(minutes=5)
# Azure refuses a user delegation key that expires more than 7 days after its own current time;
# ask for at most that, less the clock skew allowance.
USER_DELEGATION_KEY_MAX_AGE = timedelta(minutes=USER_DELEGATION_KEY_MAX_MINUTES) - SAS_CLOCK_SKEW
# The service reads the source with the SAS while it serves the request (and each SDK retry of
# it); a minute more covers a service clock ahead of ours. About 7 minutes.
COPY_REQUEST_SAS_LIFETIME = timedelta(
    minutes=math.ceil((STORAGE_RETRY.longest_request() + timedelta(minutes=1)).total_seconds() / 60)
)


def utc_now() -> datetime:
    """This machine's clock, which SAS start and expiry times are taken from."""
    return datetime.now(UTC)


class SourceSas:
    """Mints read-only SAS URLs for blobs of one source account, each valid `lifetime`
    (`COPY_REQUEST_SAS_LIFETIME`: the copier mints one SAS per copy request).

    Make one per activity. With a configured account key: account-key SAS. Otherwise: user
    delegation SAS; the delegation key is fetched on first use and again only when it would
    expire before a new SAS does.
    """

    def __init__(
        self, service: BlobServiceClient, settings: Settings, *,
        lifetime: timedelta = COPY_REQUEST_SAS_LIFETIME,
    ) -> None:
        self._service = service
        self._account = service.account_name
        assert self._account is not None
        self._account_key = settings.account_key(self._account)
        self._ttl = min(lifetime, USER_DELEGATION_KEY_MAX_AGE)
        self._https_only = service.url.startswith("https://")
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_key_expiry: datetime | None = None
        self._lock = threading.Lock()

    def _user_delegation_key(
        self, now: datetime, expiry: datetime
    ) -> tuple[UserDelegationKey, datetime]:
        """The delegation key and its expiry."""
        with self._lock:
            if (
                self._delegation_key is None
                or self._delegation_key_expiry is None
                or self._delegation_key_expiry < expiry
            ):
                # Azure refuses a key that expires more than 7 days ahead
                key_expiry = min(now + 2 * self._ttl, now + USER_DELEGATION_KEY_MAX_AGE)
                self._delegation_key = self._service.get_user_delegation_key(
                    key_start_time=now - SAS_CLOCK_SKEW, key_expiry_time=key_expiry
                )
                self._delegation_key_expiry = key_expiry
            return self._delegation_key, self._delegation_key_expiry

    def mints_offline(self) -> bool:
        """True when `blob_url` makes no request now: an account key, or a delegation key that
        outlasts a SAS minted within the next minute."""
        if self._account_key is not None:
            return True
        soon = utc_now() + timedelta(minutes=1) + self._ttl
        with self._lock:
            return self._delegation_key_expiry is not None and self._delegation_key_expiry >= soon

    def blob_url(self, container: str, blob_name: str) -> str:
        """The blob's URL with a fresh read-only SAS. Never log it: use `redact`."""
        now = utc_now()
        expiry = now + self._ttl
        sas_options: dict[str, Any] = {
            "account_name": self._account,
            "container_name": container,
            "blob_name": blob_name,
            "permission": BlobSasPermissions(read=True),
            "start": now - SAS_CLOCK_SKEW,
            "expiry": expiry,
        }
        if self._https_only:
            sas_options["protocol"] = "https"
        if self._account_key is not None:
            sas_token = generate_blob_sas(account_key=self._account_key, **sas_options)
        else:
            user_delegation_key, key_expiry = self._user_delegation_key(now, expiry)
            # A SAS is void once its key expires; with a TTL within SAS_CLOCK_SKEW of the
            # 7-day maximum, say so in the SAS (it lasts up to 5 minutes less than the TTL).
            sas_options["expiry"] = min(expiry, key_expiry)
            sas_token = generate_blob_sas(user_delegation_key=user_delegation_key, **sas_options)
        blob_url = self._service.get_blob_client(container, blob_name).url
        return f"{blob_url}?{sas_token}"
