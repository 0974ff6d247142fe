"""Blob storage for the core: clients per account, source SAS, listing, and the work container.

- Accounts are named by the website; `Settings.account_url` maps a name to its endpoint.
- `StorageClients` builds one `BlobServiceClient` per account on first use (key or Azure AD, see
  `shared.storage.identity`), with a connection pool sized for the copy threads; close it when done.
  `shared_clients` keeps one per process, reused by every activity.
  Every request is bounded: 20 s to connect, 60 s between bytes read (the storage SDK's own
  defaults, which a transport we supply would otherwise replace with 300 s), at most 3 retries
  about 2, 4 and 8 s apart (`STORAGE_RETRY`); proxy settings are not re-read from the environment
  on every request (`trust_env = False`).
- `SourceSas` mints short read-only SAS for source blobs: account-key SAS when the account has a
  configured key, otherwise user delegation SAS (the delegation key is fetched once and reused).
  A SAS given to the service for one copy request lives `COPY_REQUEST_SAS_LIFETIME` (what that
  request can take, retries included).
- `WorkStore` reads and writes the app's own work container: plan and result pages (JSON Lines),
  JSON documents, and markers created once.
- Listing goes through the blob API (it works on Azurite and on ADLS Gen2); ADLS directory
  marker blobs are skipped.

Nothing here logs or keeps a URL with a SAS; `redact` scrubs one from any text.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType

import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import (
    BlobProperties,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
)

from shared.core.config import MIB, Settings
from shared.storage.identity import storage_credential
from shared.storage.transport import environment_settings, unproxied_session

# What the app writes itself (work pages, the manifest) goes in blocks of this size.
WRITE_BLOCK_BYTES = 4 * MIB
# A read's first GET, and each GET after it, asks for up to this much, so that one range of a
# parallel ranged read (`shared.copy.ranged_read`) is one request whose body is handed over in one
# piece. With 4 MiB chunks after it, the SDK cut the first GET's body in two (two copies) and
# the reader joined them again: on the 4 GiB benchmark devhost used 26-27 CPU-seconds, and 20
# with one piece; a reduced NextSeq-like run peaked at 393 MiB, and 323.
FIRST_GET_BYTES = 8 * MIB


@dataclass(frozen=True)
class RetryTiming:
    """The storage SDK's retries of one request (ExponentialRetry: the n-th retry waits
    initial + base**n seconds, +- jitter)."""

    connect_timeout: float = 20
    read_timeout: float = 60
    retries: int = 3
    initial_backoff: int = 0
    increment_base: int = 2
    jitter: int = 1

    def longest_request(self) -> timedelta:
        """The longest one request can take, every retry and wait included."""
        attempts = (self.retries + 1) * (self.connect_timeout + self.read_timeout)
        waits = sum(
            self.initial_backoff + self.increment_base**count + self.jitter
            for count in range(1, self.retries + 1)
        )
        return timedelta(seconds=attempts + waits)


STORAGE_RETRY = RetryTiming()
# Connections per account kept by the process's shared clients: the copy threads of several
# activities at once, and the range readers (`shared.copy.ranged_read`).
SHARED_CONNECTIONS = 128


# ----- clients -------------------------------------------------------------------------------
class StorageClients:
    """One BlobServiceClient per storage account, built on first use; a context manager."""

    def __init__(self, settings: Settings, *, connections: int | None = None) -> None:
        self.settings = settings
        self.connections = connections or max(16, 2 * settings.copy_threads + 4)
        self._services: dict[str, BlobServiceClient] = {}
        self._lock = threading.Lock()

    def service(self, account: str) -> BlobServiceClient:
        """The client of any account, unchecked: for the app's own work account, and for what
        `source_service`, `source` and `sink` hand out once the allow-lists allow it."""
        with self._lock:
            service = self._services.get(account)
            if service is None:
                service = self._build(account)
                self._services[account] = service
            return service

    def source_service(self, account: str) -> BlobServiceClient:
        """A source account's client (to sign read links); AccessRefused unless allowed."""
        self.settings.access.check("source", account, None)
        return self.service(account)

    def source(self, account: str, container: str) -> ContainerClient:
        """A source container; AccessRefused unless the source allow-list allows it."""
        self.settings.access.check("source", account, container)
        return self.service(account).get_container_client(container)

    def sink(self, account: str, container: str) -> ContainerClient:
        """A destination container; AccessRefused unless the sink allow-list allows it."""
        self.settings.access.check("sink", account, container)
        return self.service(account).get_container_client(container)

    def work_container(self) -> ContainerClient:
        """The app's own work container (`DDD_WORK_ACCOUNT` / `DDD_WORK_CONTAINER`)."""
        return self.service(self.settings.work_account).get_container_client(
            self.settings.work_container)

    def _build(self, account: str) -> BlobServiceClient:
        account_url = self.settings.account_url(account)
        # requests re-reads proxy settings, the CA bundle (REQUESTS_CA_BUNDLE) and .netrc from
        # the environment on every request; read them once, here, then stop
        environment = environment_settings(account_url)
        session = unproxied_session(environment)
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=4, pool_maxsize=self.connections
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        timing = STORAGE_RETRY
        return BlobServiceClient(
            account_url,
            credential=storage_credential(account, self.settings),
            # read sockets in 256 KiB steps, not the default 4 KiB: it halves the client CPU of
            # streaming a file to hash it (the setting must be on the transport we supply); the
            # timeouts too, or azure-core's 300 s apply instead of the storage SDK's 20 s / 60 s
            transport=RequestsTransport(
                session=session,
                session_owner=True,
                use_env_settings=False,
                connection_verify=environment.verify,
                connection_timeout=timing.connect_timeout,
                read_timeout=timing.read_timeout,
                connection_data_block_size=256 * 1024,
            ),
            retry_policy=ExponentialRetry(
                initial_backoff=timing.initial_backoff,
                increment_base=timing.increment_base,
                retry_total=timing.retries,
                random_jitter_range=timing.jitter,
            ),
            max_single_get_size=FIRST_GET_BYTES,
            max_chunk_get_size=FIRST_GET_BYTES,
            max_block_size=WRITE_BLOCK_BYTES,
            max_single_put_size=WRITE_BLOCK_BYTES,
        )

    def close(self) -> None:
        with self._lock:
            services, self._services = list(self._services.values()), {}
        for service in services:
            service.close()

    def __enter__(self) -> StorageClients:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def settings_identity(settings: Settings) -> str:
    """A digest telling apart settings that would build different clients (keys included)."""
    keys = ";".join(f"{account}:{key.get_secret_value()}"
                    for account, key in sorted(settings.storage_account_keys.items()))
    return hashlib.sha256(f"{settings.model_dump_json()}|{keys}".encode()).hexdigest()


