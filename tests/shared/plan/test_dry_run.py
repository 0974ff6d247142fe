"""Dry runs against Azurite: the delivery's own plan, with nothing written to the destination."""

from __future__ import annotations

import os

import pytest

from shared.core.config import MIB, Settings
from shared.core.deadline import Deadline, DeadlinePassed
from shared.core.options import DeliveryOptions
from shared.destination.claim import claim_destination, claim_path
from shared.plan.dry_run import ListingTooLong, dry_run, dry_run_id_for
from shared.plan.planner import build_plan, destination_conflict_message
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore, plan_page_name, plan_pages_prefix
from tests.fault_proxy import Exchange, FaultProxy
from tests.shared.delivery_setup import Delivery

FILES = {
    "SampleSheet.csv": (b"[Header]\n" * 30, True),
    "RunInfo.xml": (b"<RunInfo/>\n", True),
    "CopyComplete.txt": (b"", True),
    "Data/Intensities/BaseCalls/A_S1_R1.fastq.gz": (os.urandom(300_000), False),
    "Data/Intensities/BaseCalls/A_S1_R2.fastq.gz": (os.urandom(700_000), True),
    "Data/Intensities/s.locs": (os.urandom(1000), True),
    "Notes/Résumé du run.txt": ("Qualität über Q30\n".encode(), False),
    # three blocks of 1 MiB, no stored MD5: three segments, three work units
    "Data/Intensities/BaseCalls/Undetermined_S0_R1.fastq.gz": (os.urandom(2 * MIB + 5), False),
}


def seed(delivery: Delivery) -> None:
    for path, (content, with_md5) in FILES.items():
        delivery.seed(path, content, with_md5=with_md5)


def sink_names(delivery: Delivery) -> list[str]:
    return [blob.name for blob in delivery.sink.list_blobs()]


def small_chunks(settings: Settings) -> Settings:
    """Units of at most 3 files or 1 MiB (the block size here): a file of more blocks is
    copied by segments, one unit each."""
    return settings.model_copy(update={"chunk_max_files": 3, "chunk_max_bytes": MIB})


def test_a_dry_run_counts_what_the_delivery_plans_and_writes_nothing_there(
        delivery: Delivery, settings: Settings) -> None:
    seed(delivery)
    settings = small_chunks(settings)
    report = dry_run(delivery.request, dry_run_id_for(delivery.request), settings)

    assert sink_names(delivery) == []  # nothing written to the destination, not even a claim
    plan = build_plan(delivery.request, delivery.run_id, settings)  # the real delivery's plan
    assert (report.files, report.bytes, report.files_without_md5, report.work_units,
            report.chunks) == (plan.files, plan.bytes, plan.files_without_md5, plan.unit_count,
                               plan.chunk_count)
    # 7 whole files in units of 3 (3 chunks), and the big one alone on a page in 3 segments
    assert (report.files, report.files_without_md5, report.chunks, report.work_units) == (
        8, 3, 4, 6)
    assert report.bytes == sum(len(content) for content, _ in FILES.values())
    # folders as the manifest counts them: Data, Data/Intensities, .../BaseCalls, Notes
    assert report.folders == 4
    assert report.largest_file is not None
    assert report.largest_file.path == "Data/Intensities/BaseCalls/Undetermined_S0_R1.fastq.gz"
    assert report.largest_file.size == 2 * MIB + 5
    assert report.destination_outlook.free is True and report.refusal is None
    # the file list is the plan's pages, in the work container, as the delivery's are
    with StorageClients(settings) as clients:
        listed = [line["path"] for index in range(report.chunks) for line in
                  WorkStore(clients).read_lines(plan_page_name(report.run_id, index))]
    assert sorted(listed) == sorted(FILES)


def test_a_dry_run_reports_a_taken_destination_with_the_counts(
        delivery: Delivery, settings: Settings) -> None:
    seed(delivery)
    delivery.sink.upload_blob(delivery.request.sink_path("someone-else.txt"), b"theirs")
    report = dry_run(delivery.request, dry_run_id_for(delivery.request), settings)

    expected = destination_conflict_message(delivery.request.sink_folder)
    assert report.destination_outlook.free is False
    assert report.destination_outlook.conflict == expected and report.refusal == expected
    assert report.files == len(FILES)  # still counted
    assert sink_names(delivery) == [delivery.request.sink_path("someone-else.txt")]
    # the delivery itself refuses with the same words and lists nothing
    plan = build_plan(delivery.request, delivery.run_id, settings)
    assert plan.refusal == expected and plan.files == 0


