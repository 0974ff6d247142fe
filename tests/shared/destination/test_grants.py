"""Read access on the delivered folder: the setting, which kind each account is, and the grants
themselves against the Data Lake stand-in (read back through the Data Lake client)."""

from __future__ import annotations

import uuid

import pytest

import shared.destination.grants
from devhost.dfs_standin import DfsStandIn
from shared.core.config import Settings, SettingsError, load_settings
from shared.core.messages import AccessInput
from shared.core.models import AccountKind
from shared.core.readers import MAX_READERS, FolderReaders, Reader
from shared.destination.grants import AccessGrantError, grant_access
from shared.plan.planner import build_plan
from shared.storage.datalake import account_kind, kind_from_data_lake
from tests.shared.delivery_setup import SINK_ACCOUNT, Delivery

USER = "0b1e2c3d-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
GROUP = "7C6D5E4F-3A2B-4C1D-9E8F-7A6B5C4D3E2F"


def readers_environ(environ: dict[str, str], dfs: DfsStandIn, readers: str) -> Settings:
    return load_settings({**environ, "DDD_STORAGE_ENDPOINT_TEMPLATE": dfs.endpoint_template,
                          "DDD_DFS_ENDPOINT_TEMPLATE": dfs.endpoint_template,
                          "DDD_DELIVERED_FOLDER_READERS": readers})


# ----- the setting -----------------------------------------------------------------------------
def test_readers_per_account_and_per_container_add_up() -> None:
    readers = FolderReaders.parse(f" labsmith = group:{GROUP} ; labsmith/incoming=user:{USER};"
                                  f"otherlab/x-y=user:{USER},user:{USER}")
    assert readers.for_sink("labsmith", "incoming") == (
        Reader("group", GROUP.lower()), Reader("user", USER))
    assert readers.for_sink("labsmith", "other") == (Reader("group", GROUP.lower()),)
    assert readers.for_sink("otherlab", "x-y") == (Reader("user", USER),)
    assert readers.for_sink("nobody", "incoming") == ()
    assert FolderReaders.parse(str(readers)) == readers


@pytest.mark.parametrize(("text", "complaint"), [
    ("labsmith", "must be '<account>[/<container>]="),
    ("labsmith=", "must be '<account>[/<container>]="),
    (f"labsmith=owner:{USER}", "must be user:<object id> or group:<object id>"),
    ("labsmith=user:jdoe", "must be user:<object id> or group:<object id>"),
    (f"Lab_Smith=user:{USER}", "storage account name"),
    (f"labsmith/In=user:{USER}", "container name"),
    ("labsmith=" + ",".join(f"user:{uuid.UUID(int=n)}" for n in range(MAX_READERS + 1)),
     f"an ACL holds at most {MAX_READERS}"),
])
def test_readers_that_cannot_be_granted_fail_at_start(app_environ: dict[str, str], text: str,
                                                      complaint: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**app_environ, "DDD_DELIVERED_FOLDER_READERS": text})
    assert "DDD_DELIVERED_FOLDER_READERS" in str(refused.value) and complaint in str(refused.value)


