"""Copy and verify by chunk against a real Azurite; every destination byte is hashed here."""

from __future__ import annotations

import hashlib
import os

from azure.storage.blob import ContentSettings

from shared.copy.blocks import block_size_for
from shared.copy.chunk import copy_chunk
from shared.copy.file import SOURCE_CHANGED, SOURCE_DELETED
from shared.core.config import GIB, MIB, Settings, load_settings
from shared.core.models import ChunkResult, CopyTotals, FileResult, Plan
from shared.plan.planner import build_plan
from shared.storage.checksum import FILE_BYTES_READ
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore, result_page_name
from tests.shared.conftest import BLOCK_SIZE, SMALL_FILE_MAX
from tests.shared.delivery_setup import Delivery


def seeded_files() -> dict[str, tuple[bytes, bool]]:
    """relative path -> (content, uploaded with a Content-MD5)."""
    return {
        "SampleSheet.csv": (b"[Header]\nIEMFileVersion,5\n" * 40, True),
        "Fastq/Sample A_S1_L001_R1_001.fastq.gz": (os.urandom(300 * 1024), True),
        "Fastq/Échantillon_ß_S2_R1.fastq.gz": (os.urandom(5000), True),
        # above the small-file threshold, with a Content-MD5: blocks, checked against it
        "Fastq/big_with_md5.fastq.gz": (os.urandom(SMALL_FILE_MAX + BLOCK_SIZE + 17), True),
        # uploaded in blocks, so no Content-MD5: blocks, MD5 computed from the source
        "Fastq/big_no_md5.fastq.gz": (os.urandom(2 * BLOCK_SIZE + 5), False),
        "Logs/small_no_md5.log": (b"log line\n" * 100, False),
        "RunCompletionStatus.xml": (b"<RunCompletionStatus/>", True),
        "empty.txt": (b"", True),
        "empty_no_md5.txt": (b"", False),
    }


def plan_and_seed(
    delivery: Delivery, settings: Settings, files: dict[str, tuple[bytes, bool]]
) -> Plan:
    for path, (content, with_md5) in files.items():
        delivery.seed(path, content, with_md5=with_md5, content_type="application/x-test")
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.refusal is None
    return plan


def copy_all(delivery: Delivery, settings: Settings, plan: Plan) -> list[ChunkResult]:
    return [copy_chunk(chunk_ref, delivery.request, settings) for chunk_ref in plan.chunk_refs()]


def result_pages(settings: Settings, plan: Plan) -> dict[str, FileResult]:
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        results = {}
        for index in range(plan.chunk_count):
            for record in work.read_lines(result_page_name(plan.run_id, index)):
                results[record["path"]] = FileResult.model_validate(record)
        return results


def test_every_kind_of_file_arrives_verified(delivery: Delivery, settings: Settings) -> None:
    files = seeded_files()
    plan = plan_and_seed(delivery, settings, files)
    FILE_BYTES_READ.reset()

    totals = CopyTotals.of(copy_all(delivery, settings, plan))

    assert totals.failure_message() is None, totals.failures
    assert totals.verified_files == totals.files == len(files)
    assert totals.verified_bytes == totals.bytes == plan.bytes
    # The bytes of a file copied in blocks are read once by the app (to hash them), no more; a
    # small file with a source MD5 is checked by the service and never read by the app.
    read_by_the_app = sum(
        len(content)
        for content, with_md5 in files.values()
        if not (with_md5 and len(content) <= SMALL_FILE_MAX)
    )
    assert FILE_BYTES_READ.total == read_by_the_app

    results = result_pages(settings, plan)
    for path, (content, with_md5) in files.items():
        expected_md5 = hashlib.md5(content).hexdigest()
        delivered = delivery.sink_bytes(path)
        assert hashlib.md5(delivered).hexdigest() == expected_md5, path
        assert len(delivered) == len(content)
        properties = delivery.sink.get_blob_client(
            delivery.request.sink_path(path)
        ).get_blob_properties()
        assert bytes(properties.content_settings.content_md5).hex() == expected_md5, path
        assert properties.content_settings.content_type == "application/x-test", path

        result = results[path]
        assert result.verified and result.error is None
        assert result.content_md5 == expected_md5
        assert result.size == len(content)
        assert result.destination_path == f"jdoe/mouse-rnaseq/{path}"
        assert result.etag == properties.etag
        assert result.last_modified == properties.last_modified
        small = with_md5 and len(content) <= SMALL_FILE_MAX
        expected_verification = (
            "source-md5+copy-md5"
            if small
            else "source-md5+block-md5"
            if with_md5
            else "computed-from-source+block-md5"
        )
        assert result.verification == expected_verification, path


