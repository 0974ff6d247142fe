"""The destination claim: of two runs that find a folder empty, exactly one may copy into it,
and a failed run removes only a folder it claimed."""

from __future__ import annotations

from shared.core.config import Settings
from shared.core.instances import is_same_delivery
from shared.destination.claim import (
    adopt_claim,
    claim_destination,
    claim_owner,
    claim_path,
    read_claim,
)
from shared.destination.cleanup import discard_partial_delivery
from shared.plan.planner import build_plan
from tests.shared.delivery_setup import Delivery


def test_plan_claims_the_destination_and_a_retry_of_the_same_run_keeps_it(
        delivery: Delivery, settings: Settings) -> None:
    delivery.seed("a.txt", b"a")
    first = build_plan(delivery.request, "run-1", settings)
    assert first.refusal is None
    assert claim_owner(delivery.sink, delivery.request) == "run-1"
    again = build_plan(delivery.request, "run-1", settings)  # an activity retry
    assert again.refusal is None and again.chunk_count == first.chunk_count
    other_delivery = delivery.request.model_copy(update={"delivery_id": 999})
    other = build_plan(other_delivery, "run-2", settings)  # another delivery: the folder is taken
    assert other.destination_conflict
    assert claim_owner(delivery.sink, delivery.request) == "run-1"


def test_a_new_attempt_of_the_same_delivery_adopts_the_folder(
        delivery: Delivery, settings: Settings) -> None:
    """The website's restart: same delivery id and source, a new transfer UUID."""
    delivery.seed("a.txt", b"a")
    assert build_plan(delivery.request, "attempt-1", settings).refusal is None
    restart = delivery.request.model_copy(
        update={"transfer_uuid": "0f0e0d0c-0b0a-4908-8706-050403020100"})
    adopted = build_plan(restart, "attempt-2", settings)
    assert adopted.refusal is None and adopted.adopted_from == "attempt-1"
    assert claim_owner(delivery.sink, delivery.request) == "attempt-2"
    # the earlier attempt may no longer discard the folder
    untouched = discard_partial_delivery(delivery.request, "attempt-1", settings)
    assert untouched.removed == 0 and untouched.claim_kept
    # the same delivery id from another source folder is not an attempt of the same delivery
    moved = delivery.request.model_copy(update={"source_folder": "jdoe/another-run"})
    delivery.source.upload_blob("jdoe/another-run/b.txt", b"b")
    assert build_plan(moved, "attempt-3", settings).destination_conflict


def test_adopting_replaces_only_the_claim_it_read(delivery: Delivery) -> None:
    claim_destination(delivery.sink, delivery.request, "attempt-1")
    earlier = read_claim(delivery.sink, delivery.request)
    assert earlier is not None and earlier.run_id == "attempt-1"
    assert adopt_claim(delivery.sink, delivery.request, "attempt-2", earlier) is True
    assert adopt_claim(delivery.sink, delivery.request, "attempt-3", earlier) is False  # stale
    assert claim_owner(delivery.sink, delivery.request) == "attempt-2"


def test_only_one_of_two_racing_claims_wins(delivery: Delivery) -> None:
    assert claim_destination(delivery.sink, delivery.request, "run-a") is True
    assert claim_destination(delivery.sink, delivery.request, "run-b") is False
    assert claim_destination(delivery.sink, delivery.request, "run-a") is True


def test_cleanup_of_a_claimed_folder_keeps_what_the_run_did_not_write(
        delivery: Delivery, settings: Settings) -> None:
    folder = delivery.request.sink_folder
    delivery.sink.upload_blob(f"{folder}/copied/by-someone-else.txt", b"keep me")
    assert discard_partial_delivery(delivery.request, "run-x", settings).removed == 0
    assert delivery.sink.get_blob_client(f"{folder}/copied/by-someone-else.txt").exists()

    claim_destination(delivery.sink, delivery.request, "run-x")
    kept = discard_partial_delivery(delivery.request, "run-x", settings)
    # the file was not written by run-x: it stays, and so does the claim (a restart adopts it)
    assert (kept.removed, kept.left, kept.claim_kept) == (0, 1, True)
    assert delivery.sink.get_blob_client(f"{folder}/copied/by-someone-else.txt").exists()
    assert claim_owner(delivery.sink, delivery.request) == "run-x"

    delivery.sink.delete_blob(f"{folder}/copied/by-someone-else.txt")
    emptied = discard_partial_delivery(delivery.request, "run-x", settings)
    assert emptied.removed == 1 and not emptied.claim_kept  # the claim, with nothing else left
    assert list(delivery.sink.list_blobs(name_starts_with=folder + "/")) == []
    assert not delivery.sink.get_blob_client(claim_path(delivery.request)).exists()
    assert discard_partial_delivery(delivery.request, "run-x", settings).removed == 0


def test_only_an_attempt_of_the_same_delivery_source_and_sink_is_stopped(
        delivery: Delivery) -> None:
    """The start call stops an earlier running attempt only when the new one can adopt its
    folder: same delivery id (as text: 12 and "12" are one delivery), source and sink."""
    request = delivery.request
    earlier = {"request": request.to_json(), "run_id": "attempt-1"}
    assert is_same_delivery(request, earlier)
    as_text = {**earlier, "request": {**request.to_json(),
                                      "delivery_id": str(request.delivery_id)}}
    assert is_same_delivery(request, as_text)
    for name, value in (("source_folder", "jdoe/another-run"), ("sink_container", "elsewhere"),
                        ("delivery_id", 999)):
        other = {**earlier, "request": {**request.to_json(), name: value}}
        assert not is_same_delivery(request, other), name
    assert not is_same_delivery(request, None) and not is_same_delivery(request, {"x": 1})
