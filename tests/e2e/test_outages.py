"""Storage outages are waited out: the app in devhost over HTTP, with the recipient's storage
account unreachable for minutes (a fault-injecting proxy resets every connection to it).

- Four minutes mid-copy, inside the outage window (30 minutes by default): the delivery ends
  delivered, every file verified, reported once.
- Longer than the window (1 minute here): the units fail, the clean-up waits until storage is
  back, nothing of the attempt is left, and the website hears once, after the clean-up, what is
  left and what a restart will do.

Both run at the same time (module fixtures), so the module takes about as long as the longer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import KIB, Delivery, DeliveryApp, start_app
from tests.e2e.test_faults import delivered_exactly
from tests.fault_proxy import Exchange, FaultProxy

pytestmark = pytest.mark.slow

SINK = "labsmith"
FOUR_MINUTES = 240.0


@dataclass
class Outage:
    """Every request of the app to the sink account is reset while the outage lasts: it
    starts once `after_commits` files were committed in the folder, and ends `seconds` later
    (or when `end()` is called)."""

    folder: str
    after_commits: int
    seconds: float | None
    started_at: float | None = None
    ended_at: float | None = None
    cleaning_seen_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def rule(self, proxy: FaultProxy):
        def outage(exchange: Exchange) -> str | None:
            if exchange.account != SINK:
                return None
            with self.lock:
                if self.started_at is None:
                    committed = sum(1 for e in proxy.app_exchanges() if e.is_commit
                                    and e.delivered and e.blob_name.startswith(self.folder))
                    if committed < self.after_commits:
                        return None
                    self.started_at = time.monotonic()
                if self.ended_at is None and self.seconds is not None \
                        and time.monotonic() - self.started_at >= self.seconds:
                    self.ended_at = time.monotonic()
                return None if self.ended_at is not None else "reset"
        return outage

    def end(self) -> None:
        with self.lock:
            self.ended_at = self.ended_at or time.monotonic()


def files_for(tag: str) -> dict[str, bytes | tuple[bytes, bool]]:
    files: dict[str, bytes | tuple[bytes, bool]] = {
        f"Fastq/{tag}_{n:03d}.fastq.gz": os.urandom(2 * KIB + n) for n in range(60)}
    files.update({f"Raw/{tag}-{n}.bin": (os.urandom(300 * KIB + n), False) for n in range(4)})
    return files


@dataclass
class OutageRun:
    app: DeliveryApp
    proxy: FaultProxy
    outage: Outage
    delivery: Delivery
    told_before_back: bool | None = None


def start_run(azurite, tmp_path: Path, *, seconds: float | None, **settings: str) -> OutageRun:
    proxy = FaultProxy(azurite.blob_port, seed=7).start()
    # one file per unit, one unit at a time: the outage lands between two commits
    app = start_app(azurite, tmp_path, {"DDD_STORAGE_ENDPOINT_TEMPLATE": proxy.endpoint_template,
                                        "DDD_CHUNK_MAX_FILES": "8", "DDD_PARALLEL_CHUNKS": "2",
                                        "DDD_COPY_THREADS": "2", **settings})
    delivery = app.new_delivery(files_for(tmp_path.name[:8]))
    outage = Outage(folder=delivery.payload["Sink_TopLevelFolder"] + "/", after_commits=10,
                    seconds=seconds)
    proxy.rules.append(outage.rule(proxy))
    app.start(delivery)
    return OutageRun(app, proxy, outage, delivery)


def stop_run(run: OutageRun) -> None:
    run.app.host.stop()
    run.app.website.stop()
    run.proxy.stop()


@pytest.fixture(scope="module")
def waited_out(azurite, tmp_path_factory) -> Iterator[OutageRun]:
    run = start_run(azurite, tmp_path_factory.mktemp("outage-4min"), seconds=FOUR_MINUTES)
    yield run
    stop_run(run)


@pytest.fixture(scope="module")
def past_the_window(azurite, tmp_path_factory, waited_out) -> Iterator[OutageRun]:
    # started right after the other one: both outages run at the same time
    run = start_run(azurite, tmp_path_factory.mktemp("outage-long"), seconds=None,
                    DDD_OUTAGE_WAIT_MINUTES="1")
    watcher = threading.Thread(target=end_once_cleaning_up, args=(run,), daemon=True)
    watcher.start()
    yield run
    stop_run(run)


def end_once_cleaning_up(run: OutageRun) -> None:
    """The outage lasts until the units gave up and the clean-up has failed for a while too:
    storage comes back 20 s after the delivery started removing its partial copy."""
    deadline = time.monotonic() + 15 * 60
    while time.monotonic() < deadline:
        if run.app.status(run.delivery.instance_id)["phase"] == "removing-partial-copy":
            run.outage.cleaning_seen_at = time.monotonic()
            time.sleep(20)
            run.told_before_back = bool(run.app.posts_for(run.delivery))
            run.outage.end()
            return
        time.sleep(1)


def test_a_four_minute_outage_mid_copy_is_waited_out(waited_out: OutageRun, past_the_window):
    run = waited_out
    run.app.wait(run.delivery, timeout=20 * 60)
    assert run.outage.started_at is not None and run.outage.ended_at is not None
    assert run.outage.ended_at - run.outage.started_at >= FOUR_MINUTES
    resets = [e for e in run.proxy.app_exchanges() if e.fault == "reset" and e.account == SINK]
    assert len(resets) > 20  # the outage did happen, and was tried through
    delivered_exactly(run.app, run.delivery)
    assert run.delivery.view["message"] is None  # no trace of waiting left in the outcome


def test_an_outage_longer_than_the_window_leaves_nothing_and_is_reported_once(
        past_the_window: OutageRun):
    run = past_the_window
    run.app.wait(run.delivery, timeout=20 * 60)
    assert run.outage.cleaning_seen_at is not None, run.app.host.logs()[-3000:]
    assert run.told_before_back is False  # not told before the clean-up is done

    view = run.delivery.view
    assert view["runtimeStatus"] == "Failed" and view["phase"] == "failed", view
    folder = run.delivery.payload["Sink_TopLevelFolder"]
    sink = run.app.container(SINK, "incoming")
    assert list(sink.list_blobs(name_starts_with=folder + "/")) == []
    assert not sink.get_blob_client(folder).exists()
    (post,) = run.app.posts_for(run.delivery)
    message = post["body"]["error_message"]
    assert "still failed after" in message
    assert "Nothing of this attempt is left in the destination" in message
    assert "restart of the delivery starts it again" in message
