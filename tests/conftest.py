"""Shared test fixtures: one real Azurite for the whole session, and the app's settings for it.

- `azurite`: an `AzuriteServer` (blob, queue and table) with the accounts `devstoreaccount1`
  (the app's own storage in tests), `sequencingcore` (a sender) and `labsmith` (a recipient).
  `azurite.blob_service(account)` gives a key-authenticated client for seeding and checking.
- `dfs`: the Data Lake stand-in in front of that Azurite, with `sequencingcore` and `labsmith`
  as ADLS Gen2 accounts (hierarchical namespace) when reached through it.
- `app_environ`: the app's settings as environment variables pointing at that Azurite (a fresh
  dict per test: add or override entries, then `load_settings(app_environ)` or hand it to a host
  process).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devhost.azurite import AzuriteServer
from devhost.dfs_standin import DfsStandIn
from devhost.standin_http import TlsFiles


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the real Azurite (its fixtures, directly or not) are marked `azurite`:
    `make test-fast` leaves them out."""
    for item in items:
        if {"azurite", "dfs"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.azurite)


SOURCE_ACCOUNT = "sequencingcore"
SINK_ACCOUNT = "labsmith"
WORK_ACCOUNT = "devstoreaccount1"
TEST_WEBSITE_TOKEN = "test-website-token"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    with AzuriteServer(
        accounts=[WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT],
        location=tmp_path_factory.mktemp("azurite"),
    ) as server:
        yield server


@pytest.fixture(scope="session")
def dfs(azurite: AzuriteServer) -> Iterator[DfsStandIn]:
    with DfsStandIn(azurite, hierarchical={SOURCE_ACCOUNT, SINK_ACCOUNT}) as running:
        yield running


@pytest.fixture
def app_environ(azurite: AzuriteServer) -> dict[str, str]:
    """Every required setting, for Azurite; the website URL is a closed port until a test sets
    DDD_WEBSITE_URL to its own stand-in."""
    return {
        **azurite.storage_environ(work_account=WORK_ACCOUNT),
        "DDD_WORK_CONTAINER": "ddd-transfer-work",
        "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT,
        "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
        "DDD_WEBSITE_URL": "http://127.0.0.1:9",
        "DDD_WEBSITE_TOKEN": TEST_WEBSITE_TOKEN,
    }


@pytest.fixture(scope="session")
def standin_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """One self-signed certificate for the HTTPS stand-ins (Key Vault, e-mail) of a session."""
    return TlsFiles.create(tmp_path_factory.mktemp("standin-tls"))
