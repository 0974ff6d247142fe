"""History stays small at any delivery size; the callback body stays under its limit."""

from __future__ import annotations

import hashlib
import json
import re
import time

import pytest

from orchestrators.delivery import GENERATION_EVENTS
from shared.core.status import STATUS_BUDGET_CHARS
from tests.e2e.conftest import E2E_SETTINGS, start_app
from tests.website_summary import project_summary

KIB = 1024


def _episode_history_sizes(host, instance_id: str) -> list[int]:
    pattern = re.compile(rf"episode delivery instance={re.escape(instance_id)} .*? history=(\d+)")
    return [int(m.group(1)) for m in pattern.finditer(host.logs())]


@pytest.fixture
def two_file_chunks_app(azurite, tmp_path):
    app = start_app(azurite, tmp_path / "host", {"DDD_CHUNK_MAX_FILES": "2"})
    yield app
    app.host.stop()
    app.website.stop()


def test_history_of_600_files_is_as_small_as_of_200(two_file_chunks_app):
    """200 and 600 files in chunks of 2: 100 and 300 work units, each more than one generation
    holds (GENERATION_EVENTS unit ends and ticks, then continue-as-new)."""
    app = two_file_chunks_app
    runs = {}
    for count in (200, 600):
        delivery = app.new_delivery(
            {f"lane{n % 4}/read-{n:05d}.txt": f"read {n}".encode() for n in range(count)})
        app.deliver(delivery, timeout=600)
        assert delivery.view["phase"] == "delivered", delivery.view
        assert delivery.view["verified"]["files"] == count
        final = app.host.status(delivery.instance_id, history=True)["historyEvents"]
        sizes = _episode_history_sizes(app.host, delivery.instance_id)
        runs[count] = (len(final), max(sizes))
    # the last generation's history is the same for 3x the files
    assert runs[600][0] == runs[200][0], runs
    # the largest history any episode replayed is bounded by a constant: one generation holds
    # at most GENERATION_EVENTS unit ends and ticks, plus the units still in flight, each a
    # scheduled and a completed event and, at worst, an episode's OrchestratorStarted/Completed
    # pair. Without continue-as-new the 300 units would replay over 1,200 events.
    parallel_chunks = int(E2E_SETTINGS["DDD_PARALLEL_CHUNKS"])
    bound = 4 * (GENERATION_EVENTS + parallel_chunks) + 8
    assert runs[200][1] <= bound and runs[600][1] <= bound, runs


def test_manifest_over_the_body_limit_is_a_list_the_website_reads_and_kept_in_full(
        small_callback_app):
    app = small_callback_app
    files = {f"sample-{n:03d}/reads_R1_001.fastq.gz": f"reads {n}".encode() * 10
             for n in range(120)}
    delivery = app.deliver(app.new_delivery(files))
    assert delivery.view["phase"] == "delivered", delivery.view
    posts = app.posts_for(delivery)
    assert [p["status"] for p in posts] == [200]
    assert posts[0]["bytes"] <= 8 * KIB
    entries = posts[0]["body"]["manifest"]
    assert isinstance(entries, list)
    assert all(set(entry) == {"name", "is_directory", "content_length", "content_settings"}
               for entry in entries)  # shrunk, as some had to be left out
    # the website's summary code reads what it stored: no error, each entry counted
    summary = project_summary(app.website.recorded(delivery.payload["Webhook_DeliveryID"])
                              ["manifest"])
    assert summary.file_count + summary.folder_count == len(entries)
    # the last entry is the full manifest in the delivered folder, with its size and MD5
    folder = delivery.payload["Sink_TopLevelFolder"]
    last = entries[-1]
    assert last["name"] == f"{folder}/_ddd_transfer/manifest.json"
    full = app.container("labsmith", "incoming").download_blob(last["name"]).readall()
    assert (last["content_length"], last["content_settings"]["content_md5"]) == (
        len(full), hashlib.md5(full).hexdigest())
    full_names = [entry["name"] for entry in json.loads(full)["files"]]
    assert [entry["name"] for entry in entries[:-1]] == full_names[: len(entries) - 1]
    assert {f"{folder}/{name}" for name in files} <= set(full_names)
    # and the status endpoint says how many were left out
    assert delivery.view["manifest"]["truncated"] is True
    assert delivery.view["manifest"]["entries_left_out"] == len(full_names) - (len(entries) - 1)


def test_40_failing_files_with_long_paths_are_reported_and_the_status_fits(one_file_chunks_app):
    """The extension fails an instance whose custom status is over 16 KB; 40 failures with
    250-character paths would be far over it. The status keeps to its budget, the website is
    told once, and the status endpoint serves every failure from the work container."""
    app = one_file_chunks_app
    long_name = "very-long-sample-name-" * 12
    failing = {f"zz/{n:02d}-{long_name}"[:250]: f"original {n}".encode() for n in range(40)}
    assert all(len(path) == 250 for path in failing)
    leading = {f"aa/lead-{n:02d}.txt": b"lead" for n in range(10)}  # copied first (name order)
    delivery = app.start(app.new_delivery({**leading, **failing}))
    deadline = time.monotonic() + 60
    while app.status(delivery.instance_id)["phase"] != "copying":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    source = app.container("sequencingcore", "deliveries")
    folder = delivery.payload["Source_TopLevelFolder"]
    for path in failing:
        source.upload_blob(f"{folder}/{path}", b"re-uploaded after planning", overwrite=True)
    app.wait(delivery, timeout=300)

    posts = app.posts_for(delivery)
    assert len(posts) == 1 and "40 of 50 files" in posts[0]["body"]["error_message"]
    status = app.host.status(delivery.instance_id)
    assert status["runtimeStatus"] == "Failed"
    assert len(json.dumps(status["customStatus"])) <= STATUS_BUDGET_CHARS
    assert status["customStatus"]["files_failed"] == 40
    view = delivery.view
    assert sorted(failure["path"] for failure in view["failures"]) == sorted(failing)
