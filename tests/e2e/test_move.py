"""Moving a delivery: the source folder is deleted only after every file verified, the manifest
was written and the website acknowledged the result; exactly the planned blobs, each only as it
was copied; resumed after a host kill; never for a delivery that failed or was not recorded.
The app in devhost over HTTP against Azurite, started by an operator (`Move_Source`)."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import requests

from tests.e2e.conftest import SOURCE_ACCOUNT, Delivery, DeliveryApp, upload

pytestmark = pytest.mark.slow


def source_names(app: DeliveryApp, delivery: Delivery) -> set[str]:
    folder = delivery.payload["Source_TopLevelFolder"]
    source = app.container(SOURCE_ACCOUNT, "deliveries")
    return {blob.name.removeprefix(folder + "/")
            for blob in source.list_blobs(name_starts_with=folder + "/")}


def sink_files(app: DeliveryApp, delivery: Delivery) -> dict[str, bytes]:
    folder = delivery.payload["Sink_TopLevelFolder"]
    sink = app.container("labsmith", "incoming")
    return {blob.name.removeprefix(folder + "/"):
            sink.download_blob(blob.name).readall()
            for blob in sink.list_blobs(name_starts_with=folder + "/", include=["metadata"])
            if not blob.name.startswith(f"{folder}/_ddd_transfer/")
            and (blob.metadata or {}).get("hdi_isfolder") != "true"}


def watch_reports(app: DeliveryApp, delivery: Delivery, monkeypatch,
                  on_report=None) -> list[set[str]]:
    """The source files present at each POST of this delivery's result (and `on_report` run
    then, before the website answers)."""
    seen: list[set[str]] = []
    answer = app.website.answer

    def answering(authorization, body_bytes):
        if delivery.payload["Webhook_TransferUUID"].encode() in body_bytes:
            seen.append(source_names(app, delivery))
            if on_report is not None:
                on_report()
        return answer(authorization, body_bytes)

    monkeypatch.setattr(app.website, "answer", answering)
    return seen


def test_the_source_is_removed_only_after_the_website_recorded_the_delivery(
        choices_app: DeliveryApp, monkeypatch):
    files = {f"reads/r{n}.fastq.gz": os.urandom(700 + n) for n in range(5)}
    files["SampleSheet.csv"] = b"Sample_ID\nA\n"
    delivery = choices_app.new_delivery(files)
    seen = watch_reports(choices_app, delivery, monkeypatch)

    choices_app.wait(choices_app.start_as_operator(delivery, Move_Source=True))

    view = delivery.view
    assert view["runtimeStatus"] == "Completed" and view["phase"] == "delivered", view
    assert seen == [set(files)]  # when the website was told, all of the source was there
    assert source_names(choices_app, delivery) == set()
    assert sink_files(choices_app, delivery) == files
    assert view["sourceRemoved"] == {"files": 6, "bytes": sum(map(len, files.values())),
                                     "files_kept": 0,
                                     "files_left": 0}
    assert "The source folder was removed (6 files" in view["message"]
    assert view["options"]["move_source"] is True
    recorded = choices_app.website.recorded(delivery.payload["Webhook_DeliveryID"])
    assert recorded is not None and "manifest" in recorded


def test_a_source_file_changed_or_added_after_the_copy_is_kept_and_named(
        choices_app: DeliveryApp, monkeypatch):
    files = {"a.txt": b"version one", "b.txt": b"unchanged", "c/d.txt": b"also unchanged"}
    delivery = choices_app.new_delivery(files)
    folder = delivery.payload["Source_TopLevelFolder"]
    source = choices_app.container(SOURCE_ACCOUNT, "deliveries")

    def change_the_source() -> None:  # after the copy verified, before the move
        upload(source, f"{folder}/a.txt", b"version two")
        upload(source, f"{folder}/late.txt", b"arrived after the plan")

    watch_reports(choices_app, delivery, monkeypatch, change_the_source)
    choices_app.wait(choices_app.start_as_operator(delivery, Move_Source=True))

    view = delivery.view
    assert view["runtimeStatus"] == "Completed", view  # still delivered, never failed
    assert view["phase"] == "delivered-source-kept"
    assert source_names(choices_app, delivery) == {"a.txt", "late.txt"}
    assert source.download_blob(f"{folder}/a.txt").readall() == b"version two"
    assert sink_files(choices_app, delivery) == files  # what was delivered is as it was
    assert "1 changed since they were delivered and were kept: a.txt" in view["message"]
    assert "still holds 2 file(s): a.txt, late.txt" in view["message"]  # the late one named
    assert view["sourceRemoved"]["files"] == 2 and view["sourceRemoved"]["files_kept"] == 1


def test_nothing_is_removed_when_the_website_did_not_record_the_result(
        choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"a.txt": b"kept", "b.txt": b"kept too"})
    # the website has a newer attempt of this delivery: it will not record this one
    choices_app.website.expect(delivery.payload["Webhook_DeliveryID"], str(uuid.uuid4()))

    choices_app.wait(choices_app.start_as_operator(delivery, Move_Source=True))

    assert delivery.view["phase"] == "stale", delivery.view
    assert source_names(choices_app, delivery) == {"a.txt", "b.txt"}
    assert "sourceRemoved" not in delivery.view


def test_nothing_is_removed_when_the_delivery_fails(choices_app: DeliveryApp):
    taken = choices_app.new_delivery({"x.txt": b"someone else's"})
    choices_app.deliver(taken)
    delivery = choices_app.new_delivery({"a.txt": b"kept", "b.txt": b"kept too"})
    delivery.payload["Sink_TopLevelFolder"] = taken.payload["Sink_TopLevelFolder"]

    choices_app.wait(choices_app.start_as_operator(delivery, Move_Source=True))

    assert delivery.view["runtimeStatus"] == "Failed"
    assert delivery.view["phase"] == "refused", delivery.view
    assert source_names(choices_app, delivery) == {"a.txt", "b.txt"}


def test_moving_where_it_is_not_allowed_is_refused_at_the_door(choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"a.txt": b"stays"})
    delivery.payload["Source_FileSystem"] = "elsewhere"
    refused = requests.post(f"{choices_app.host.base_url}/api/operator/deliveries",
                            params={"code": choices_app.host.master_key},
                            json={**delivery.payload, "Move_Source": True}, timeout=30)
    assert refused.status_code == 400
    assert [problem["field"] for problem in refused.json()["errors"]] == ["Move_Source"]
    # and the website's start (a function key) cannot ask for it at all
    website = choices_app.post({**delivery.payload, "Move_Source": True})
    assert website.status_code == 400
    assert website.json()["errors"][0]["field"] == "Move_Source"


def test_a_host_killed_while_removing_the_source_resumes_and_removes_the_rest(
        choices_app: DeliveryApp):
    files = {f"lane{n % 4}/r{n:03d}.fastq.gz": os.urandom(300 + n) for n in range(80)}
    delivery = choices_app.start_as_operator(choices_app.new_delivery(files), Move_Source=True)
    deadline = time.monotonic() + 180
    while True:
        view = choices_app.status(delivery.instance_id)
        removed = len(files) - len(source_names(choices_app, delivery))
        if view["phase"] == "moving-source" and removed > 0:
            break
        assert view["runtimeStatus"] not in ("Completed", "Failed"), view
        assert time.monotonic() < deadline, view
        time.sleep(0.01)
    choices_app.host.kill()
    left_at_kill = source_names(choices_app, delivery)
    assert 0 < len(left_at_kill) < len(files)

    choices_app.host.start()
    choices_app.wait(delivery, timeout=300)

    view = delivery.view
    assert view["phase"] == "delivered", view
    assert source_names(choices_app, delivery) == set()
    assert sink_files(choices_app, delivery) == files
    assert view["sourceRemoved"] == {"files": len(files),
                                     "bytes": sum(map(len, files.values())), "files_kept": 0,
                                     "files_left": 0}


def test_on_adls_gen2_the_source_directories_go_too_and_one_not_empty_stays(
        hns_choices_app: DeliveryApp, monkeypatch):
    app = hns_choices_app
    files = {"lane1/a.fastq.gz": b"a" * 500, "lane1/deep/b.fastq.gz": b"b" * 600,
             "lane2/c.fastq.gz": b"c" * 700, "SampleSheet.csv": b"Sample_ID\n"}
    delivery = app.new_delivery(files)
    folder = delivery.payload["Source_TopLevelFolder"]
    app.make_folder(SOURCE_ACCOUNT, "deliveries", f"{folder}/empty")
    source = app.container(SOURCE_ACCOUNT, "deliveries")

    def a_late_file() -> None:  # lands in lane2 after the copy: lane2 must stay
        upload(source, f"{folder}/lane2/late.txt", b"late")

    watch_reports(app, delivery, monkeypatch, a_late_file)
    app.wait(app.start_as_operator(delivery, Move_Source=True))

    assert delivery.view["phase"] == "delivered-source-kept", delivery.view
    assert "still holds 1 file(s): lane2/late.txt" in delivery.view["message"]
    assert source_names(app, delivery) == {"lane2", "lane2/late.txt"}
    assert sink_files(app, delivery) == files
    assert delivery.view["sourceRemoved"]["files"] == 4
