"""Dry runs and the website's project summary, through devhost over HTTP (the e2e app answers
dry runs of up to 5 files at once: DDD_DRY_RUN_INSTANT_FILES)."""

from __future__ import annotations

import os
import time
import uuid

import requests

from demo.seed import LARGE_FILE, seed_run
from tests.e2e.conftest import SINK_ACCOUNT, SOURCE_ACCOUNT, DeliveryApp

VARIED = {
    "SampleSheet.csv": b"[Header]\n" * 50,
    "RunInfo.xml": b"<RunInfo/>\n",
    "CopyComplete.txt": b"",
    "InterOp/QMetricsOut.bin": os.urandom(40_000),
    "Data/Intensities/s.locs": os.urandom(3_000),
    **{f"Data/Intensities/BaseCalls/S{n}_L001_R1_001.fastq.gz": os.urandom(20_000 + n)
       for n in range(1, 7)},
    "Data/Intensities/BaseCalls/Undetermined_S0_L001_R1_001.fastq.gz": (os.urandom(600_000),
                                                                         False),
    "Notes/Résumé du run.txt": ("Qualität\n".encode(), False),
}


def post_dry_run(app: DeliveryApp, payload: dict) -> requests.Response:
    return requests.post(f"{app.host.base_url}/api/dry-runs", json=payload,
                         params={"code": app.host.function_key}, timeout=60)


