"""The destination claim: of two runs that find a folder empty, exactly one may copy into it,
and a failed run removes only a folder it claimed."""

from __future__ import annotations

from shared.cleanup import discard_partial_delivery
from shared.config import Settings
from shared.planner import build_plan, claim_destination, claim_owner, claim_path
from tests.core.delivery_setup import Delivery


def test_plan_claims_the_destination_and_a_retry_of_the_same_run_keeps_it(
        delivery: Delivery, settings: Settings) -> None:
    delivery.seed("a.txt", b"a")
    first = build_plan(delivery.request, "run-1", settings)
    assert first.refusal is None
    assert claim_owner(delivery.sink, delivery.request) == "run-1"
    again = build_plan(delivery.request, "run-1", settings)  # an activity retry
    assert again.refusal is None and again.chunk_count == first.chunk_count
    other = build_plan(delivery.request, "run-2", settings)  # another run: the folder is taken
    assert other.destination_conflict


def test_only_one_of_two_racing_claims_wins(delivery: Delivery) -> None:
    assert claim_destination(delivery.sink, delivery.request, "run-a") is True
    assert claim_destination(delivery.sink, delivery.request, "run-b") is False
    assert claim_destination(delivery.sink, delivery.request, "run-a") is True


def test_cleanup_removes_only_a_folder_this_run_claimed(
        delivery: Delivery, settings: Settings) -> None:
    folder = delivery.request.sink_folder
    delivery.sink.upload_blob(f"{folder}/copied/by-someone-else.txt", b"keep me")
    assert discard_partial_delivery(delivery.request, "run-x", settings) == 0
    assert delivery.sink.get_blob_client(f"{folder}/copied/by-someone-else.txt").exists()

    claim_destination(delivery.sink, delivery.request, "run-x")
    assert discard_partial_delivery(delivery.request, "run-x", settings) == 2
    assert list(delivery.sink.list_blobs(name_starts_with=folder + "/")) == []
    assert not delivery.sink.get_blob_client(claim_path(delivery.request)).exists()
    assert discard_partial_delivery(delivery.request, "run-x", settings) == 0  # idempotent
