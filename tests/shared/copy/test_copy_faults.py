"""The copier under real Azurite refusals and injected faults: named per-file results, retries in
place, a raise when storage fails for a moment (the orchestrator tries the unit again later),
and a typed refusal when it refuses in a way no retry changes.

Storage is a real Azurite; faults come from `tests.fault_proxy.FaultProxy` between the app and
it (503 ServerBusy, connection resets before or after Azurite did the request).
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContentSettings, StorageErrorCode

import shared.copy.file
import shared.storage.clients
import shared.storage.sas
from shared.copy.attempts import FILE_ATTEMPTS
from shared.copy.chunk import CopyInfrastructureError, copy_chunk
from shared.copy.file import SOURCE_CHANGED, SOURCE_DELETED
from shared.core.config import Settings, load_settings
from shared.core.models import ChunkResult, CopyTotals, Plan
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.errors import StorageFault, fault_label, has_code
from shared.storage.sas import SourceSas
from tests.fault_proxy import Exchange, FaultProxy
from tests.shared.conftest import BLOCK_SIZE, SMALL_FILE_MAX
from tests.shared.delivery_setup import Delivery

pytestmark = pytest.mark.usefixtures("no_waits")


def seed_and_plan(delivery: Delivery, settings: Settings, files: dict[str, bytes]) -> Plan:
    for path, content in files.items():
        delivery.seed(path, content, with_md5=not path.startswith("nomd5/"))
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.refusal is None, plan.refusal
    return plan


def copy_all(delivery: Delivery, settings: Settings, plan: Plan) -> list[ChunkResult]:
    return [copy_chunk(ref, delivery.request, settings) for ref in plan.chunk_refs()]


def stage_of(exchange: Exchange, delivery: Delivery, path: str) -> bool:
    return exchange.is_copy_from_url and exchange.blob_name == delivery.request.sink_path(path)


# ----- (a) real Azurite refusals become named per-file results --------------------------------
def test_real_refusals_are_named_per_file(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    files = {
        "fine.txt": b"fine",
        "lying_md5.txt": b"the stored MD5 is of other bytes",
        "stale_etag.txt": b"re-uploaded after planning",
        "gone.txt": b"deleted after planning",
        # read and hashed by the app, then re-uploaded before its blocks are staged
        "nomd5/changed_while_copying.bin": os.urandom(2 * BLOCK_SIZE + 3),
    }
    for path, content in files.items():
        delivery.seed(path, content, with_md5=not path.startswith("nomd5/"))
    lying = delivery.source.get_blob_client(delivery.request.source_path("lying_md5.txt"))
    headers = lying.get_blob_properties().content_settings
    headers.content_md5 = bytearray(hashlib.md5(b"other bytes").digest())
    lying.set_http_headers(content_settings=headers)
    plan = build_plan(delivery.request, delivery.run_id, proxied)
    delivery.seed("stale_etag.txt", b"re-uploaded after planning!")
    delivery.source.delete_blob(delivery.request.source_path("gone.txt"))

    def rewrite_source_before_its_first_block(exchange: Exchange) -> None:
        if stage_of(exchange, delivery, "nomd5/changed_while_copying.bin") and not any(
            e.extra.get("rewrote") for e in proxy.app_exchanges()
        ):
            exchange.extra["rewrote"] = True
            delivery.seed("nomd5/changed_while_copying.bin", os.urandom(2 * BLOCK_SIZE + 3),
                          with_md5=False)

    proxy.before_forward.append(rewrite_source_before_its_first_block)

    (result,) = copy_all(delivery, proxied, plan)  # no raise: every failure is about one file

    reasons = {failure.path: failure.reason for failure in result.failures}
    assert result.verified_files == 1 and set(reasons) == set(files) - {"fine.txt"}
    assert reasons["lying_md5.txt"].startswith(
        "MD5 mismatch: the source's bytes do not hash to its Content-MD5 "
        + hashlib.md5(b"other bytes").hexdigest()
    )
    assert reasons["stale_etag.txt"] == SOURCE_CHANGED
    assert reasons["gone.txt"] == SOURCE_DELETED
    assert reasons["nomd5/changed_while_copying.bin"] == SOURCE_CHANGED
    # what Azurite answered the copy requests (Put Block From URL)
    refused = {(e.blob_name.rsplit("/", 1)[-1], e.status)
               for e in proxy.app_exchanges() if e.is_copy_from_url and (e.status or 0) >= 400}
    assert ("lying_md5.txt", 400) in refused  # Md5Mismatch
    assert ("changed_while_copying.bin", 412) in refused  # SourceConditionNotMet
    # the lying MD5 was tried once more before it was final; nothing was committed for it
    lying_stages = [e for e in proxy.app_exchanges() if stage_of(e, delivery, "lying_md5.txt")]
    assert len(lying_stages) == 2
    assert not delivery.sink.get_blob_client(
        delivery.request.sink_path("lying_md5.txt")).exists()


def test_storage_errors_are_classified_by_code_not_text(
    delivery: Delivery, proxied: Settings
) -> None:
    """Real Azurite answers through the SDK: the code is an enum whose str() is not the code."""
    name = delivery.seed("a.bin", b"abc")
    with StorageClients(proxied) as clients:
        url = SourceSas(clients.source_service("sequencingcore"), proxied).blob_url(
            delivery.source.container_name, name)
        destination = clients.sink(
            "labsmith", delivery.sink.container_name).get_blob_client("x/a.bin")
        with pytest.raises(HttpResponseError) as md5_refused:
            destination.stage_block_from_url("000000", url, source_content_md5=b"\0" * 16)
        with pytest.raises(HttpResponseError) as stale:
            destination.stage_block_from_url(
                "000000", url, headers={"x-ms-source-if-match": '"0x1"'})
        delivery.source.delete_blob(name)
        with pytest.raises(HttpResponseError) as missing:
            destination.stage_block_from_url("000000", url)

    assert str(md5_refused.value.error_code) != "Md5Mismatch"  # why text comparisons failed
    assert has_code(md5_refused.value, StorageErrorCode.MD5_MISMATCH)
    assert StorageFault.of(md5_refused.value) is StorageFault.MD5_MISMATCH
    assert has_code(stale.value, StorageErrorCode.SOURCE_CONDITION_NOT_MET)
    assert StorageFault.of(stale.value) is StorageFault.CONDITION_FAILED
    assert has_code(missing.value, StorageErrorCode.CANNOT_VERIFY_COPY_SOURCE)
    assert StorageFault.of(missing.value) is StorageFault.NOT_FOUND
    assert fault_label(missing.value) == "HTTP 404 CannotVerifyCopySource"


def test_a_busy_copy_source_is_transient() -> None:
    """Azure tells what the source answered in x-ms-copy-source-status-code; Azurite answers
    with that status itself. (Azurite reads sources over its own port: no proxy can fault it.)"""
    busy = HttpResponseError(message="Could not verify the copy source within the time.")
    busy.status_code, busy.error_code = 503, StorageErrorCode.CANNOT_VERIFY_COPY_SOURCE
    assert StorageFault.of(busy) is StorageFault.TRANSIENT
    assert fault_label(busy) == "HTTP 503 CannotVerifyCopySource"
    refused = HttpResponseError(message="This request is not authorized.")
    refused.status_code, refused.error_code = 403, "CannotVerifyCopySource"
    assert StorageFault.of(refused) is StorageFault.NO_PERMISSION


# ----- retries in place -------------------------------------------------------------------------
def test_a_file_that_keeps_failing_for_a_moment_stops_the_unit_and_the_retry_copies_it(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    """Storage failing for one file, past its attempts in place, is not that file's fault: the
    unit raises (the orchestrator tries it again later) instead of naming the file failed."""
    files = {f"reads/{n}.txt": f"file {n}".encode() for n in range(6)}
    files["nomd5/big.bin"] = os.urandom(BLOCK_SIZE + 5)
    plan = seed_and_plan(delivery, proxied, files)
    proxy.rules.append(
        lambda e: "busy" if stage_of(e, delivery, "reads/3.txt") else None
    )

    with pytest.raises(CopyInfrastructureError) as raised:
        copy_all(delivery, proxied, plan)

    assert f"reads/3.txt: still failing after {FILE_ATTEMPTS} attempts (HTTP 503 ServerBusy)" \
        in str(raised.value)
    # each attempt's copy request was retried by the SDK: 3 attempts x 4 requests, no more
    stages = [e for e in proxy.app_exchanges() if stage_of(e, delivery, "reads/3.txt")]
    assert len(stages) == FILE_ATTEMPTS * (shared.storage.clients.STORAGE_RETRY.retries + 1)
    proxy.rules.clear()
    (result,) = copy_all(delivery, proxied, plan)  # the orchestrator's retry, after the outage
    assert result.verified_files == len(files) and result.failed_files == 0
    for path, content in files.items():
        assert delivery.sink_bytes(path) == content


def test_faults_on_a_third_of_requests_cost_about_one_request_each(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    files = {f"run/{n:03d}.fastq.gz": os.urandom(200 + n) for n in range(40)}
    files.update({f"nomd5/{n}.bin": os.urandom(BLOCK_SIZE + n) for n in range(3)})
    plan = seed_and_plan(delivery, proxied, files)
    proxy.reset_counts()
    proxy.fault_rate = 0.3

    totals = CopyTotals.of(copy_all(delivery, proxied, plan))

    assert totals.failure_message() is None
    assert totals.verified_files == len(files)
    for path, content in files.items():
        assert delivery.sink_bytes(path) == content
    exchanges = proxy.app_exchanges()
    faults = sum(1 for e in exchanges if e.fault)
    copies = [e for e in exchanges if e.is_copy_from_url]
    copy_faults = sum(1 for e in copies if e.fault)
    blocks = 40 + sum(-(-(BLOCK_SIZE + n) // BLOCK_SIZE) for n in range(3))
    assert faults > 0.2 * len(exchanges)
    # every block copied once, plus one request per fault on it: no file or chunk re-run
    # (a reset after Azurite did a request is a fault too: the SDK sends it again)
    assert len(copies) - copy_faults <= blocks + 2


def test_storage_down_stops_the_chunk_and_the_retry_resumes(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy, core_environ: dict[str, str]
) -> None:
    files = {f"reads/{n:02d}.txt": f"read {n}".encode() for n in range(30)}
    plan = seed_and_plan(delivery, proxied, files)
    # the sink account answers every copy with 503 once 5 files are in
    commits_before_outage = 5

    def outage(exchange: Exchange) -> str | None:
        commits = sum(1 for e in proxy.app_exchanges() if e.is_commit and e.delivered)
        return "busy" if exchange.is_copy_from_url and commits >= commits_before_outage else None

    proxy.rules.append(outage)
    settings = load_settings({**core_environ, "DDD_COPY_THREADS": "1",
                              "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template})
    with pytest.raises(CopyInfrastructureError) as raised:
        copy_all(delivery, settings, plan)
    assert "still failing after 3 attempts" in str(raised.value)
    assert "HTTP 503" in str(raised.value) and "ServerBusy" in str(raised.value)

    proxy.rules.clear()
    proxy.reset_counts()
    (result,) = copy_all(delivery, settings, plan)  # the orchestrator's retry
    assert result.verified_files == len(files) and result.resumed_files == 5
    copied_again = {e.blob_name for e in proxy.app_exchanges() if e.is_copy_from_url}
    assert len(copied_again) == len(files) - 5


def test_a_missing_sink_container_is_a_refusal_without_any_sas(
    delivery: Delivery, proxied: Settings
) -> None:
    plan = seed_and_plan(delivery, proxied, {"a.txt": b"a", "nomd5/b.bin": os.urandom(100)})
    delivery.sink.delete_container()
    (result,) = copy_all(delivery, proxied, plan)  # no raise: no retry changes it
    assert result.refusal is not None
    assert "ContainerNotFound" in result.refusal and "sig=" not in result.refusal
    delivery.sink.create_container()  # for the fixture's clean-up


def test_headers_carried_by_the_one_block_copy(delivery: Delivery, proxied: Settings) -> None:
    name = delivery.seed("SampleSheet.csv", b"Sample_ID\nA\n")
    source = delivery.source.get_blob_client(name)
    md5 = source.get_blob_properties().content_settings.content_md5
    source.set_http_headers(content_settings=ContentSettings(
        content_type="text/csv", content_encoding="identity", content_language="en",
        cache_control="no-cache", content_md5=md5))
    source.set_blob_metadata({"run": "261120_NB551234_0042"})
    plan = build_plan(delivery.request, delivery.run_id, proxied)
    (result,) = copy_all(delivery, proxied, plan)
    assert result.verified_files == 1
    properties = delivery.sink.get_blob_client(
        delivery.request.sink_path("SampleSheet.csv")).get_blob_properties()
    headers = properties.content_settings
    assert (headers.content_type, headers.content_encoding, headers.content_language,
            headers.cache_control) == ("text/csv", "identity", "en", "no-cache")
    assert properties.metadata == {"run": "261120_NB551234_0042"}
    assert bytes(headers.content_md5) == bytes(md5)
    assert properties.size <= SMALL_FILE_MAX


def test_a_sas_refused_for_a_clock_minutes_off_names_the_clock(
    delivery: Delivery, proxied: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This machine's clock 6 minutes ahead: every SAS starts in the service's future, and the
    service refuses every copy (403 CannotVerifyCopySource). The refusal says why."""
    plan = seed_and_plan(delivery, proxied, {"a.txt": b"a", "nomd5/b.bin": os.urandom(100)})
    ahead = datetime.now(UTC) + timedelta(minutes=6)
    monkeypatch.setattr(shared.storage.sas, "utc_now", lambda: ahead)

    (result,) = copy_all(delivery, proxied, plan)

    assert result.refusal is not None and "HTTP 403" in result.refusal
    assert "this machine's clock is 6 minutes ahead of the storage service's" in result.refusal
    assert "set this machine's clock right" in result.refusal