def wait_dry_run(app: DeliveryApp, url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = requests.get(url, params={"code": app.host.function_key}, timeout=30).json()
        if view["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return view
        time.sleep(0.2)
    raise TimeoutError(app.host.logs()[-3000:])


def sink_names(app: DeliveryApp, folder: str) -> list[str]:
    sink = app.container(SINK_ACCOUNT, "incoming")
    return [blob.name for blob in sink.list_blobs(name_starts_with=folder + "/")]


def delivered_counts(app: DeliveryApp, delivery) -> dict:  # type: ignore[no-untyped-def]
    """What the delivery planned and what its manifest, as the website received it, lists."""
    manifest = app.posts_for(delivery)[-1]["body"]["manifest"]
    files = [entry for entry in manifest if not entry["is_directory"]]
    largest = max(files, key=lambda entry: entry["content_length"])
    return {
        "files": delivery.view["planned"]["files"], "bytes": delivery.view["planned"]["bytes"],
        "work_units": delivery.view["planned"]["units"],
        "chunks": delivery.view["planned"]["chunks"],
        "files_without_md5": sum(entry["verification"] == "computed-from-source+block-md5"
                                 for entry in files),
        "folders": sum(entry["is_directory"] for entry in manifest),
        "largest": (largest["name"], largest["content_length"]),
    }


def dry_run_counts(result: dict, source_folder: str, sink_folder: str) -> dict:
    largest = result["largest_file"]
    return {
        "files": result["files"], "bytes": result["bytes"], "work_units": result["work_units"],
        "chunks": result["chunks"],
        "files_without_md5": result["files_without_md5"], "folders": result["folders"],
        # the manifest names destination paths: the same relative path under the sink folder
        "largest": (f"{sink_folder}/{largest['path']}", largest["size"]),
    }


def test_a_large_dry_run_runs_in_the_background_and_equals_the_delivery(
        one_file_chunks_app: DeliveryApp) -> None:
    app = one_file_chunks_app  # one file per chunk: the work units are worth comparing
    delivery = app.new_delivery(VARIED)
    folder = delivery.payload["Sink_TopLevelFolder"]

    answer = post_dry_run(app, delivery.payload)
    assert answer.status_code == 202, answer.text
    assert answer.json()["id"].startswith("dryrun-")
    view = wait_dry_run(app, answer.json()["dryRunStatusUri"])
    assert view["runtimeStatus"] == "Completed", view
    result = view["result"]
    assert sink_names(app, folder) == []  # nothing was written to the destination
    assert result["destination_outlook"] == {"free": True, "adopts_from": None, "delivered": None,
                                             "conflict": None, "adds_to": False}
    assert result["refusal"] is None
    app.assert_no_secret_anywhere(answer.json()["id"])

    app.deliver(delivery)
    assert delivery.view["phase"] == "delivered", delivery.view
    assert dry_run_counts(result, delivery.payload["Source_TopLevelFolder"], folder) == \
        delivered_counts(app, delivery)
    assert (result["files"], result["files_without_md5"], result["work_units"]) == (
        len(VARIED), 2, len(VARIED))


def test_a_small_dry_run_is_answered_at_once(delivery_app: DeliveryApp) -> None:
    delivery = delivery_app.new_delivery({"a.txt": b"alpha\n", "b/c.txt": b"gamma\n"})
    instances_before = delivery_app.instance_count()

    answer = post_dry_run(delivery_app, delivery.payload)

    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert (result["files"], result["bytes"], result["folders"]) == (2, 12, 1)
    assert delivery_app.instance_count() == instances_before  # no orchestration for it
    assert sink_names(delivery_app, delivery.payload["Sink_TopLevelFolder"]) == []

    delivery_app.deliver(delivery)
    assert delivery.view["phase"] == "delivered"
    again = post_dry_run(delivery_app, {**delivery.payload,
                                        "Webhook_TransferUUID": str(uuid.uuid4())})
    # after the delivery its folder is sealed: a new attempt would only verify it again
    outlook = again.json()["result"]["destination_outlook"]
    assert outlook["free"] is True and outlook["adopts_from"] is None
    assert outlook["delivered"]["run_id"] == delivery.instance_id
    other = post_dry_run(delivery_app, {**delivery.payload, "Webhook_DeliveryID": 999_999_991})
    assert other.json()["result"]["destination_outlook"]["free"] is False
    assert "already exists" in other.json()["result"]["refusal"]


def test_the_summary_of_the_demo_run_is_what_the_website_s_rules_give(
        delivery_app: DeliveryApp) -> None:
    from tests.shared.plan.test_summary import adls_paths, website_summary

    folder = f"jdoe/mouse-rnaseq-{uuid.uuid4().hex[:8]}"
    seeded = seed_run(delivery_app.azurite.blob_service(SOURCE_ACCOUNT), "deliveries", folder)
    assert LARGE_FILE in seeded

    answer = requests.post(f"{delivery_app.host.base_url}/api/summary",
                           params={"code": delivery_app.host.function_key}, timeout=60,
                           json={"Source_StorageAccount": SOURCE_ACCOUNT,
                                 "Source_FileSystem": "deliveries",
                                 "Source_TopLevelFolder": folder})

    assert answer.status_code == 200, answer.text
    assert answer.json() == website_summary(adls_paths(folder, seeded))
    # Data, InterOp, Notes at the top; Data/Intensities and .../BaseCalls below
    assert {key: answer.json()[key] for key in ("root_folder_count", "sub_folder_count",
                                                "file_count")} == {
        "root_folder_count": 3, "sub_folder_count": 2, "file_count": len(seeded)}
    missing = requests.post(f"{delivery_app.host.base_url}/api/summary",
                            params={"code": delivery_app.host.function_key}, timeout=60,
                            json={"Source_StorageAccount": SOURCE_ACCOUNT,
                                  "Source_FileSystem": "deliveries",
                                  "Source_TopLevelFolder": "jdoe/no-such-project"})
    assert missing.status_code == 200
    assert missing.json()["error_msg"] == "No project found at jdoe/no-such-project."


def test_an_answer_at_once_forgets_an_earlier_background_dry_run_of_the_same_id(
        delivery_app: DeliveryApp) -> None:
    delivery = delivery_app.new_delivery({f"f{n}.txt": b"x" * n for n in range(1, 8)})
    first = post_dry_run(delivery_app, delivery.payload)
    assert first.status_code == 202, first.text
    assert wait_dry_run(delivery_app, first.json()["dryRunStatusUri"])["result"]["files"] == 7
    source = delivery_app.container(SOURCE_ACCOUNT, "deliveries")
    for n in (1, 2, 3):
        source.delete_blob(f"{delivery.payload['Source_TopLevelFolder']}/f{n}.txt")

    second = post_dry_run(delivery_app, delivery.payload)

    assert second.status_code == 200 and second.json()["result"]["files"] == 4
    stale = requests.get(first.json()["dryRunStatusUri"],
                         params={"code": delivery_app.host.function_key}, timeout=30)
    assert stale.status_code == 404
