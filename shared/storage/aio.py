"""The asyncio side of Blob storage: one event loop per process, and on it one
`azure.storage.blob.aio` client per account.

Copying a small file is two short requests the service does the work of (`shared.copy.service`).
Made from threads, most of the app's CPU went to the HTTP stack around each request; the same
requests as coroutines on one loop cost about a third less client CPU per file (measured: 2.2-2.5
against 3.5-3.6 ms on Azurite, `bench/README.md`). The rest of the app stays synchronous.

- `EventLoop` is a daemon thread running one loop for the life of the process; `submit` hands
  it a coroutine from any thread, and the future it returns gives the result. Activities in
  flight at once share it.
- `AsyncStorageClients` builds one aio `BlobServiceClient` per account on first use, on the loop,
  bounded as the synchronous ones are (`shared.storage.clients.STORAGE_RETRY`: 20 s to connect, 60 s
  between bytes, 3 retries) and with the proxies and CA bundle read from the environment once
  (`shared.storage.transport.environment_settings`). Credentials come from
  `shared.storage.identity`.
"""

from __future__ import annotations

import asyncio
import atexit
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport
from azure.storage.blob.aio import BlobServiceClient, ContainerClient, ExponentialRetry

from shared.core.config import Settings
from shared.storage import clients as storage
from shared.storage.clients import SHARED_CONNECTIONS, settings_identity
from shared.storage.identity import async_storage_credential
from shared.storage.transport import environment_settings

T = TypeVar("T")


class EventLoop:
    """One asyncio loop in a daemon thread, started on first use and kept for the process."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="storage-aio",
                                 daemon=True).start()
                self._loop = loop
            return self._loop

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Run `coroutine` on the loop; its future's `result()` waits for it (never wait from
        the loop itself)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop())


EVENT_LOOP = EventLoop()


class AsyncStorageClients:
    """One aio BlobServiceClient per storage account, built on the loop on first use. Only
    coroutines running on `EVENT_LOOP` may use what it returns."""

    def __init__(self, settings: Settings, *, connections: int) -> None:
        self.settings = settings
        self.connections = connections
        self._services: dict[str, BlobServiceClient] = {}

    def sink(self, account: str, container: str) -> ContainerClient:
        """A destination container; AccessRefused unless the sink allow-list allows it."""
        self.settings.access.check("sink", account, container)
        return self.service(account).get_container_client(container)

    def service(self, account: str) -> BlobServiceClient:
        service = self._services.get(account)  # only the loop's thread gets here: no lock
        if service is None:
            service = self._build(account)
            self._services[account] = service
        return service

    def _build(self, account: str) -> BlobServiceClient:
        account_url = self.settings.account_url(account)
        environment = environment_settings(account_url)
        # the CA bundle goes to the connector once: given to the transport, azure-core would
        # build an SSL context from the file on every request
        tls: ssl.SSLContext | bool = (ssl.create_default_context(cafile=environment.verify)
                                      if isinstance(environment.verify, str) else True)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.connections, ssl=tls), trust_env=False)
        timing = storage.STORAGE_RETRY  # read when built, as the threads' clients read it
        return BlobServiceClient(
            account_url,
            credential=async_storage_credential(account, self.settings),
            transport=AioHttpTransport(session=session, session_owner=True,
                                       connection_timeout=timing.connect_timeout,
                                       read_timeout=timing.read_timeout),
            proxies=environment.proxies or None,
            retry_policy=ExponentialRetry(
                initial_backoff=timing.initial_backoff,
                increment_base=timing.increment_base,
                retry_total=timing.retries,
                random_jitter_range=timing.jitter,
            ),
        )

    async def close(self) -> None:
        services, self._services = list(self._services.values()), {}
        for service in services:
            await service.close()


_shared: dict[str, AsyncStorageClients] = {}
_shared_lock = threading.Lock()


def shared_async_clients(settings: Settings) -> AsyncStorageClients:
    """The process's AsyncStorageClients for these settings (as
    `shared.storage.clients.shared_clients` for the synchronous ones): built on first use,
    reused by every activity, never closed."""
    identity = settings_identity(settings)
    with _shared_lock:
        clients = _shared.get(identity)
        if clients is None:
            if not _shared:
                atexit.register(_close_shared)
            clients = AsyncStorageClients(settings, connections=SHARED_CONNECTIONS)
            _shared[identity] = clients
        return clients


def _close_shared() -> None:
    """At exit: close the sessions, so that their connections end cleanly."""
    with _shared_lock:
        every = list(_shared.values())
        _shared.clear()

    async def close_all() -> None:
        for clients in every:
            await clients.close()

    EVENT_LOOP.submit(close_all()).result(timeout=10)
