"""Planning against a real Azurite: listing, destination check, chunk pages, idempotence."""

from __future__ import annotations

import hashlib
import socket

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.storage.blob import BlobServiceClient

from devhost.azurite import AzuriteServer
from shared.copy.sharing import PLANNING, copying_name
from shared.core.config import Settings, load_settings
from shared.core.models import FileEntry, Plan
from shared.plan import planner
from shared.plan.planner import StorageRefusal, build_plan, plan_among_copying, refusing
from shared.storage.clients import StorageClients
from shared.storage.errors import StorageFault
from shared.storage.work import WorkStore, plan_page_name, plan_pages_prefix
from tests.shared.delivery_setup import Delivery, upload

NAMES = [
    "Data/Intensities/BaseCalls/L001/s_1_1101.bcl.gz",
    "Data/Intensities/BaseCalls/L002/s_2_1101.bcl.gz",
    "Fastq/Sample A_S1_L001_R1_001.fastq.gz",
    "Fastq/Échantillon_ß_S2_L001_R1_001.fastq.gz",
    "RunCompletionStatus.xml",
    "SampleSheet.csv",
    "empty.txt",
]


def read_pages(settings: Settings, plan: Plan) -> list[list[FileEntry]]:
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        return [
            [
                FileEntry.model_validate(record)
                for record in work.read_lines(plan_page_name(plan.run_id, index))
            ]
            for index in range(plan.chunk_count)
        ]


def test_plan_lists_every_file_with_its_properties(delivery: Delivery, settings: Settings) -> None:
    contents = {name: (name.encode() * 3 if name != "empty.txt" else b"") for name in NAMES}
    for name, content in contents.items():
        delivery.seed(name, content, with_md5=not name.startswith("Data/"))
    # Another delivery in the same container, and a folder whose name extends ours: not listed.
    upload(delivery.source, "jdoe/other-project/file.txt", b"not ours")
    upload(delivery.source, "jdoe/mouse-rnaseq-old/file.txt", b"not ours either")

    plan = build_plan(delivery.request, delivery.run_id, settings)

    assert plan.refusal is None
    assert plan.files == len(NAMES)
    assert plan.bytes == sum(len(content) for content in contents.values())
    assert plan.files_without_md5 == 2
    assert plan.chunk_count == 1
    entries = {entry.path: entry for entry in read_pages(settings, plan)[0]}
    assert sorted(entries) == sorted(NAMES)
    for name, content in contents.items():
        entry = entries[name]
        assert entry.size == len(content)
        expected_md5 = None if name.startswith("Data/") else hashlib.md5(content).hexdigest()
        assert entry.content_md5 == expected_md5
        assert entry.content_type == "application/octet-stream"
        assert entry.etag.startswith('"')
    assert entries["empty.txt"].content_md5 == hashlib.md5(b"").hexdigest()


def test_adls_directory_markers_are_not_files(delivery: Delivery, settings: Settings) -> None:
    delivery.seed("reads/r1.fastq.gz", b"ACGT")
    for marker in ("jdoe/mouse-rnaseq", "jdoe/mouse-rnaseq/reads"):
        delivery.source.get_blob_client(marker).upload_blob(
            b"", overwrite=True, metadata={"hdi_isfolder": "true"}
        )
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.files == 1
    assert [entry.path for entry in read_pages(settings, plan)[0]] == ["reads/r1.fastq.gz"]


def test_destination_that_holds_anything_is_refused_with_the_websites_text(
    delivery: Delivery, settings: Settings
) -> None:
    delivery.seed("a.txt", b"a")
    expected = "Error: The transfer destination directory 'jdoe/mouse-rnaseq' already exists."
    for existing in (
        "jdoe/mouse-rnaseq/deep/inside/old.txt",  # a file inside
        "jdoe/mouse-rnaseq",  # a blob named as the folder (or an ADLS directory)
    ):
        blob = upload(delivery.sink, existing, b"")
        plan = build_plan(delivery.request, delivery.run_id, settings)
        assert plan.destination_conflict == expected
        assert plan.refusal == expected
        assert plan.chunk_count == 0 and plan.files == 0
        delivery.sink.delete_blob(blob)
    # A sibling whose name only starts like ours is not a conflict.
    upload(delivery.sink, "jdoe/mouse-rnaseq-2023/x.txt", b"x")
    assert build_plan(delivery.request, delivery.run_id, settings).refusal is None