def test_a_dry_run_says_the_delivery_would_take_over_an_earlier_attempt_and_leaves_its_claim(
        delivery: Delivery, settings: Settings) -> None:
    seed(delivery)
    assert claim_destination(delivery.sink, delivery.request, "delivery-4321-earlier")
    claim = delivery.sink.get_blob_client(claim_path(delivery.request))
    etag_before = claim.get_blob_properties().etag

    report = dry_run(delivery.request, dry_run_id_for(delivery.request), settings)

    assert report.destination_outlook.free is True
    assert report.destination_outlook.adopts_from == "delivery-4321-earlier"
    assert claim.get_blob_properties().etag == etag_before  # not adopted by the dry run


def test_a_missing_source_folder_is_the_delivery_s_refusal(
        delivery: Delivery, settings: Settings) -> None:
    report = dry_run(delivery.request, dry_run_id_for(delivery.request), settings)
    assert report.refusal is not None and "holds no files" in report.refusal
    assert report.files == 0 and report.destination_outlook.free is None
    assert report.largest_file is None and report.file_list is None


def test_a_folder_past_the_instant_bound_stops_the_listing(
        delivery: Delivery, settings: Settings) -> None:
    seed(delivery)
    with pytest.raises(ListingTooLong):
        dry_run(delivery.request, dry_run_id_for(delivery.request), settings,
                max_files=len(FILES) - 1)
    assert dry_run(delivery.request, dry_run_id_for(delivery.request), settings,
                   max_files=len(FILES)).files == len(FILES)


def test_the_dry_run_id_is_apart_from_the_delivery_s() -> None:
    from shared.core.instances import instance_id_for, is_earlier_attempt
    from shared.core.request import DeliveryRequest

    request = DeliveryRequest.model_validate({
        "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
        "Source_TopLevelFolder": "a/b", "Sink_StorageAccount": "labsmith",
        "Sink_FileSystem": "incoming", "Sink_TopLevelFolder": "a/b",
        "Webhook_DeliveryID": 12, "Webhook_TransferUUID": "9F1C4B9E-3C1A-4B1E-9D61-2B0F8D7E5A10"})
    run_id = dry_run_id_for(request)
    assert run_id == "dryrun-12-9f1c4b9e-3c1a-4b1e-9d61-2b0f8d7e5a10"
    assert run_id != instance_id_for(request) and not is_earlier_attempt(request, run_id)


def test_a_dry_run_past_its_deadline_stops_at_the_listing_and_writes_no_page(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    seed(delivery)
    run_id = dry_run_id_for(delivery.request)
    deadline = Deadline(60)
    folder = delivery.request.source_folder + "/"

    def lists_the_source(exchange: Exchange) -> bool:
        return exchange.query.get("comp") == "list" and exchange.query.get("prefix") == folder \
            and exchange.path.endswith("/" + delivery.source.container_name)

    # the deadline passes while the source's listing is on its way
    proxy.before_forward.append(
        lambda exchange: deadline.stop() if lists_the_source(exchange) else None)

    with pytest.raises(DeadlinePassed):
        dry_run(delivery.request, run_id, small_chunks(proxied), deadline=deadline)

    with StorageClients(proxied) as clients:
        assert list(WorkStore(clients).container.list_blobs(
            name_starts_with=plan_pages_prefix(run_id))) == []
    assert sink_names(delivery) == []
    report = dry_run(delivery.request, run_id, small_chunks(proxied), deadline=Deadline(60))
    assert report.files == len(FILES)


def test_a_dry_run_started_past_its_deadline_asks_storage_nothing(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    seed(delivery)
    stopped = Deadline(60)
    stopped.stop()  # as when its thread got to run only after the caller had answered
    proxy.reset_counts()
    with pytest.raises(DeadlinePassed):
        dry_run(delivery.request, dry_run_id_for(delivery.request), proxied, deadline=stopped)
    assert proxy.app_exchanges() == []


def test_the_outlook_of_a_merge_stops_at_the_deadline_between_pages(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    seed(delivery)  # 8 files: 3 pages of the plan at 3 files a page
    run_id = dry_run_id_for(delivery.request)
    deadline = Deadline(60)
    merge = DeliveryOptions(conflict_policy="merge")

    def reads_a_page(exchange: Exchange) -> bool:
        return exchange.method == "GET" and exchange.blob_name.startswith(
            plan_pages_prefix(run_id) + "/chunk-")

    # the deadline passes while the outlook reads the plan's first page back
    proxy.before_forward.append(
        lambda exchange: deadline.stop() if reads_a_page(exchange) else None)

    with pytest.raises(DeadlinePassed):
        dry_run(delivery.request, run_id, small_chunks(proxied), options=merge,
                deadline=deadline)

    assert len([exchange for exchange in proxy.exchanges if reads_a_page(exchange)]) == 1
    outlook = dry_run(delivery.request, run_id, small_chunks(proxied), options=merge,
                      deadline=Deadline(60)).policy_outlook
    assert outlook is not None and outlook.missing == len(FILES)
