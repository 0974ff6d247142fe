"""A failed attempt removes what it wrote itself, and nothing else: not a file someone changed
since, not a file it did not write (the recipient's, an earlier attempt's), nothing in a sealed
folder. Against a real Azurite, with the real copier writing the files."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from shared.copy.chunk import copy_chunk
from shared.core.config import Settings
from shared.core.models import Plan, SealedDelivery
from shared.destination.claim import claim_owner, seal_claim
from shared.destination.cleanup import discard_partial_delivery
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore, ledger_prefix, owned_blobs
from tests.shared.conftest import BLOCK_SIZE
from tests.shared.delivery_setup import Delivery

FILES = {
    "SampleSheet.csv": b"Sample_ID\nA\n",
    "reads/A_R1.fastq.gz": os.urandom(3000),
    "reads/A_R2.fastq.gz": os.urandom(3100),
    "nomd5/big.bin": os.urandom(2 * BLOCK_SIZE + 7),  # copied in blocks
}


def seeded_and_copied(delivery: Delivery, settings: Settings, run_id: str) -> Plan:
    for path, content in FILES.items():
        delivery.seed(path, content, with_md5=not path.startswith("nomd5/"))
    plan = build_plan(delivery.request, run_id, settings)
    assert plan.refusal is None
    for ref in plan.chunk_refs():
        assert copy_chunk(ref, delivery.request, settings).verified_files == len(FILES)
    return plan


def names_under(delivery: Delivery) -> set[str]:
    return {blob.name for blob in delivery.sink.list_blobs(
        name_starts_with=delivery.request.sink_folder + "/")}


def test_the_attempt_records_what_it_wrote_with_its_etag(delivery: Delivery,
                                                         settings: Settings) -> None:
    seeded_and_copied(delivery, settings, delivery.run_id)
    with StorageClients(settings) as clients:
        owned = owned_blobs(WorkStore(clients), delivery.run_id)
    assert set(owned) == {delivery.request.sink_path(path) for path in FILES}
    for path, record in owned.items():
        assert delivery.sink.get_blob_client(path).get_blob_properties().etag == record.etag


def test_a_failed_attempt_removes_only_what_it_wrote_as_it_wrote_it(
        delivery: Delivery, settings: Settings) -> None:
    seeded_and_copied(delivery, settings, delivery.run_id)
    sink_path = delivery.request.sink_path
    # the recipient adds a file of their own, and changes one the attempt wrote
    delivery.sink.upload_blob(sink_path("notes/recipient.txt"), b"mine")
    delivery.sink.upload_blob(sink_path("reads/A_R2.fastq.gz"), b"edited", overwrite=True)

    outcome = discard_partial_delivery(delivery.request, delivery.run_id, settings)

    assert (outcome.removed, outcome.left, outcome.claim_kept) == (3, 2, True)
    assert names_under(delivery) >= {sink_path("notes/recipient.txt"),
                                     sink_path("reads/A_R2.fastq.gz")}
    for path in ("SampleSheet.csv", "reads/A_R1.fastq.gz", "nomd5/big.bin"):
        assert not delivery.sink.get_blob_client(sink_path(path)).exists(), path
    assert claim_owner(delivery.sink, delivery.request) == delivery.run_id  # a restart adopts


def test_a_lost_record_is_made_up_for_by_the_block_ids(delivery: Delivery,
                                                       settings: Settings) -> None:
    """The attempt died between its commits and its record: the committed block ids still say
    which attempt wrote each file."""
    seeded_and_copied(delivery, settings, delivery.run_id)
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        for blob in list(work.container.list_blobs(
                name_starts_with=ledger_prefix(delivery.run_id))):
            work.container.delete_blob(blob.name)
        assert owned_blobs(work, delivery.run_id) == {}
    # a file of the same name written by someone else, in blocks of their own
    delivery.sink.upload_blob(delivery.request.sink_path("other/put-by-hand.bin"),
                              os.urandom(10))

    outcome = discard_partial_delivery(delivery.request, delivery.run_id, settings)

    assert (outcome.removed, outcome.left) == (len(FILES), 1)
    assert names_under(delivery) >= {delivery.request.sink_path("other/put-by-hand.bin")}


def test_an_earlier_attempts_files_stay_when_the_adopting_attempt_fails(
        delivery: Delivery, settings: Settings) -> None:
    seeded_and_copied(delivery, settings, "attempt-1")
    restart = delivery.request.model_copy(
        update={"transfer_uuid": "0f0e0d0c-0b0a-4908-8706-050403020100"})
    adopted = build_plan(restart, "attempt-2", settings)
    assert adopted.adopted_from == "attempt-1"
    for ref in adopted.chunk_refs():  # every file verifies where it is: nothing written
        assert copy_chunk(ref, restart, settings).resumed_files == len(FILES)

    outcome = discard_partial_delivery(restart, "attempt-2", settings)

    assert (outcome.removed, outcome.left, outcome.claim_kept) == (0, len(FILES), True)
    assert len(names_under(delivery)) == len(FILES) + 1  # and the claim


@pytest.mark.parametrize("who", ["the delivering attempt", "a later one"])
def test_a_sealed_folder_is_never_touched(delivery: Delivery, settings: Settings,
                                          who: str) -> None:
    seeded_and_copied(delivery, settings, delivery.run_id)
    seal_claim(delivery.sink, delivery.request, delivery.run_id, SealedDelivery(
        run_id=delivery.run_id, delivered_at=datetime.now(UTC), files=len(FILES), bytes=1))
    before = {blob.name: blob.etag for blob in delivery.sink.list_blobs()}

    run_id = delivery.run_id if who == "the delivering attempt" else "attempt-later"
    outcome = discard_partial_delivery(delivery.request, run_id, settings)

    assert outcome.removed == 0 and outcome.untouched == "the folder was delivered (sealed)"
    assert {blob.name: blob.etag for blob in delivery.sink.list_blobs()} == before
