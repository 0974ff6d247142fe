"""Files larger than a work unit, copied as a sequence of segment activities (issue 9).

The segment size here is 8 MiB (`DDD_CHUNK_MAX_BYTES`, blocks of 256 KiB), so a 64 MiB file
is 9 segments: each activity reads its byte range once, stages its blocks, and hands the
whole-file MD5's state to the next through the work container; the last one commits.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import MIB, DeliveryApp, start_app
from tests.fault_proxy import FaultProxy

pytestmark = pytest.mark.slow

SEGMENT_BYTES = 8 * MIB
BIG = 64 * MIB + 12_345  # 9 segments
SEGMENT_SETTINGS = {"DDD_CHUNK_MAX_BYTES": str(SEGMENT_BYTES), "DDD_PROGRESS_SECONDS": "1"}
_RANGE = re.compile(r"bytes=(\d+)-(\d+)")


@pytest.fixture
def proxy(azurite) -> Iterator[FaultProxy]:
    with FaultProxy(azurite.blob_port) as running:
        yield running


@pytest.fixture
def segment_app(proxy: FaultProxy, azurite, tmp_path: Path) -> Iterator[DeliveryApp]:
    app = start_app(azurite, tmp_path / "host", {
        "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template, **SEGMENT_SETTINGS})
    yield app
    app.host.stop()
    app.website.stop()


def source_bytes_read(proxy: FaultProxy, blob_name: str) -> int:
    """Bytes of `blob_name` the app read from the source account (answered ranged GETs)."""
    total = 0
    for exchange in proxy.app_exchanges():
        if (exchange.method != "GET" or exchange.account != "sequencingcore"
                or exchange.blob_name != blob_name or not exchange.delivered):
            continue
        matched = _RANGE.fullmatch(exchange.headers.get("x-ms-range", ""))
        assert matched, exchange.headers  # every read of a file is a ranged read
        total += int(matched.group(2)) - int(matched.group(1)) + 1
    return total


def segment_states(app: DeliveryApp, run_id: str) -> list[str]:
    work = app.container("devstoreaccount1", "ddd-transfer-work")
    return sorted(blob.name for blob in work.list_blobs(name_starts_with=f"results/{run_id}/")
                  if ".segment-" in blob.name)


def test_a_file_larger_than_a_unit_is_copied_in_segments_and_verifies(segment_app, proxy):
    with_md5, without_md5 = os.urandom(BIG), os.urandom(BIG - 777)
    delivery = segment_app.deliver(segment_app.new_delivery(
        {"run/big.bam": with_md5, "run/big-no-md5.fastq.gz": (without_md5, False),
         "run/small.txt": b"small"}), timeout=600)
    view = delivery.view
    assert view["phase"] == "delivered", view
    assert view["verified"]["files"] == 3
    assert view["planned"]["units"] == 9 + 9 + 1 and view["copied"]["units"] == 19
    folder = delivery.payload["Sink_TopLevelFolder"]
    sink = segment_app.container("labsmith", "incoming")
    for relative, content in (("run/big.bam", with_md5), ("run/big-no-md5.fastq.gz",
                                                           without_md5)):
        properties = sink.get_blob_client(f"{folder}/{relative}").get_blob_properties()
        assert bytes(properties.content_settings.content_md5).hex() == \
            hashlib.md5(content).hexdigest()
        assert sink.download_blob(f"{folder}/{relative}").readall() == content
        # read once: every byte of the source exactly once
        source = f"{delivery.payload['Source_TopLevelFolder']}/{relative}"
        assert source_bytes_read(proxy, source) == len(content)
    # each big file handed its MD5 state on 8 times (segments 0..7; the 9th committed)
    states = segment_states(segment_app, delivery.instance_id)
    assert len(states) == 16, states
    manifest = segment_app.posts_for(delivery)[0]["body"]["manifest"]
    entries = manifest if isinstance(manifest, list) else manifest["files"]
    md5s = {entry["name"]: entry["content_settings"]["content_md5"] for entry in entries
            if not entry["is_directory"]}
    assert md5s[f"{folder}/run/big-no-md5.fastq.gz"] == hashlib.md5(without_md5).hexdigest()


def test_killing_the_host_between_segments_resumes_from_the_next_segment(
        proxy, azurite, tmp_path: Path):
    # reads of the big file slowed a little, so that the kill lands while it is copied
    proxy.delay = lambda exchange: 0.05 if exchange.method == "GET" and ".bam" in \
        exchange.path else 0.0
    app = start_app(azurite, tmp_path / "host", {
        "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template, **SEGMENT_SETTINGS})
    try:
        content = os.urandom(BIG)
        delivery = app.start(app.new_delivery({"run/big.bam": (content, False)}))
        deadline = time.monotonic() + 300
        while len(segment_states(app, delivery.instance_id)) < 3:
            assert time.monotonic() < deadline, app.host.logs()[-3000:]
            time.sleep(0.05)
        app.host.kill()
        saved_before_kill = len(segment_states(app, delivery.instance_id))
        assert saved_before_kill < 8  # killed mid-file
        app.host.start()
        app.wait(delivery, timeout=600)
        assert delivery.view["phase"] == "delivered", delivery.view
        folder = delivery.payload["Sink_TopLevelFolder"]
        sink = app.container("labsmith", "incoming")
        assert sink.download_blob(f"{folder}/run/big.bam").readall() == content
        # the kill lost at most the segment in flight
        source = f"{delivery.payload['Source_TopLevelFolder']}/run/big.bam"
        assert len(content) <= source_bytes_read(proxy, source) <= len(content) + SEGMENT_BYTES
    finally:
        app.host.stop()
        app.website.stop()


def test_the_status_moves_while_a_segment_runs(segment_app, proxy):
    # each 8 MiB segment takes 8 s or more: reads of the file slowed
    proxy.delay = lambda exchange: 1.0 if exchange.method == "GET" and ".bam" in \
        exchange.path else 0.0
    delivery = segment_app.start(segment_app.new_delivery(
        {"run/big.bam": os.urandom(2 * SEGMENT_BYTES)}))
    moving: list[int] = []
    deadline = time.monotonic() + 300
    while True:
        view = segment_app.status(delivery.instance_id)
        if view["runtimeStatus"] not in ("Pending", "Running"):  # Pending: not started yet
            break
        assert time.monotonic() < deadline
        if not view["copied"]["units"] and view["copied"]["bytes"]:
            moving.append(view["copied"]["bytes"])  # bytes shown before any unit finished
        time.sleep(0.2)
    segment_app.wait(delivery)
    assert delivery.view["phase"] == "delivered", delivery.view
    # before the first segment ended, the status showed its bytes, more than once, growing
    assert len(set(moving)) >= 2 and moving == sorted(moving), \
        (moving, segment_app.host.logs()[-6000:])
