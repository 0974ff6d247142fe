"""Deliveries through storage that fails: the app in devhost, over HTTP, with a fault-injecting
proxy (`tests.fault_proxy`) between it and Azurite.

- 30% of the app's storage requests answered 503 ServerBusy or reset (before or after Azurite
  did them): the delivery completes with every file verified, and the faults cost about one
  request each (no chunk re-run per failing file).
- The host killed (SIGKILL) mid-chunk and restarted: the chunk runs again and copies no file
  that had verified before the kill.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import KIB, DeliveryApp, start_app
from tests.fault_proxy import Exchange, FaultProxy

pytestmark = pytest.mark.slow

FAULT_RATE = 0.3
SEED = 20261122


@pytest.fixture
def proxy(azurite) -> Iterator[FaultProxy]:
    with FaultProxy(azurite.blob_port, seed=SEED) as running:
        yield running


def app_behind(proxy: FaultProxy, azurite, tmp_path: Path, **extra: str) -> DeliveryApp:
    return start_app(azurite, tmp_path, {
        "DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template, **extra})


@pytest.fixture
def faulty_app(proxy: FaultProxy, azurite, tmp_path: Path) -> Iterator[DeliveryApp]:
    app = app_behind(proxy, azurite, tmp_path / "host")
    yield app
    app.host.stop()
    app.website.stop()


def eighty_files(tag: str) -> dict[str, bytes | tuple[bytes, bool]]:
    """70 small files with a source MD5, 6 without (two of them several blocks), 4 large ones."""
    files: dict[str, bytes | tuple[bytes, bool]] = {
        f"Fastq/{tag}_S{n:02d}_R1_001.fastq.gz": os.urandom(1 * KIB + 97 * n) for n in range(70)
    }
    files.update({f"Logs/{tag}-{n}.log": (os.urandom(3 * KIB + n), False) for n in range(4)})
    files.update({f"Raw/{tag}-{n}.bin": (os.urandom(600 * KIB + n), False) for n in range(2)})
    files.update({f"Big/{tag}-{n}.bam": os.urandom(300 * KIB + n) for n in range(4)})
    return files


def copy_requests(exchanges: list[Exchange]) -> list[Exchange]:
    return [e for e in exchanges if e.is_copy_from_url]


def delivered_exactly(app: DeliveryApp, delivery) -> None:
    assert delivery.view["runtimeStatus"] == "Completed", delivery.view
    assert delivery.view["phase"] == "delivered", delivery.view
    assert delivery.view["verified"]["files"] == len(delivery.seeded)
    posts = app.posts_for(delivery)
    assert [post["status"] for post in posts] == [200]
    entries = posts[0]["body"]["manifest"]
    folder = delivery.payload["Sink_TopLevelFolder"]
    by_name = {entry["name"]: entry for entry in entries if not entry["is_directory"]}
    assert set(by_name) == {f"{folder}/{relative}" for relative in delivery.seeded}
    sink = app.container("labsmith", "incoming")
    for relative, content in delivery.seeded.items():
        assert sink.download_blob(f"{folder}/{relative}").readall() == content, relative
        md5 = by_name[f"{folder}/{relative}"]["content_settings"]["content_md5"]
        assert md5 == hashlib.md5(content).hexdigest(), relative


def test_faults_on_30_percent_of_storage_requests(faulty_app: DeliveryApp, proxy: FaultProxy):
    # the same delivery without faults first: the number of requests it takes
    clean = faulty_app.new_delivery(eighty_files("clean"))
    proxy.reset_counts()
    delivered_exactly(faulty_app, faulty_app.deliver(clean))
    clean_requests = len(proxy.app_exchanges())
    clean_copies = len(copy_requests(proxy.app_exchanges()))

    delivery = faulty_app.new_delivery(eighty_files("faulty"))
    proxy.reset_counts()
    proxy.fault_rate = FAULT_RATE
    faulty_app.deliver(delivery, timeout=600)
    proxy.fault_rate = 0.0

    delivered_exactly(faulty_app, delivery)
    exchanges = proxy.app_exchanges()
    faults = [e for e in exchanges if e.fault]
    files = len(delivery.seeded)
    assert len(faults) >= 0.2 * len(exchanges)  # the faults did happen
    answered = len(exchanges) - len(faults)
    copies = copy_requests(exchanges)
    copy_faults = [e for e in copies if e.fault]
    print(f"\nclean: {clean_requests} storage requests ({clean_requests / files:.2f}/file), "
          f"{clean_copies} copy requests; with {FAULT_RATE:.0%} faults: {len(exchanges)} "
          f"requests ({len(exchanges) / files:.2f}/file), {len(faults)} faults, {answered} "
          f"answered ({answered / files:.2f}/file), {len(copies)} copy requests "
          f"({len(copy_faults)} faulted)")
    # each fault costs about one request more, not a chunk's worth: beyond the faults, at most
    # 2 requests per file more than the clean delivery (files retried in place, a chunk re-run
    # that finds its verified files at the destination)
    assert answered <= clean_requests + 2 * files
    assert len(copies) - len(copy_faults) <= clean_copies + files // 4


def test_killing_the_host_mid_chunk_recopies_no_verified_file(
    proxy: FaultProxy, azurite, tmp_path: Path
):
    # one chunk, two files at a time, each copy request slowed: the kill lands mid-chunk
    proxy.delay = lambda exchange: 0.1 if exchange.is_copy_from_url else 0.0
    app = app_behind(proxy, azurite, tmp_path / "host", DDD_COPY_THREADS="2")
    try:
        files = {f"reads/r{n:03d}.fastq.gz": os.urandom(2 * KIB + n) for n in range(60)}
        delivery = app.start(app.new_delivery(files))
        folder = delivery.payload["Sink_TopLevelFolder"]

        def committed() -> set[str]:
            return {e.blob_name for e in proxy.app_exchanges()
                    if e.is_commit and e.delivered and e.blob_name.startswith(folder + "/")}

        deadline = time.monotonic() + 120
        while len(committed()) < 15:
            assert time.monotonic() < deadline, app.host.logs()[-3000:]
            time.sleep(0.02)
        app.host.kill()
        first_after_kill = len(proxy.exchanges)
        verified_before_kill = committed()
        assert 15 <= len(verified_before_kill) < len(files)

        app.host.start()  # same port, same state: the in-flight chunk runs again
        app.wait(delivery, timeout=300)

        delivered_exactly(app, delivery)
        after = [e for e in proxy.app_exchanges() if e.seq >= first_after_kill]
        touched_again = {e.blob_name for e in after if e.is_copy_from_url or e.is_commit}
        assert touched_again.isdisjoint(verified_before_kill)
        assert touched_again  # the chunk did run again, for the files not yet verified
        assert "resumed after restart" in app.host.logs()
    finally:
        app.host.stop()
        app.website.stop()
