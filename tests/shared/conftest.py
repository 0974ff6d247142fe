"""Fixtures of the core tests: small-size settings, fresh containers, a website stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import shared.copy.attempts
import shared.storage.clients
from devhost.azurite import AzuriteServer
from devhost.dfs_standin import DfsStandIn
from shared.core.config import MIB, Settings, load_settings
from shared.storage.clients import RetryTiming
from tests.fault_proxy import FaultProxy
from tests.shared.delivery_setup import (
    SINK_ACCOUNT,
    SOURCE_ACCOUNT,
    Delivery,
    fresh_delivery,
)
from tests.shared.scripted_website import ScriptedWebsite, running_website

BLOCK_SIZE = MIB  # DDD_BLOCK_SIZE_BYTES in these tests
SMALL_FILE_MAX = 2 * MIB


@pytest.fixture
def core_environ(app_environ: dict[str, str]) -> dict[str, str]:
    """Small sizes so the large-file path runs on small files: 1 MiB blocks, 2 MiB small files."""
    return {
        **app_environ,
        "DDD_BLOCK_SIZE_BYTES": str(BLOCK_SIZE),
        "DDD_SMALL_FILE_MAX_BYTES": str(SMALL_FILE_MAX),
        "DDD_COPY_THREADS": "8",
        "DDD_WEBSITE_RETRY_SECONDS": "0.01",
    }


@pytest.fixture
def settings(core_environ: dict[str, str]) -> Settings:
    return load_settings(core_environ)


@pytest.fixture
def delivery(azurite: AzuriteServer) -> Iterator[Delivery]:
    """Fresh source and sink containers, and the website's request between them."""
    with fresh_delivery(azurite.blob_service(SOURCE_ACCOUNT),
                        azurite.blob_service(SINK_ACCOUNT)) as delivery:
        yield delivery


@pytest.fixture
def hns_settings(core_environ: dict[str, str], dfs: DfsStandIn) -> Settings:
    """The app's settings with every account reached through the Data Lake stand-in, where the
    core's and the lab's accounts are ADLS Gen2."""
    return load_settings({**core_environ, "DDD_STORAGE_ENDPOINT_TEMPLATE": dfs.endpoint_template,
                          "DDD_DFS_ENDPOINT_TEMPLATE": dfs.endpoint_template})


@pytest.fixture
def hns_delivery(dfs: DfsStandIn) -> Iterator[Delivery]:
    """Fresh containers on the ADLS Gen2 accounts, and the website's request between them."""
    with fresh_delivery(dfs.blob_service(SOURCE_ACCOUNT),
                        dfs.blob_service(SINK_ACCOUNT)) as delivery:
        yield delivery


@pytest.fixture
def website() -> Iterator[ScriptedWebsite]:
    with running_website() as stand_in:
        yield stand_in


@pytest.fixture
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's and the copier's waits between retries, zeroed: tests never wait for real."""
    monkeypatch.setattr(shared.storage.clients, "STORAGE_RETRY",
                        RetryTiming(initial_backoff=0, increment_base=0, jitter=0))
    monkeypatch.setattr(shared.copy.attempts, "FILE_RETRY_WAIT_SECONDS", 0.0)


@pytest.fixture
def proxy(azurite: AzuriteServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of Azurite's blob port (no faults until a test asks)."""
    with FaultProxy(azurite.blob_port, seed=20261122) as running:
        yield running


@pytest.fixture
def proxied(core_environ: dict[str, str], proxy: FaultProxy) -> Settings:
    """The app's settings with every storage request going through the proxy."""
    return load_settings({**core_environ, "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template})
