"""An operator's conflict policy on a prepared destination folder: what verifies there is kept,
what is missing is copied, what differs is replaced only as the policy says, and what is not
part of the delivery is listed as present, not delivered. Nothing the service did not write is
removed, and a dry run says all of it first. The app in devhost over HTTP against Azurite."""

from __future__ import annotations

import json

import pytest
import requests

from tests.e2e.conftest import SINK_ACCOUNT, Delivery, DeliveryApp, upload

pytestmark = pytest.mark.slow


def prepare(app: DeliveryApp, delivery: Delivery, files: dict[str, bytes]) -> dict[str, str]:
    """Files someone else put in the destination folder; their ETags."""
    folder = delivery.payload["Sink_TopLevelFolder"]
    sink = app.container(SINK_ACCOUNT, "incoming")
    for name, content in files.items():
        upload(sink, f"{folder}/{name}", content)
    return etags(app, delivery)


def etags(app: DeliveryApp, delivery: Delivery) -> dict[str, str]:
    folder = delivery.payload["Sink_TopLevelFolder"]
    sink = app.container(SINK_ACCOUNT, "incoming")
    return {blob.name.removeprefix(folder + "/"): blob.etag
            for blob in sink.list_blobs(name_starts_with=folder + "/")}


def content(app: DeliveryApp, delivery: Delivery, name: str) -> bytes:
    folder = delivery.payload["Sink_TopLevelFolder"]
    return app.container(SINK_ACCOUNT, "incoming").download_blob(f"{folder}/{name}").readall()


def manifest_of(app: DeliveryApp, delivery: Delivery, name: str = "manifest.json") -> dict:
    return json.loads(content(app, delivery, f"_ddd_transfer/{name}"))


def dry_run(app: DeliveryApp, delivery: Delivery, **choices) -> dict:
    answer = requests.post(f"{app.host.base_url}/api/dry-runs",
                           params={"code": app.host.function_key},
                           json={**delivery.payload, **choices}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def test_merge_keeps_what_verifies_copies_what_is_missing_and_lists_the_rest(
        choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"same.txt": b"identical", "missing.txt": b"new"})
    before = prepare(choices_app, delivery, {"same.txt": b"identical",
                                             "theirs.txt": b"not part of the delivery"})

    planned = dry_run(choices_app, delivery, Conflict_Policy="merge")
    assert planned["destination_outlook"]["adds_to"] is True
    assert planned["policy_outlook"] == {"verified_there": 1, "missing": 1, "differing": 0,
                                         "compared_when_copied": 0, "present_not_delivered": 1}
    assert etags(choices_app, delivery) == before  # the dry run wrote nothing

    choices_app.wait(choices_app.start_as_operator(delivery, Conflict_Policy="merge"))

    assert delivery.view["phase"] == "delivered", delivery.view
    after = etags(choices_app, delivery)
    assert after["same.txt"] == before["same.txt"]  # kept, not written again
    assert after["theirs.txt"] == before["theirs.txt"]
    assert content(choices_app, delivery, "missing.txt") == b"new"
    manifest = manifest_of(choices_app, delivery)
    folder = delivery.payload["Sink_TopLevelFolder"]
    by_name = {entry["name"].removeprefix(folder + "/"): entry for entry in manifest["files"]}
    assert manifest["conflict_policy"] == "merge"
    assert by_name["theirs.txt"]["present_not_delivered"] is True
    assert "present_not_delivered" not in by_name["same.txt"]
    assert manifest["summary"]["file_count"] == 2
    (post,) = choices_app.posts_for(delivery)  # the website counts only what was delivered
    assert {entry["name"] for entry in post["body"]["manifest"]
            if not entry["is_directory"]} == {f"{folder}/same.txt", f"{folder}/missing.txt"}


