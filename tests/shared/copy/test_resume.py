"""A chunk run again resumes at the file: verified destinations are not copied again.

Copy requests are counted by `tests.fault_proxy.FaultProxy` between the app and a real Azurite;
destination ETags show that nothing was rewritten.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from azure.storage.blob import ContentSettings

from shared.copy.chunk import CopyInfrastructureError, copy_chunk
from shared.copy.file import DESTINATION_TAKEN
from shared.core.config import MIB, Settings, load_settings
from shared.core.models import ChunkRef, ChunkResult, FileResult, Plan
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore, result_page_name
from tests.fault_proxy import Exchange, FaultProxy
from tests.shared.conftest import BLOCK_SIZE
from tests.shared.delivery_setup import Delivery

pytestmark = pytest.mark.usefixtures("no_waits")

FILES = {
    "SampleSheet.csv": b"Sample_ID,index\nA,ACGT\n",
    "reads/A_R1.fastq.gz": os.urandom(3000),
    "reads/A_R2.fastq.gz": os.urandom(3100),
    "empty.txt": b"",
    # no source MD5: copied in blocks; their ids name the source version
    "nomd5/big.bin": os.urandom(2 * BLOCK_SIZE + 11),
    "nomd5/small.log": b"log\n" * 50,
    "nomd5/empty.txt": b"",
}


@pytest.fixture
def plan(delivery: Delivery, proxied: Settings) -> Plan:
    for path, content in FILES.items():
        delivery.seed(path, content, with_md5=not path.startswith("nomd5/"))
    built = build_plan(delivery.request, delivery.run_id, proxied)
    assert built.refusal is None and built.chunk_count == 1
    return built


def results_page_written(exchange: Exchange) -> bool:
    return exchange.method == "PUT" and exchange.blob_name.endswith(".jsonl") \
        and "/results/" in exchange.path


def copy(delivery: Delivery, settings: Settings, plan: Plan) -> ChunkResult:
    (chunk_ref,) = plan.chunk_refs()
    return copy_chunk(chunk_ref, delivery.request, settings)


def destination_etags(delivery: Delivery) -> dict[str, str]:
    return {blob.name: blob.etag for blob in delivery.sink.list_blobs()
            if "/_ddd_transfer/" not in blob.name}


def copies_of(proxy: FaultProxy) -> list[str]:
    return sorted(e.blob_name for e in proxy.app_exchanges() if e.is_copy_from_url or e.is_commit)


def test_a_chunk_retried_after_it_raised_copies_nothing_again(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy, plan: Plan
) -> None:
    # every file verifies, then the work container refuses the results page: the activity raises
    proxy.rules.append(lambda e: "busy" if results_page_written(e) else None)
    with pytest.raises(CopyInfrastructureError):
        copy(delivery, proxied, plan)
    first_copies = copies_of(proxy)
    assert first_copies  # the first attempt did copy
    etags = destination_etags(delivery)
    assert len(etags) == len(FILES)

    proxy.rules.clear()
    proxy.reset_counts()
    result = copy(delivery, proxied, plan)  # the orchestrator's retry

    assert result.verified_files == len(FILES) and result.resumed_files == len(FILES)
    assert copies_of(proxy) == []  # no Put Block From URL, no Put Block List
    assert destination_etags(delivery) == etags
    # the results page records every file as verified, with the destination's ETag
    with StorageClients(proxied) as clients:
        records = list(WorkStore(clients).read_lines(result_page_name(plan.run_id, 0)))
    results = {r.path: r for r in (FileResult.model_validate(record) for record in records)}
    for path, content in FILES.items():
        result_of = results[path]
        assert result_of.verified and result_of.content_md5 == hashlib.md5(content).hexdigest()
        assert result_of.etag == f'"{etags[delivery.request.sink_path(path)]}"'
    assert results["nomd5/big.bin"].verification == "computed-from-source+block-md5"
    assert results["SampleSheet.csv"].verification == "source-md5+copy-md5"


def test_the_first_attempt_does_not_look_for_earlier_work(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy, plan: Plan
) -> None:
    proxy.reset_counts()
    assert copy(delivery, proxied, plan).resumed_files == 0
    sink_listings = [e for e in proxy.app_exchanges()
                     if e.account == "labsmith" and e.query.get("comp") == "list"]
    assert sink_listings == []


def test_a_destination_this_attempt_did_not_write_is_never_replaced(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy, plan: Plan
) -> None:
    proxy.rules.append(lambda e: "busy" if results_page_written(e) else None)
    with pytest.raises(CopyInfrastructureError):
        copy(delivery, proxied, plan)
    proxy.rules.clear()
    sink_path = delivery.request.sink_path
    # other bytes of the same size, with their own (true) Content-MD5
    other = os.urandom(len(FILES["reads/A_R1.fastq.gz"]))
    delivery.sink.upload_blob(sink_path("reads/A_R1.fastq.gz"), other, overwrite=True,
                              content_settings=ContentSettings(
                                  content_md5=bytearray(hashlib.md5(other).digest())))
    # the right bytes and MD5 for a file the source had no MD5 for, but not written by a copy
    # of the planned source version (one Put Blob: no block names it)
    log = FILES["nomd5/small.log"]
    delivery.sink.upload_blob(sink_path("nomd5/small.log"), log, overwrite=True,
                              content_settings=ContentSettings(
                                  content_md5=bytearray(hashlib.md5(log).digest())))
    delivery.sink.delete_blob(sink_path("reads/A_R2.fastq.gz"))
    proxy.reset_counts()

    result = copy(delivery, proxied, plan)

    # the two files someone replaced are kept as they are and named; the deleted one is copied
    assert result.verified_files == len(FILES) - 2 and result.resumed_files == len(FILES) - 3
    assert {failure.path: failure.reason for failure in result.failures} == {
        "reads/A_R1.fastq.gz": DESTINATION_TAKEN, "nomd5/small.log": DESTINATION_TAKEN}
    tried = {e.blob_name for e in proxy.app_exchanges() if e.is_commit}
    assert tried == {sink_path("reads/A_R1.fastq.gz"), sink_path("nomd5/small.log"),
                     sink_path("reads/A_R2.fastq.gz")}  # only the deleted one got through
    assert delivery.sink_bytes("reads/A_R1.fastq.gz") == other
    assert delivery.sink_bytes("nomd5/small.log") == log
    for path, content in FILES.items():
        if path not in ("reads/A_R1.fastq.gz",):
            assert delivery.sink_bytes(path) == content, path


def test_a_new_attempt_that_adopts_the_folder_copies_only_what_is_missing(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy, plan: Plan
) -> None:
    """The website's restart (same delivery, a new transfer UUID) after an attempt that
    verified all but one file: the new attempt's first copy of the chunk looks at what is
    there and copies only the missing file."""
    copy(delivery, proxied, plan)
    missing = delivery.request.sink_path("reads/A_R2.fastq.gz")
    delivery.sink.delete_blob(missing)
    etags = destination_etags(delivery)
    restart = delivery.request.model_copy(
        update={"transfer_uuid": "0f0e0d0c-0b0a-4908-8706-050403020100"})
    adopted = build_plan(restart, f"{delivery.run_id}-restart", proxied)
    assert adopted.refusal is None and adopted.adopted_from == delivery.run_id
    proxy.reset_counts()

    (chunk_ref,) = adopted.chunk_refs()
    result = copy_chunk(chunk_ref, restart, proxied)

    assert result.verified_files == len(FILES) and result.resumed_files == len(FILES) - 1
    assert set(copies_of(proxy)) == {missing}
    assert {name: etag for name, etag in destination_etags(delivery).items()
            if name != missing} == etags
    assert delivery.sink_bytes("reads/A_R2.fastq.gz") == FILES["reads/A_R2.fastq.gz"]


def copy_every_unit(plan: Plan, delivery: Delivery, settings: Settings) -> list[ChunkResult]:
    """Every page, and every segment of a page holding one file larger than a unit, in order."""
    results = []
    for chunk_ref in plan.chunk_refs():
        unit: ChunkRef | None = chunk_ref
        while unit is not None:
            results.append(copy_chunk(unit, delivery.request, settings))
            following = results[-1].next_segment
            unit = None if following is None else unit.model_copy(update={"segment": following})
    return results


def test_a_new_attempt_does_not_copy_a_segmented_file_that_verifies(
    delivery: Delivery, core_environ: dict[str, str], proxy: FaultProxy
) -> None:
    """Files larger than a work unit (4 MiB here) are copied in segments; a restart that adopts
    the folder finds them verified at its first segment and copies none of them again."""
    settings = load_settings({**core_environ, "DDD_CHUNK_MAX_BYTES": str(4 * MIB),
                              "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template})
    big = {"big/with_md5.bin": os.urandom(9 * MIB), "big/without_md5.bin": os.urandom(9 * MIB + 1)}
    delivery.seed("big/with_md5.bin", big["big/with_md5.bin"])
    delivery.seed("big/without_md5.bin", big["big/without_md5.bin"], with_md5=False)
    first = build_plan(delivery.request, delivery.run_id, settings)
    assert first.refusal is None and first.unit_count == 2 * 3
    assert sum(r.verified_files for r in copy_every_unit(first, delivery, settings)) == 2
    etags = destination_etags(delivery)
    restart = Delivery(source=delivery.source, sink=delivery.sink, run_id=f"{delivery.run_id}-2",
                       request=delivery.request.model_copy(
                           update={"transfer_uuid": "0f0e0d0c-0b0a-4908-8706-050403020100"}))
    adopted = build_plan(restart.request, restart.run_id, settings)
    assert adopted.adopted_from == delivery.run_id
    proxy.reset_counts()

    results = copy_every_unit(adopted, restart, settings)

    assert [(r.verified_files, r.resumed_files, r.next_segment) for r in results] == \
        [(1, 1, None)] * 2
    assert copies_of(proxy) == []
    assert destination_etags(delivery) == etags
