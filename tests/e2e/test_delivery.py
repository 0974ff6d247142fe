"""A website delivery, end to end through devhost over HTTP, against Azurite: every test runs
once with flat accounts (Azurite itself) and once with ADLS Gen2 accounts (the Data Lake
stand-in in front of it)."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

KIB = 1024


@pytest.fixture(scope="module", params=["flat", "hierarchical"])
def delivery_app(request):
    return request.getfixturevalue(
        {"flat": "flat_delivery_app", "hierarchical": "hns_delivery_app"}[request.param])


@pytest.fixture(scope="module", params=["flat", "hierarchical"])
def one_file_chunks_app(request):
    return request.getfixturevalue({"flat": "flat_one_file_chunks_app",
                                    "hierarchical": "hns_one_file_chunks_app"}[request.param])


@pytest.fixture(scope="module")
def delivered(delivery_app):
    """One realistic delivery, checked from several sides by the tests below."""
    delivery = delivery_app.new_delivery({
        "SampleSheet.csv": b"Sample_ID,index\nA,ACGT\n",
        "RunCompletionStatus.xml": b"<RunCompletionStatus>done</RunCompletionStatus>",
        "CopyComplete.txt": b"",
        "Data/Intensities/BaseCalls/A_S1_L001_R1_001.fastq.gz": os.urandom(70 * KIB),
        "Data/Intensities/BaseCalls/A_S1_L001_R2_001.fastq.gz": os.urandom(90 * KIB),
        "Notes/Résumé – Müller lab.txt": "Qualität gut\n".encode(),
        "Data/big-without-md5.bin": (os.urandom(900 * KIB + 17), False),
        "Data/big-with-md5.bin": os.urandom(700 * KIB + 5),
        "Data/small-without-md5.txt": (b"no stored checksum", False),
    })
    return delivery_app.deliver(delivery)


def test_happy_path_delivers_and_verifies_every_byte(delivery_app, delivered):
    assert delivered.view["runtimeStatus"] == "Completed", delivered.view
    assert delivered.view["phase"] == "delivered"
    assert delivered.view["verified"]["files"] == len(delivered.seeded)
    sink = delivery_app.container("labsmith", "incoming")
    folder = delivered.payload["Sink_TopLevelFolder"]
    for relative, content in delivered.seeded.items():
        blob = sink.get_blob_client(f"{folder}/{relative}")
        assert blob.download_blob().readall() == content, relative
        stored_md5 = blob.get_blob_properties().content_settings.content_md5
        assert stored_md5 is not None and bytes(stored_md5) == hashlib.md5(content).digest()


def test_manifest_received_once_with_legacy_keys(delivery_app, delivered):
    posts = delivery_app.posts_for(delivered)
    assert [p["status"] for p in posts] == [200]
    body = posts[0]["body"]
    assert body["delivery_id"] == delivered.payload["Webhook_DeliveryID"]
    assert "error_message" not in body
    manifest = body["manifest"]
    entries = manifest["files"] if isinstance(manifest, dict) else manifest
    folder = delivered.payload["Sink_TopLevelFolder"]
    by_name = {e["name"]: e for e in entries if not e["is_directory"]}
    assert set(by_name) == {f"{folder}/{relative}" for relative in delivered.seeded}
    for relative, content in delivered.seeded.items():
        entry = by_name[f"{folder}/{relative}"]
        assert entry["content_length"] == len(content)
        assert entry["content_settings"]["content_md5"] == hashlib.md5(content).hexdigest()
        assert entry["verification"]


def test_file_without_content_md5_is_verified_from_its_bytes(delivered, delivery_app):
    entries = _manifest_entries(delivery_app, delivered)
    folder = delivered.payload["Sink_TopLevelFolder"]
    for relative in ("Data/big-without-md5.bin", "Data/small-without-md5.txt"):
        assert entries[f"{folder}/{relative}"]["verification"] == \
            "computed-from-source+block-md5"


def test_zero_byte_and_above_block_threshold_files(delivered, delivery_app):
    entries = _manifest_entries(delivery_app, delivered)
    folder = delivered.payload["Sink_TopLevelFolder"]
    empty = entries[f"{folder}/CopyComplete.txt"]
    assert empty["content_length"] == 0
    assert empty["content_settings"]["content_md5"] == hashlib.md5(b"").hexdigest()
    big = entries[f"{folder}/Data/big-with-md5.bin"]
    assert big["verification"] == "source-md5+block-md5"


def test_manifest_and_checksums_are_written_into_the_delivered_folder(delivered, delivery_app):
    sink = delivery_app.container("labsmith", "incoming")
    folder = delivered.payload["Sink_TopLevelFolder"]
    extra = [b.name for b in sink.list_blobs(name_starts_with=folder + "/")
             if b.name.removeprefix(folder + "/") not in delivered.seeded]
    assert any(name.endswith("md5sums.txt") for name in extra), extra
    checksum_blob = next(name for name in extra if name.endswith("md5sums.txt"))
    lines = sink.download_blob(checksum_blob).readall().decode().splitlines()
    assert len(lines) == len(delivered.seeded)


def test_no_secret_in_history_status_or_logs(delivered, delivery_app):
    delivery_app.assert_no_secret_anywhere(delivered.instance_id)
    assert "copy_chunk" in delivery_app.host.logs()  # the log searched is the one of the run


def test_same_post_twice_starts_one_run(delivery_app):
    delivery = delivery_app.new_delivery({"one.txt": b"1", "two.txt": b"22"})
    first = delivery_app.post(delivery.payload)
    second = delivery_app.post(delivery.payload)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    delivery.instance_id = first.json()["id"]
    delivery_app.wait(delivery)
    assert [p["status"] for p in delivery_app.posts_for(delivery)] == [200]
    third = delivery_app.post(delivery.payload)  # after it finished, still the same run
    assert third.json()["id"] == delivery.instance_id
    time.sleep(0.5)
    assert [p["status"] for p in delivery_app.posts_for(delivery)] == [200]


def test_destination_that_exists_fails_before_any_copy(delivery_app):
    delivery = delivery_app.new_delivery({"a.txt": b"a", "b.txt": b"b"})
    sink = delivery_app.container("labsmith", "incoming")
    folder = delivery.payload["Sink_TopLevelFolder"]
    sink.upload_blob(f"{folder}/already-here.txt", b"x")
    delivery_app.deliver(delivery)
    posts = delivery_app.posts_for(delivery)
    assert len(posts) == 1
    assert posts[0]["body"]["error_message"] == (
        f"Error: The transfer destination directory '{folder}' already exists.")
    assert not sink.get_blob_client(f"{folder}/a.txt").exists()
    assert delivery.view["phase"] == "refused"
    assert delivery.view["runtimeStatus"] == "Failed"  # after telling the website once
    assert "already exists" in delivery.view["error"]


def test_website_down_twice_then_up_records_one_delivery(delivery_app):
    delivery = delivery_app.new_delivery({"x.txt": b"x" * 100})
    delivery_app.website.fail_next(2, 500)
    delivery_app.deliver(delivery)
    assert [p["status"] for p in delivery_app.posts_for(delivery)] == [500, 500, 200]
    assert delivery_app.website.recorded(delivery.payload["Webhook_DeliveryID"])["manifest"]
    assert delivery.view["phase"] == "delivered"


def test_stale_transfer_uuid_stops_and_is_recorded(delivery_app):
    delivery = delivery_app.new_delivery({"x.txt": b"x"})
    delivery_app.website.expect(delivery.payload["Webhook_DeliveryID"], "a-newer-attempt")
    delivery_app.deliver(delivery)
    posts = delivery_app.posts_for(delivery)
    assert [p["status"] for p in posts] == [400]
    assert delivery.view["phase"] == "stale"
    assert delivery.view["runtimeStatus"] == "Failed"
    assert "newer attempt" in delivery.view["message"]


def test_source_rewritten_between_planning_and_copying_is_caught(one_file_chunks_app):
    delivery_app = one_file_chunks_app
    files = {f"reads/file-{n:03d}.txt": f"original {n}".encode() for n in range(30)}
    delivery = delivery_app.start(delivery_app.new_delivery(files))
    source = delivery_app.container("sequencingcore", "deliveries")
    folder = delivery.payload["Source_TopLevelFolder"]
    # the plan is written once the phase is 'copying'; one-file chunks, one at a time, make
    # copying last long enough to re-upload the last file before its chunk is copied
    deadline = time.monotonic() + 60
    while delivery_app.status(delivery.instance_id)["phase"] != "copying":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    rewritten = f"{folder}/reads/file-029.txt"
    source.upload_blob(rewritten, b"re-uploaded by the core", overwrite=True)
    delivery_app.wait(delivery)
    posts = delivery_app.posts_for(delivery)
    assert len(posts) == 1
    assert "manifest" not in posts[0]["body"]
    assert "reads/file-029.txt" in posts[0]["body"]["error_message"]
    assert "Nothing of this attempt is left in the destination" in \
        posts[0]["body"]["error_message"]
    assert delivery.view["phase"] == "failed"
    assert delivery.view["runtimeStatus"] == "Failed"
    assert [f["path"] for f in delivery.view["failures"]] == ["reads/file-029.txt"]
    delivery_app.assert_no_secret_anywhere(delivery.instance_id)  # failure paths too
    # nothing is lost: the partial copy is gone and the website's retry (a new transfer
    # UUID) delivers the whole folder as it is now
    sink = delivery_app.container("labsmith", "incoming")
    sink_folder = delivery.payload["Sink_TopLevelFolder"]
    assert list(sink.list_blobs(name_starts_with=sink_folder + "/")) == []
    retry = delivery_app.deliver(delivery_app.retry_of(delivery))
    assert retry.view["phase"] == "delivered", retry.view
    assert sink.download_blob(f"{sink_folder}/reads/file-029.txt").readall() == \
        b"re-uploaded by the core"


def _manifest_entries(delivery_app, delivered) -> dict[str, dict]:
    body = delivery_app.posts_for(delivered)[-1]["body"]
    manifest = body["manifest"]
    entries = manifest["files"] if isinstance(manifest, dict) else manifest
    return {e["name"]: e for e in entries if not e["is_directory"]}


def test_website_refusing_the_token_fails_loudly_and_keeps_the_delivered_data(delivery_app):
    delivery = delivery_app.new_delivery({"kept.txt": b"delivered bytes"})
    delivery_app.website.fail_next(1, 401)
    delivery_app.deliver(delivery)
    assert [p["status"] for p in delivery_app.posts_for(delivery)] == [401]  # no retry rounds
    assert delivery.view["runtimeStatus"] == "Failed"
    assert "website" in delivery.view["message"]
    sink = delivery_app.container("labsmith", "incoming")
    folder = delivery.payload["Sink_TopLevelFolder"]
    assert sink.download_blob(f"{folder}/kept.txt").readall() == b"delivered bytes"


def test_a_restart_after_a_finished_attempt_adopts_the_folder_and_reports_once(delivery_app):
    """The website's admin restart: same delivery id, a new transfer UUID, after the first
    attempt delivered and verified everything."""
    first = delivery_app.deliver(delivery_app.new_delivery({"a.txt": b"a" * 10, "b/c.txt": b"c"}))
    assert first.view["phase"] == "delivered"
    sink = delivery_app.container("labsmith", "incoming")
    folder = first.payload["Sink_TopLevelFolder"]

    def delivered_etags() -> dict[str, str]:
        return {blob.name: blob.etag for blob in sink.list_blobs(name_starts_with=folder + "/")
                if blob.size and "/_ddd_transfer/" not in blob.name}

    verified_by_the_first = delivered_etags()
    assert len(verified_by_the_first) == 2
    restart = delivery_app.deliver(delivery_app.retry_of(first))
    assert restart.view["runtimeStatus"] == "Completed", restart.view
    assert restart.view["phase"] == "delivered" and restart.view["verified"]["files"] == 2
    assert [p["status"] for p in delivery_app.posts_for(restart)] == [200]
    assert sink.download_blob(f"{folder}/b/c.txt").readall() == b"c"
    # what the first attempt verified is verified where it is, not copied again
    assert delivered_etags() == verified_by_the_first


def test_a_restart_during_a_running_attempt_stops_it_and_delivers_once(one_file_chunks_app):
    app = one_file_chunks_app
    files = {f"reads/file-{n:03d}.txt": f"read {n}".encode() for n in range(25)}
    first = app.start(app.new_delivery(files))
    deadline = time.monotonic() + 60
    while app.status(first.instance_id)["copied"]["files"] in (None, 0):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    restart = app.deliver(app.retry_of(first), timeout=300)
    assert restart.view["phase"] == "delivered", restart.view
    assert restart.view["verified"]["files"] == len(files)
    assert app.status(first.instance_id)["runtimeStatus"] == "Terminated"
    assert [p["status"] for p in app.posts_for(restart)] == [200]
    assert app.posts_for(first) == []
    sink = app.container("labsmith", "incoming")
    folder = first.payload["Sink_TopLevelFolder"]
    for relative, content in files.items():
        assert sink.download_blob(f"{folder}/{relative}").readall() == content


def test_the_manifest_names_every_file_the_service_left_in_the_delivered_folder(
        delivery_app, delivered):
    import json

    sink = delivery_app.container("labsmith", "incoming")
    folder = delivered.payload["Sink_TopLevelFolder"]
    manifest = json.loads(sink.download_blob(f"{folder}/_ddd_transfer/manifest.json").readall())
    service_files = set(manifest["service_files"].values())
    left = {blob.name[len(folder) + 1:]
            for blob in sink.list_blobs(name_starts_with=f"{folder}/_ddd_transfer/")}
    assert left == service_files == {"_ddd_transfer/manifest.json", "_ddd_transfer/md5sums.txt",
                                     "_ddd_transfer/run.json"}


def test_the_status_advances_before_the_last_chunk_finishes(one_file_chunks_app):
    """One file per chunk, one unit in flight: the status moves at every unit's end, not once
    for the whole copy."""
    app = one_file_chunks_app
    files = {f"reads/file-{n:03d}.txt": f"read {n}".encode() for n in range(20)}
    delivery = app.start(app.new_delivery(files))
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while True:
        view = app.status(delivery.instance_id)
        if view["phase"] != "copying" and seen:
            break
        assert time.monotonic() < deadline, view
        if view["phase"] == "copying" and view["copied"]["units"]:
            seen.add(view["copied"]["units"])
        time.sleep(0.02)
    app.wait(delivery)
    assert delivery.view["phase"] == "delivered"
    # counts between the first and the last unit were shown while copying
    assert any(0 < units < len(files) for units in seen), seen
    assert len(seen) >= 3, seen