def test_merge_keeps_a_different_file_it_did_not_write_and_fails_naming_it(
        choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"data.csv": b"the core's version", "more.txt": b"x"})
    before = prepare(choices_app, delivery, {"data.csv": b"the lab's own edits"})

    choices_app.wait(choices_app.start_as_operator(delivery, Conflict_Policy="merge"))

    view = delivery.view
    assert view["runtimeStatus"] == "Failed", view
    assert [failure["path"] for failure in view["failures"]] == ["data.csv"]
    assert "merge keeps it" in view["failures"][0]["reason"]
    assert content(choices_app, delivery, "data.csv") == b"the lab's own edits"
    # the attempt removed what it wrote (more.txt) and only that
    assert set(etags(choices_app, delivery)) - {"_ddd_transfer/run.json"} == {"data.csv"}
    assert etags(choices_app, delivery)["data.csv"] == before["data.csv"]


def test_replace_different_replaces_and_records_what_it_replaced(choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"data.csv": b"the core's version", "same.txt": b"s"})
    before = prepare(choices_app, delivery, {"data.csv": b"an older version",
                                             "same.txt": b"s", "notes.txt": b"the lab's"})

    planned = dry_run(choices_app, delivery, Conflict_Policy="replace-different")
    assert planned["policy_outlook"]["differing"] == 1
    assert planned["policy_outlook"]["verified_there"] == 1

    choices_app.wait(choices_app.start_as_operator(delivery,
                                                   Conflict_Policy="replace-different"))

    assert delivery.view["phase"] == "delivered", delivery.view
    assert content(choices_app, delivery, "data.csv") == b"the core's version"
    after = etags(choices_app, delivery)
    assert after["same.txt"] == before["same.txt"] and after["notes.txt"] == before["notes.txt"]
    folder = delivery.payload["Sink_TopLevelFolder"]
    by_name = {entry["name"].removeprefix(folder + "/"): entry
               for entry in manifest_of(choices_app, delivery)["files"]}
    replaced = by_name["data.csv"]["replaced"]
    assert replaced["size"] == len(b"an older version")
    assert replaced["etag"].strip('"') == before["data.csv"].strip('"')
    assert "replaced" not in by_name["same.txt"]
    assert by_name["notes.txt"]["present_not_delivered"] is True


def test_merge_replaces_a_file_this_service_delivered_before_and_keeps_the_first_manifest(
        choices_app: DeliveryApp):
    first = choices_app.deliver(choices_app.new_delivery({"sample1.fastq": b"run one",
                                                          "sheet.csv": b"v1"}))
    assert first.view["phase"] == "delivered", first.view
    first_manifest = content(choices_app, first, "_ddd_transfer/manifest.json")
    # a late sample and a corrected sheet, delivered by an operator into the same folder
    late = choices_app.new_delivery({"sample2.fastq": b"run two", "sheet.csv": b"v2",
                                     "sample1.fastq": b"run one"})
    late.payload["Sink_TopLevelFolder"] = first.payload["Sink_TopLevelFolder"]

    choices_app.wait(choices_app.start_as_operator(late, Conflict_Policy="merge"))

    assert late.view["phase"] == "delivered", late.view
    assert content(choices_app, late, "sheet.csv") == b"v2"
    assert content(choices_app, late, "sample2.fastq") == b"run two"
    # the first delivery's manifest stays; this one's is written beside it
    assert content(choices_app, first, "_ddd_transfer/manifest.json") == first_manifest
    own = manifest_of(choices_app, late, f"manifest.{late.instance_id}.json")
    assert own["summary"]["file_count"] == 3


def test_the_default_policy_still_refuses_a_folder_that_holds_files(choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"a.txt": b"a"})
    before = prepare(choices_app, delivery, {"a.txt": b"a"})

    choices_app.wait(choices_app.start_as_operator(delivery))

    assert delivery.view["phase"] == "refused", delivery.view
    assert "already exists" in delivery.view["message"]
    assert etags(choices_app, delivery) == before