_shared_clients: dict[str, StorageClients] = {}
_shared_clients_lock = threading.Lock()


def shared_clients(settings: Settings) -> StorageClients:
    """The process's StorageClients for these settings: built on first use, then reused by
    every activity in the process, so connections stay open from one activity to the next.
    Never closed (they live as long as the worker)."""
    identity = settings_identity(settings)
    with _shared_clients_lock:
        clients = _shared_clients.get(identity)
        if clients is None:
            clients = StorageClients(settings, connections=SHARED_CONNECTIONS)
            _shared_clients[identity] = clients
        return clients


# ----- listing -------------------------------------------------------------------------------
def is_directory_marker(blob: BlobProperties) -> bool:
    """ADLS Gen2 lists its directories through the blob API as empty blobs so marked."""
    metadata = blob.metadata or {}
    return blob.size == 0 and str(metadata.get("hdi_isfolder", "")).lower() == "true"


def list_folder_files(container: ContainerClient, folder: str) -> Iterator[BlobProperties]:
    """Every file blob under `folder` (recursively), in the service's (name) order."""
    for blob in container.list_blobs(name_starts_with=folder + "/", include=["metadata"]):
        if not is_directory_marker(blob):
            yield blob


def folder_holds_anything(container: ContainerClient, folder: str) -> bool:
    """True when any blob (file or directory marker) lies under `folder`, or is named `folder`."""
    for _blob in container.list_blobs(name_starts_with=folder + "/", results_per_page=1):
        return True
    try:
        container.get_blob_client(folder).get_blob_properties()
    except ResourceNotFoundError:
        return False
    return True


def quoted_etag(etag: str) -> str:
    """ETags as the service expects them in conditions (listings may give them unquoted)."""
    return etag if etag.startswith(('"', "W/")) else f'"{etag}"'


def md5_hex_of(content_settings: ContentSettings) -> str | None:
    content_md5 = content_settings.content_md5
    return bytes(content_md5).hex() if content_md5 else None


