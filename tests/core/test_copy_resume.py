"""A chunk run again resumes at the file: verified destinations are not copied again.

Copy requests are counted by `tests.fault_proxy.FaultProxy` between the app and a real Azurite;
destination ETags show that nothing was rewritten.
"""

from __future__ import annotations

import hashlib
import os

import pytest
from azure.storage.blob import ContentSettings

from shared.config import Settings
from shared.copier import CopyInfrastructureError, copy_chunk
from shared.models import ChunkResult, FileResult, Plan
from shared.planner import build_plan
from shared.storage import StorageClients, WorkStore, result_page_name
from tests.core.conftest import BLOCK_SIZE
from tests.core.delivery_setup import Delivery
from tests.fault_proxy import Exchange, FaultProxy

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


def test_destinations_that_do_not_verify_are_copied_again(
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

    assert result.verified_files == len(FILES) and result.resumed_files == len(FILES) - 3
    copied = {e.blob_name for e in proxy.app_exchanges() if e.is_commit}
    assert copied == {sink_path("reads/A_R1.fastq.gz"), sink_path("nomd5/small.log"),
                      sink_path("reads/A_R2.fastq.gz")}
    for path, content in FILES.items():
        assert delivery.sink_bytes(path) == content, path