def test_readers_for_a_place_no_delivery_goes_fail_at_start(app_environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({**app_environ, "DDD_DELIVERED_FOLDER_READERS": f"otherlab=user:{USER}"})
    assert "'otherlab' is not an allowed sink" in str(refused.value)


# ----- the kind of account ---------------------------------------------------------------------
def test_each_account_says_which_kind_it_is(delivery: Delivery, hns_delivery: Delivery,
                                            settings: Settings, hns_settings: Settings) -> None:
    # with an account key: Get Account Information (x-ms-is-hns-enabled)
    assert account_kind("sink", delivery.sink, SINK_ACCOUNT, settings) is AccountKind.FLAT
    assert account_kind("sink", hns_delivery.sink, SINK_ACCOUNT, hns_settings) \
        is AccountKind.HIERARCHICAL


def test_the_data_lake_endpoint_tells_the_kind_without_account_information(
        dfs: DfsStandIn, hns_delivery: Delivery, azurite) -> None:
    """What Azure's managed identity uses, as Get Account Information refuses Entra tokens."""
    hierarchical = dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(
        hns_delivery.sink.container_name)
    assert kind_from_data_lake(hierarchical) is AccountKind.HIERARCHICAL
    with DfsStandIn(azurite, hierarchical=()) as flat_standin:
        flat = flat_standin.datalake_service(SINK_ACCOUNT).get_file_system_client(
            hns_delivery.sink.container_name)
        assert kind_from_data_lake(flat) is AccountKind.FLAT


# ----- granting --------------------------------------------------------------------------------
def delivered_tree(delivery: Delivery, dfs: DfsStandIn) -> list[tuple[str, bool]]:
    """A delivered folder with nested and empty folders; its paths and whether each is a
    directory, read through the Data Lake client."""
    folder = delivery.request.sink_folder
    for name in ("a.txt", "Data/L001/r1.fastq.gz", "Data/L002/r2.fastq.gz"):
        delivery.sink.upload_blob(f"{folder}/{name}", b"bytes")
    file_system = dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(
        delivery.sink.container_name)
    file_system.create_directory(f"{folder}/Empty/Deeper")
    return [(folder, True)] + [(path.name, path.is_directory)
                               for path in file_system.get_paths(path=folder)]


def acl_of(dfs: DfsStandIn, delivery: Delivery, name: str) -> list[str]:
    file_system = dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(
        delivery.sink.container_name)
    return file_system.get_directory_client(name).get_access_control()["acl"].split(",")


def test_grants_reach_every_path_a_bounded_part_per_call(
        hns_delivery: Delivery, dfs: DfsStandIn, core_environ: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared.destination.grants, "BATCH_SIZE", 2)
    monkeypatch.setattr(shared.destination.grants, "BATCHES_PER_ACTIVITY", 2)
    paths = delivered_tree(hns_delivery, dfs)
    settings = readers_environ(core_environ, dfs, f"{SINK_ACCOUNT}=user:{USER},group:{GROUP}")
    calls, access = [], AccessInput(request=hns_delivery.request)
    while True:
        outcome = grant_access(access, settings)
        calls.append(outcome)
        if outcome.continuation is None:
            break
        access = AccessInput(request=hns_delivery.request, continuation=outcome.continuation)
    assert len(calls) == -(-len(paths) // 4) > 1  # 4 paths a call: 2 batches of 2
    assert sum(call.directories + call.files for call in calls) == len(paths)
    for name, is_directory in paths:
        acl = acl_of(dfs, hns_delivery, name)
        for principal in (f"user:{USER}", f"group:{GROUP.lower()}"):
            assert f"{principal}:r-x" in acl, (name, acl)
            assert (f"default:{principal}:r-x" in acl) is is_directory, (name, acl)


def test_without_readers_nothing_is_granted(hns_delivery: Delivery, dfs: DfsStandIn,
                                            hns_settings: Settings) -> None:
    paths = delivered_tree(hns_delivery, dfs)
    outcome = grant_access(AccessInput(request=hns_delivery.request), hns_settings)
    assert (outcome.readers, outcome.directories, outcome.files) == (0, 0, 0)
    assert all(USER not in ",".join(acl_of(dfs, hns_delivery, name)) for name, _ in paths)


def test_a_path_the_service_refuses_is_named(hns_delivery: Delivery, dfs: DfsStandIn,
                                             core_environ: dict[str, str]) -> None:
    paths = delivered_tree(hns_delivery, dfs)
    full = next(name for name, is_directory in paths if not is_directory)
    crowded = ",".join(f"user:{uuid.UUID(int=n)}:r--" for n in range(MAX_READERS))
    dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(hns_delivery.sink.container_name) \
        .get_file_client(full).set_access_control(acl=f"user::rw-,group::r--,other::---,{crowded}")
    settings = readers_environ(core_environ, dfs, f"{SINK_ACCOUNT}=user:{USER}")
    with pytest.raises(AccessGrantError) as refused:
        grant_access(AccessInput(request=hns_delivery.request), settings)
    assert full in str(refused.value)


def test_readers_for_a_flat_sink_refuse_the_plan(delivery: Delivery,
                                                 core_environ: dict[str, str]) -> None:
    delivery.seed("a.txt", b"a")
    settings = load_settings({**core_environ,
                              "DDD_DELIVERED_FOLDER_READERS": f"{SINK_ACCOUNT}=user:{USER}"})
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.storage_problem is not None
    assert "has no hierarchical namespace" in plan.storage_problem
    assert plan.chunk_count == 0
    with pytest.raises(AccessGrantError):
        grant_access(AccessInput(request=delivery.request), settings)