def test_a_chunk_run_again_gives_the_same_destination(
    delivery: Delivery, settings: Settings
) -> None:
    files = {
        "a.bin": (os.urandom(1000), True),
        "b.bin": (os.urandom(BLOCK_SIZE * 3 + 1), False),
    }
    plan = plan_and_seed(delivery, settings, files)
    first = copy_all(delivery, settings, plan)
    etags = {path: destination_etag(delivery, path) for path in files}
    pages = result_pages(settings, plan)
    second = copy_all(delivery, settings, plan)
    # the second run found both files verified at the destination and copied neither
    assert [result.resumed_files for result in second] == [2]
    assert [result.model_copy(update={"resumed_files": 0}) for result in second] == first
    assert {path: destination_etag(delivery, path) for path in files} == etags
    assert result_pages(settings, plan) == pages
    for path, (content, _) in files.items():
        assert delivery.sink_bytes(path) == content


def destination_etag(delivery: Delivery, path: str) -> str:
    blob = delivery.sink.get_blob_client(delivery.request.sink_path(path))
    return str(blob.get_blob_properties().etag)


def test_a_source_changed_or_deleted_after_planning_fails_that_file_only(
    delivery: Delivery, settings: Settings
) -> None:
    files = {
        "fine.txt": (b"unchanged", True),
        "rewritten_small.txt": (b"original small", True),
        "rewritten_large.bin": (os.urandom(SMALL_FILE_MAX + 10), True),
        "rewritten_no_md5.bin": (os.urandom(BLOCK_SIZE + 10), False),
        "deleted_small.txt": (b"will be deleted", True),
        "deleted_large.bin": (os.urandom(BLOCK_SIZE + 10), False),
    }
    plan = plan_and_seed(delivery, settings, files)
    # The core re-uploads some files (same size even) and deletes others after planning.
    for path in ("rewritten_small.txt", "rewritten_large.bin", "rewritten_no_md5.bin"):
        content, with_md5 = files[path]
        delivery.seed(path, bytes(reversed(content)), with_md5=with_md5)
    for path in ("deleted_small.txt", "deleted_large.bin"):
        delivery.source.delete_blob(delivery.request.source_path(path))

    totals = CopyTotals.of(copy_all(delivery, settings, plan))

    assert totals.verified_files == 1 and totals.failed_files == 5
    reasons = {failure.path: failure.reason for failure in totals.failures}
    assert reasons == {
        "rewritten_small.txt": SOURCE_CHANGED,
        "rewritten_large.bin": SOURCE_CHANGED,
        "rewritten_no_md5.bin": SOURCE_CHANGED,
        "deleted_small.txt": SOURCE_DELETED,
        "deleted_large.bin": SOURCE_DELETED,
    }
    message = totals.failure_message()
    assert message is not None and message.startswith("5 of 6 files were not delivered")
    assert "rewritten_large.bin: the source changed after planning" in message
    results = result_pages(settings, plan)
    assert results["fine.txt"].verified
    assert not results["rewritten_small.txt"].verified


def test_a_source_md5_that_does_not_match_its_bytes_fails_the_file(
    delivery: Delivery, settings: Settings
) -> None:
    content = os.urandom(SMALL_FILE_MAX + 100)
    blob_name = delivery.seed("lying_md5.bin", content)
    # The stored Content-MD5 no longer describes the bytes (a corrupt upload, say).
    blob = delivery.source.get_blob_client(blob_name)
    content_settings = blob.get_blob_properties().content_settings
    content_settings.content_md5 = bytearray(hashlib.md5(b"other bytes").digest())
    blob.set_http_headers(content_settings=content_settings)
    plan = build_plan(delivery.request, delivery.run_id, settings)

    (chunk_result,) = copy_all(delivery, settings, plan)

    assert chunk_result.failed_files == 1
    assert chunk_result.failures[0].path == "lying_md5.bin"
    assert chunk_result.failures[0].reason.startswith("MD5 mismatch")


def test_a_small_file_whose_md5_does_not_match_is_refused_by_the_service(
    delivery: Delivery, settings: Settings
) -> None:
    blob_name = delivery.seed("small_lying_md5.txt", b"these bytes")
    blob = delivery.source.get_blob_client(blob_name)
    content_settings = blob.get_blob_properties().content_settings
    content_settings.content_md5 = bytearray(hashlib.md5(b"other bytes").digest())
    blob.set_http_headers(content_settings=content_settings)
    plan = build_plan(delivery.request, delivery.run_id, settings)

    (chunk_result,) = copy_all(delivery, settings, plan)

    assert chunk_result.failed_files == 1
    assert chunk_result.failures[0].reason.startswith(
        "MD5 mismatch: the source's bytes do not hash to its Content-MD5"
    )
    # nothing was committed at the destination
    blob = delivery.sink.get_blob_client(delivery.request.sink_path("small_lying_md5.txt"))
    assert not blob.exists()


