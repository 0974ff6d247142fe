"""Folders: which ones the plan finds on each kind of account, their pages, and their creation
in the sink (flat: Azurite itself; ADLS Gen2: the Data Lake stand-in in front of it)."""

from __future__ import annotations

import pytest

import shared.storage.work
from devhost.dfs_standin import DfsStandIn
from shared.core.config import Settings
from shared.core.messages import FoldersInput
from shared.core.models import AccountKind
from shared.destination.folders import create_folders
from shared.plan.dry_run import dry_run
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore, planned_folders
from tests.shared.delivery_setup import SINK_ACCOUNT, SOURCE_ACCOUNT, Delivery

MARKER = {"hdi_isfolder": "true"}
FILES = {"SampleSheet.csv": b"a,b\n", "Data/L001/reads.fastq.gz": b"reads"}
EMPTY = ["Empty", "Nested/Deeper"]
FOLDERS = {"Data", "Data/L001", "Empty", "Nested", "Nested/Deeper"}


def seed_flat(delivery: Delivery) -> None:
    for name, content in FILES.items():
        delivery.seed(name, content)
    for name in EMPTY:  # as AzCopy's directory stubs: an empty blob marked as a folder
        delivery.source.upload_blob(delivery.request.source_path(name), b"", metadata=MARKER)


def seed_hierarchical(delivery: Delivery, dfs: DfsStandIn) -> None:
    for name, content in FILES.items():
        delivery.seed(name, content)
    file_system = dfs.datalake_service(SOURCE_ACCOUNT).get_file_system_client(
        delivery.source.container_name)
    for name in EMPTY:
        file_system.create_directory(delivery.request.source_path(name))


def folders_of(settings: Settings, run_id: str) -> list[str]:
    with StorageClients(settings) as clients:
        return list(planned_folders(WorkStore(clients), run_id))


def test_a_flat_source_has_folder_markers_and_name_prefixes(delivery: Delivery,
                                                            settings: Settings) -> None:
    seed_flat(delivery)
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.refusal is None
    assert plan.files == len(FILES)  # a folder marker is not a file
    assert (plan.folders, plan.folder_pages) == (len(FOLDERS), 1)
    assert set(folders_of(settings, delivery.run_id)) == FOLDERS


def test_a_hierarchical_source_lists_its_directories(hns_delivery: Delivery, dfs: DfsStandIn,
                                                     hns_settings: Settings) -> None:
    seed_hierarchical(hns_delivery, dfs)
    plan = build_plan(hns_delivery.request, hns_delivery.run_id, hns_settings)
    assert plan.refusal is None and plan.files == len(FILES)
    assert set(folders_of(hns_settings, hns_delivery.run_id)) == FOLDERS


def test_a_dry_run_counts_every_folder_the_delivery_creates(delivery: Delivery,
                                                           settings: Settings) -> None:
    seed_flat(delivery)
    report = dry_run(delivery.request, delivery.run_id, settings)
    assert report.folders == len(FOLDERS)  # the manifest's folder count, empty ones included


def test_folder_pages_are_bounded_and_a_smaller_plan_leaves_no_stale_page(
        delivery: Delivery, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared.storage.work, "FOLDERS_PER_PAGE", 2)
    seed_flat(delivery)
    assert build_plan(delivery.request, delivery.run_id, settings).folder_pages == 3
    for name in EMPTY:
        delivery.source.delete_blob(delivery.request.source_path(name))
    again = build_plan(delivery.request, delivery.run_id, settings)
    assert (again.folders, again.folder_pages) == (2, 1)
    with StorageClients(settings) as clients:
        pages = [blob.name for blob in WorkStore(clients).container.list_blobs(
            name_starts_with=shared.storage.work.folder_pages_prefix(delivery.run_id) + "/")]
    assert len(pages) == 1
    assert set(folders_of(settings, delivery.run_id)) == {"Data", "Data/L001"}


def test_a_source_folder_with_the_service_folders_name_is_refused(delivery: Delivery,
                                                                  settings: Settings) -> None:
    delivery.seed("a.txt", b"a")
    delivery.source.upload_blob(delivery.request.source_path("_ddd_transfer"), b"",
                                metadata=MARKER)
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.storage_problem is not None and "_ddd_transfer" in plan.storage_problem


def test_folders_are_made_in_a_flat_sink_once(delivery: Delivery, settings: Settings) -> None:
    seed_flat(delivery)
    plan = build_plan(delivery.request, delivery.run_id, settings)
    # a file already has the name of a folder (possible on flat storage): it stays a file
    taken = delivery.request.sink_path("Empty")
    delivery.sink.upload_blob(taken, b"a file")
    folders_input = FoldersInput(request=delivery.request, run_id=delivery.run_id,
                                 folder_pages=plan.folder_pages)
    first = create_folders(folders_input, settings)
    assert (first.kind, first.folders, first.created) == (AccountKind.FLAT, 6, 5)
    assert create_folders(folders_input, settings).created == 0
    markers = {blob.name for blob in delivery.sink.list_blobs(include=["metadata"])
               if (blob.metadata or {}) == MARKER}
    folder = delivery.request.sink_folder
    assert markers == {folder} | {f"{folder}/{name}" for name in FOLDERS - {"Empty"}}
    assert delivery.sink.download_blob(taken).readall() == b"a file"


def test_directories_are_made_in_a_hierarchical_sink_once(hns_delivery: Delivery,
                                                          dfs: DfsStandIn,
                                                          hns_settings: Settings) -> None:
    seed_hierarchical(hns_delivery, dfs)
    plan = build_plan(hns_delivery.request, hns_delivery.run_id, hns_settings)
    folders_input = FoldersInput(request=hns_delivery.request, run_id=hns_delivery.run_id,
                                 folder_pages=plan.folder_pages)
    first = create_folders(folders_input, hns_settings)
    # the plan's claim made the delivered folder already (as writing a blob does on ADLS)
    assert (first.kind, first.folders, first.created) == (AccountKind.HIERARCHICAL, 6, 5)
    assert create_folders(folders_input, hns_settings).created == 0
    file_system = dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(
        hns_delivery.sink.container_name)
    folder = hns_delivery.request.sink_folder
    directories = {path.name for path in file_system.get_paths(path=folder)
                   if path.is_directory}
    assert directories == {f"{folder}/{name}" for name in FOLDERS | {"_ddd_transfer"}}