def test_conflict_writes_no_page(delivery: Delivery, settings: Settings) -> None:
    delivery.seed("a.txt", b"a")
    upload(delivery.sink, "jdoe/mouse-rnaseq/a.txt", b"a")
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.destination_conflict
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        work.ensure_container()
        assert not list(
            work.container.list_blobs(name_starts_with=plan_pages_prefix(delivery.run_id))
        )


def test_chunks_are_bounded_by_files_and_by_bytes(
    delivery: Delivery, core_environ: dict[str, str]
) -> None:
    # 7 files of 100 bytes, one of 1,000 bytes (above the byte bound: a chunk of its own).
    for index in range(7):
        delivery.seed(f"small/{index}.dat", bytes([index]) * 100)
    delivery.seed("small/3big.dat", b"B" * 1000)
    by_files = load_settings({**core_environ, "DDD_CHUNK_MAX_FILES": "3"})
    plan = build_plan(delivery.request, delivery.run_id, by_files)
    assert [[entry.path for entry in page] for page in read_pages(by_files, plan)] == [
        ["small/0.dat", "small/1.dat", "small/2.dat"],
        ["small/3.dat", "small/3big.dat", "small/4.dat"],
        ["small/5.dat", "small/6.dat"],
    ]
    assert plan.chunk_count == 3 and plan.files == 8 and plan.bytes == 1700

    by_bytes = load_settings(
        {**core_environ, "DDD_CHUNK_MAX_FILES": "3", "DDD_CHUNK_MAX_BYTES": "250"}
    )
    plan = build_plan(delivery.request, delivery.run_id, by_bytes)
    assert [[entry.path for entry in page] for page in read_pages(by_bytes, plan)] == [
        ["small/0.dat", "small/1.dat"],
        ["small/2.dat", "small/3.dat"],
        ["small/3big.dat"],
        ["small/4.dat", "small/5.dat"],
        ["small/6.dat"],
    ]
    assert plan.chunk_count == 5 and plan.files == 8 and plan.bytes == 1700


def test_planning_again_rewrites_the_same_pages_and_drops_stale_ones(
    delivery: Delivery, core_environ: dict[str, str]
) -> None:
    for index in range(5):
        delivery.seed(f"f{index}.dat", b"x")
    settings = load_settings({**core_environ, "DDD_CHUNK_MAX_FILES": "1"})
    first = build_plan(delivery.request, delivery.run_id, settings)
    assert first.chunk_count == 5
    assert build_plan(delivery.request, delivery.run_id, settings) == first
    for index in (3, 4):
        delivery.source.delete_blob(delivery.request.source_path(f"f{index}.dat"))
    again = build_plan(delivery.request, delivery.run_id, settings)
    assert again.chunk_count == 3
    with StorageClients(settings) as clients:
        names = [
            blob.name
            for blob in WorkStore(clients).container.list_blobs(
                name_starts_with=plan_pages_prefix(delivery.run_id) + "/chunk-"
            )
        ]
    assert names == [plan_page_name(delivery.run_id, index) for index in range(3)]


def test_missing_containers_and_an_empty_folder_are_refused(
    delivery: Delivery, settings: Settings, azurite: AzuriteServer
) -> None:
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.storage_problem == (
        f"The source folder 'jdoe/mouse-rnaseq' in container '{delivery.source.container_name}' "
        "of storage account 'sequencingcore' holds no files."
    )
    no_sink = delivery.request.model_copy(update={"sink_container": "no-such-container"})
    assert "'no-such-container' does not exist in storage account 'labsmith'" in str(
        build_plan(no_sink, delivery.run_id, settings).storage_problem
    )
    no_source = delivery.request.model_copy(update={"source_container": "no-such-container"})
    assert "'no-such-container' does not exist in storage account 'sequencingcore'" in str(
        build_plan(no_source, delivery.run_id, settings).storage_problem
    )


