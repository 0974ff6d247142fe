"""Several deliveries at once on one host share its units in flight, end to end through devhost
over HTTP: every one delivers and verifies every byte, each one's window was its share of
DDD_PARALLEL_CHUNKS while the others copied, and each gave its share back at its end."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from shared.copy.sharing import copying_name
from tests.e2e.conftest import KIB, DeliveryApp, start_app

BUDGET = 4  # DDD_PARALLEL_CHUNKS here: the units in flight the deliveries share
ASKED = re.compile(r'ddd\.activity (\{"activity":"measure_progress".*\})')


@pytest.fixture(scope="module")
def sharing_app(azurite, tmp_path_factory) -> Iterator[DeliveryApp]:
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-sharing"), {
        "DDD_PARALLEL_CHUNKS": str(BUDGET), "DDD_CHUNK_MAX_FILES": "4",
        "DDD_PROGRESS_SECONDS": "1"})
    yield app
    app.host.stop()
    app.website.stop()


def shares_asked(app: DeliveryApp, instance_id: str) -> list[dict]:
    """What measure_progress answered this delivery (its log lines: share, deliveries)."""
    found = []
    for line in app.host.logs().splitlines():
        matched = ASKED.search(line)
        if matched:
            logged = json.loads(matched.group(1))
            if logged.get("instance_id") == instance_id:
                found.append(logged)
    return found


def verified_in_sink(app: DeliveryApp, delivery) -> None:
    sink = app.container("labsmith", "incoming")
    assert delivery.view["runtimeStatus"] == "Completed", delivery.view
    assert delivery.view["verified"]["files"] == len(delivery.seeded)
    folder = delivery.payload["Sink_TopLevelFolder"]
    for relative, content in delivery.seeded.items():
        blob = sink.get_blob_client(f"{folder}/{relative}")
        assert hashlib.md5(blob.download_blob().readall()).digest() == \
            hashlib.md5(content).digest(), relative


@contextmanager
def others_copying(app: DeliveryApp, count: int, demand: int) -> Iterator[None]:
    """`count` other deliveries copying, as each writes its entry when it asks for its share:
    each could use `demand` units, asked just now and asks every 3 s (so it is counted for
    9 s); their entries are removed at the end."""
    work = app.container("devstoreaccount1", "ddd-transfer-work")
    others = [f"other-copying-{uuid.uuid4().hex}" for _ in range(count)]
    for run_id in others:
        work.get_blob_client(copying_name(run_id)).upload_blob(
            b"", overwrite=True, metadata={"demand": str(demand), "asked": f"{time.time():.3f}",
                                           "every": "3"})
    try:
        yield
    finally:
        for run_id in others:
            work.delete_blob(copying_name(run_id))


def lanes(app: DeliveryApp, files: int):
    """A delivery of `files` small tiles over four lanes."""
    return app.new_delivery({f"lane{lane}/tile{tile}.bcl": os.urandom(2 * KIB + 7 * tile)
                             for lane in range(4) for tile in range(files // 4)})


def delivered_together(app: DeliveryApp, deliveries: list) -> None:
    """Start every delivery at once; each completes with every file verified in the sink."""
    with ThreadPoolExecutor(len(deliveries)) as posting:
        list(posting.map(app.start, deliveries))
    for delivery in deliveries:
        app.wait(delivery, timeout=300)
    for delivery in deliveries:
        verified_in_sink(app, delivery)


def test_deliveries_at_once_share_the_units_and_each_verifies(sharing_app: DeliveryApp) -> None:
    deliveries = [lanes(sharing_app, 40) for _ in range(3)]
    tiny = sharing_app.new_delivery({"SampleSheet.csv": b"Sample_ID\nA\n",
                                     "RunInfo.xml": (b"<RunInfo/>", False)})
    everyone = [*deliveries, tiny]
    # one more delivery copies beside them, so every ask sees others (these finish in seconds)
    with others_copying(sharing_app, 1, demand=BUDGET):
        delivered_together(sharing_app, everyone)
    # each larger delivery asked for its share before its first unit and at its ticks; while
    # the others copied it was given less than the whole budget, never more (five deliveries
    # for four units: one may wait its turn, a share of 0, until units free up)
    for delivery in deliveries:
        answers = [asked for asked in shares_asked(sharing_app, delivery.instance_id)
                   if "share" in asked]
        assert answers, sharing_app.host.logs()[-3000:]
        assert all(0 <= asked["share"] <= BUDGET for asked in answers)
        assert max(asked["share"] for asked in answers) >= 1
        assert any(asked["deliveries"] > 1 and asked["share"] < BUDGET for asked in answers)
    # every delivery gave its share back: none is listed as copying any more
    work = sharing_app.container("devstoreaccount1", "ddd-transfer-work")
    listed = {blob.name for blob in work.list_blobs(name_starts_with="copying/")}
    assert not listed & {f"copying/{delivery.instance_id}" for delivery in everyone}


def test_more_deliveries_than_units_take_turns_and_each_verifies(
        sharing_app: DeliveryApp) -> None:
    """More deliveries copying than units: four others (entries as a copying delivery writes
    them, each able to use one unit, counted for 9 s) hold the four units, and three
    deliveries started here each can use more: they are told to wait their turn (a share of 0),
    and start once the others are gone; every one delivers and verifies every file."""
    with others_copying(sharing_app, BUDGET, demand=1):
        deliveries = [lanes(sharing_app, 32) for _ in range(3)]
        delivered_together(sharing_app, deliveries)
    answers = [asked for delivery in deliveries
               for asked in shares_asked(sharing_app, delivery.instance_id) if "share" in asked]
    # each was told to wait at its first ask (the others held every unit), and started later
    for delivery in deliveries:
        told = [asked["share"] for asked in shares_asked(sharing_app, delivery.instance_id)
                if "share" in asked]
        assert told[0] == 0 and max(told) >= 1, told
    assert all(asked["share"] <= BUDGET for asked in answers)