def test_a_storage_refusal_holds_no_sas(delivery: Delivery, settings: Settings) -> None:
    plan = plan_and_seed(
        delivery, settings, {"a.txt": (b"a", True), "b.bin": (os.urandom(100), False)}
    )
    delivery.sink.delete_container()
    results = copy_all(delivery, settings, plan)
    refusal = results[0].refusal
    assert refusal is not None and "ContainerNotFound" in refusal and "sig=" not in refusal
    delivery.sink.create_container()  # for the fixture's clean-up


def test_results_pages_hold_no_sas(delivery: Delivery, settings: Settings) -> None:
    plan = plan_and_seed(
        delivery, settings, {"a.txt": (b"a", True), "gone.bin": (os.urandom(100), False)}
    )
    delivery.source.delete_blob(delivery.request.source_path("gone.bin"))
    copy_all(delivery, settings, plan)
    with StorageClients(settings) as clients:
        page = (
            WorkStore(clients)
            .container.get_blob_client(result_page_name(plan.run_id, 0))
            .download_blob()
            .readall()
        )
    assert b"sig=" not in page and b"se=" not in page


def test_chunks_can_run_in_parallel(delivery: Delivery, core_environ: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = load_settings({**core_environ, "DDD_CHUNK_MAX_FILES": "5"})
    files = {f"many/{index:03d}.txt": (os.urandom(index * 37), True) for index in range(40)}
    plan = plan_and_seed(delivery, settings, files)
    assert plan.chunk_count == 8
    with ThreadPoolExecutor(4) as pool:
        chunk_results = list(
            pool.map(lambda ref: copy_chunk(ref, delivery.request, settings), plan.chunk_refs())
        )
    assert CopyTotals.of(chunk_results).verified_files == 40
    for path, (content, _) in files.items():
        assert delivery.sink_bytes(path) == content


def test_block_size_grows_only_past_fifty_thousand_blocks() -> None:
    assert block_size_for(10 * GIB, 32 * MIB) == 32 * MIB
    assert block_size_for(50_000 * 32 * MIB, 32 * MIB) == 32 * MIB
    grown = block_size_for(2048 * GIB, 32 * MIB)
    assert grown % MIB == 0 and grown * 50_000 >= 2048 * GIB
    assert block_size_for(0, 32 * MIB) == 32 * MIB


def test_names_with_url_special_characters(delivery: Delivery, settings: Settings) -> None:
    files = {
        "odd/hash#and?query&amp=1.txt": (b"small one", True),
        "odd/percent%20plus+semi;colon:.bin": (os.urandom(BLOCK_SIZE + 3), False),
        "odd/quote'dq\"brackets[1](2){3}~!@$^,=.txt": (b"another", False),
    }
    plan = plan_and_seed(delivery, settings, files)
    assert CopyTotals.of(copy_all(delivery, settings, plan)).verified_files == 3
    for path, (content, _) in files.items():
        assert delivery.sink_bytes(path) == content


def test_block_copies_carry_the_source_headers_and_metadata(
    delivery: Delivery, settings: Settings
) -> None:
    content = os.urandom(3 * BLOCK_SIZE + 7)  # no Content-MD5: the block path
    name = delivery.seed("reads.fastq.gz", content, with_md5=False)
    source = delivery.source.get_blob_client(name)
    source.set_http_headers(content_settings=ContentSettings(
        content_type="application/gzip", content_encoding="identity",
        content_disposition='attachment; filename="reads.fastq.gz"',
        cache_control="no-cache", content_language="en"))
    source.set_blob_metadata({"run": "261120_NB551234_0042", "lane": "1"})
    plan = build_plan(delivery.request, delivery.run_id, settings)
    copy_all(delivery, settings, plan)
    delivered = delivery.sink.get_blob_client(delivery.request.sink_path("reads.fastq.gz"))
    properties = delivered.get_blob_properties()
    assert delivered.download_blob().readall() == content
    headers = properties.content_settings
    assert (headers.content_type, headers.content_encoding, headers.cache_control,
            headers.content_language) == ("application/gzip", "identity", "no-cache", "en")
    assert headers.content_disposition == 'attachment; filename="reads.fastq.gz"'
    assert properties.metadata == {"run": "261120_NB551234_0042", "lane": "1"}
    assert bytes(headers.content_md5) == hashlib.md5(content).digest()
