"""ADLS Gen2 as the app meets it in Azure: no account key, only its Entra identity.

The accounts are the HTTPS + OAuth Azurite behind the Data Lake stand-in (which then takes
bearer tokens, and treats their holder as Storage Blob Data Contributor, the role the app has
on a sink). The plan learns each account's kind from the Data Lake endpoint (Get Account
Information takes no Entra token), lists the folders with the identity, the copy and the
folder creation make the identity the owner of everything delivered, and so the read grants
need no more than Contributor; a path someone else created is refused, and named.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import shared.storage.identity
from devhost.azurite import AzuriteServer
from devhost.dfs_standin import DfsStandIn
from shared.copy.chunk import copy_chunk
from shared.core.config import Settings, load_settings
from shared.core.messages import AccessInput, FoldersInput
from shared.destination.folders import create_folders
from shared.destination.grants import AccessGrantError, grant_access
from shared.plan.planner import build_plan
from tests.conftest import TEST_WEBSITE_TOKEN, WORK_ACCOUNT
from tests.shared.delivery_setup import SINK_ACCOUNT, SOURCE_ACCOUNT, Delivery, fresh_delivery
from tests.shared.storage.test_user_delegation import OBJECT_ID, StubAzureAdCredential

READER = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"


@pytest.fixture(scope="module")
def entra_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    with AzuriteServer(accounts=[WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT], blob_only=True,
                       oauth=True, location=tmp_path_factory.mktemp("azurite-entra")) as server:
        yield server


@pytest.fixture(scope="module")
def entra_dfs(entra_azurite: AzuriteServer) -> Iterator[DfsStandIn]:
    with DfsStandIn(entra_azurite, hierarchical={SOURCE_ACCOUNT, SINK_ACCOUNT}) as running:
        yield running


@pytest.fixture
def entra_settings(entra_azurite: AzuriteServer, entra_dfs: DfsStandIn,
                   monkeypatch: pytest.MonkeyPatch) -> Settings:
    credential = StubAzureAdCredential()
    monkeypatch.setattr(shared.storage.identity, "azure_ad_credential",
                        lambda _settings: credential)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(entra_azurite.cert_path))
    settings = load_settings({
        "DDD_STORAGE_ENDPOINT_TEMPLATE": entra_dfs.endpoint_template,
        "DDD_DFS_ENDPOINT_TEMPLATE": entra_dfs.endpoint_template,
        "DDD_WORK_ACCOUNT": WORK_ACCOUNT, "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT,
        "DDD_SINK_ACCOUNTS": SINK_ACCOUNT, "DDD_WEBSITE_URL": "http://127.0.0.1:9",
        "DDD_WEBSITE_TOKEN": TEST_WEBSITE_TOKEN, "DDD_COPY_THREADS": "4",
        "DDD_DELIVERED_FOLDER_READERS": f"{SINK_ACCOUNT}=user:{READER}",
    })
    assert settings.storage_account_keys == {}
    return settings


@pytest.fixture
def entra_delivery(entra_dfs: DfsStandIn) -> Iterator[Delivery]:
    """Seeded by the core with its account key, through the stand-in (an ADLS account)."""
    with fresh_delivery(entra_dfs.blob_service(SOURCE_ACCOUNT),
                        entra_dfs.blob_service(SINK_ACCOUNT)) as delivery:
        yield delivery


def test_the_identity_delivers_folders_and_grants_read_on_what_it_owns(
        entra_delivery: Delivery, entra_dfs: DfsStandIn, entra_settings: Settings) -> None:
    delivery = entra_delivery
    delivery.seed("Data/L001/r1.fastq.gz", b"reads")
    delivery.seed("SampleSheet.csv", b"a,b\n")
    entra_dfs.datalake_service(SOURCE_ACCOUNT).get_file_system_client(
        delivery.source.container_name).create_directory(delivery.request.source_path("Empty"))

    plan = build_plan(delivery.request, delivery.run_id, entra_settings)
    assert plan.refusal is None, plan.refusal
    assert (plan.files, plan.folders) == (2, 3)  # Data, Data/L001, Empty
    for chunk_ref in plan.chunk_refs():
        assert copy_chunk(chunk_ref, delivery.request, entra_settings).failed_files == 0
    create_folders(FoldersInput(request=delivery.request, run_id=delivery.run_id,
                                folder_pages=plan.folder_pages), entra_settings)
    outcome = grant_access(AccessInput(request=delivery.request), entra_settings)
    assert outcome.continuation is None

    file_system = entra_dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(
        delivery.sink.container_name)
    folder = delivery.request.sink_folder
    paths = [folder] + [path.name for path in file_system.get_paths(path=folder)]
    assert f"{folder}/Empty" in paths
    for name in paths:
        control = file_system.get_directory_client(name).get_access_control()
        assert control["owner"] == OBJECT_ID, name  # the identity made it, so owns it
        assert f"user:{READER}:r-x" in control["acl"].split(","), name

    # a path someone else made (here with the account key, a super-user) is not the identity's
    # to change: the grant fails and names it
    stranger = f"{folder}/Data/added-by-someone-else.txt"
    delivery.sink.upload_blob(stranger, b"x")
    with pytest.raises(AccessGrantError) as refused:
        grant_access(AccessInput(request=delivery.request), entra_settings)
    assert stranger in str(refused.value) and "not authorized" in str(refused.value)