def test_the_reserved_manifest_folder_in_the_source_is_refused(
    delivery: Delivery, settings: Settings
) -> None:
    delivery.seed("_ddd_transfer/manifest.json", b"{}")
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.storage_problem and "_ddd_transfer/" in plan.storage_problem


def test_a_refused_identity_is_one_refusal_naming_the_role(
    delivery: Delivery, core_environ: dict[str, str]
) -> None:
    """Azurite answers a wrong key with 403 AuthorizationFailure, as Azure answers an identity
    without a role (403 AuthorizationPermissionMismatch): a refusal to report, never a retry."""
    delivery.seed("a.txt", b"a")
    keys = core_environ["DDD_STORAGE_ACCOUNT_KEYS"].split(";")
    wrong_sink_key = ";".join(
        "labsmith:" + "d3Jvbmcga2V5" * 4 if pair.startswith("labsmith:") else pair for pair in keys
    )
    settings = load_settings({**core_environ, "DDD_STORAGE_ACCOUNT_KEYS": wrong_sink_key})
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.chunk_count == 0 and plan.storage_problem is not None
    assert "destination storage account 'labsmith'" in plan.storage_problem
    assert "Storage Blob Data Contributor on 'labsmith'" in plan.storage_problem
    assert "(HTTP 403 AuthorizationFailure)" in plan.storage_problem


def test_an_account_name_that_does_not_resolve_is_one_refusal_naming_it() -> None:
    """Azure answers a storage account that does not exist with no DNS record for its host
    name: the resolver's "name not known" (EAI_NONAME), seen here through the real SDK."""
    missing = BlobServiceClient("https://nosuchaccount.invalid", retry_total=0)
    with pytest.raises(StorageRefusal) as refused, \
            refusing("destination", "nosuchaccount", "incoming"):
        missing.get_container_client("incoming").exists()
    assert str(refused.value) == ("The destination storage account 'nosuchaccount' could not be "
                                  "found (its name does not resolve); check the account name.")


def test_a_resolver_that_does_not_answer_is_retried_not_refused() -> None:
    """EAI_AGAIN ("Temporary failure in name resolution") says nothing about the name: the
    account is allowed by the operators' list, so it is a transient failure to retry."""
    timed_out = ServiceRequestError("Failed to resolve 'labsmith.blob.core.windows.net'",
                                    error=socket.gaierror(socket.EAI_AGAIN, "Temporary failure "
                                                          "in name resolution"))
    assert StorageFault.of(timed_out) is StorageFault.TRANSIENT
    with pytest.raises(ServiceRequestError), refusing("destination", "labsmith", "incoming"):
        raise timed_out


def test_a_delivery_is_counted_among_those_copying_from_its_planning_on(
        delivery: Delivery, settings: Settings) -> None:
    """Its entry is written as planning starts and kept for the copy; a refused plan takes it
    back, so a delivery that will not copy holds no one's share."""
    delivery.seed("a.txt", b"a")
    entry = copying_name(delivery.run_id)
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        # the destination folder holds a file this service did not write: refused
        foreign = upload(delivery.sink, "jdoe/mouse-rnaseq/old.txt", b"")
        refused = plan_among_copying(delivery.request, delivery.run_id, settings)
        assert refused.refusal is not None
        assert not work.container.get_blob_client(entry).exists()
        delivery.sink.delete_blob(foreign)

        seen: list[dict[str, str]] = []

        def observed(_: FileEntry) -> None:
            seen.append(dict(work.container.get_blob_client(entry).get_blob_properties()
                             .metadata))

        original = planner.build_plan

        def planning(*args: object, **kwargs: object) -> Plan:
            return original(*args, observe=observed, **kwargs)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(planner, "build_plan", planning)
            plan = plan_among_copying(delivery.request, delivery.run_id, settings)
        assert plan.refusal is None
        assert seen and seen[0]["demand"] == PLANNING  # written before the listing
        assert work.container.get_blob_client(entry).exists()
