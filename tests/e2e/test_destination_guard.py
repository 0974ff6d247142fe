"""The destination is guarded: a delivered folder is sealed, deliveries never nest, the website's
half answers are named, and no start path reaches an account the allow-lists refuse. The app
in devhost over HTTP, against Azurite, as the website (or someone with a Durable key) calls it.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from shared.core.models import Plan
from shared.core.request import DeliveryRequest
from shared.core.run import DeliveryRun
from tests.e2e.conftest import SINK_ACCOUNT, Delivery, DeliveryApp, upload

pytestmark = pytest.mark.slow


def etags_under(app: DeliveryApp, folder: str, container: str = "incoming") -> dict[str, str]:
    """Every blob under (and at) the folder, with its ETag."""
    sink = app.container(SINK_ACCOUNT, container)
    found = {blob.name: blob.etag for blob in sink.list_blobs(name_starts_with=folder + "/")}
    marker = sink.get_blob_client(folder)
    if marker.exists():
        found[folder] = marker.get_blob_properties().etag
    return found


# ----- a delivered folder is sealed ---------------------------------------------------------------
def test_a_restart_after_delivery_changes_nothing_and_reports_the_same_files(
        delivery_app: DeliveryApp):
    files = {"reads/a.fastq.gz": b"A" * 3000, "reads/b.fastq.gz": (b"B" * 900, False),
             "SampleSheet.csv": b"Sample_ID\nA\n"}
    first = delivery_app.deliver(delivery_app.new_delivery(files))
    assert first.view["phase"] == "delivered", first.view
    folder = first.payload["Sink_TopLevelFolder"]
    before = etags_under(delivery_app, folder)
    assert len(before) >= len(files) + 3  # the files, the manifest, checksums and claim

    restart = delivery_app.deliver(delivery_app.retry_of(first))

    assert restart.view["runtimeStatus"] == "Completed", restart.view
    assert restart.view["phase"] == "delivered"
    assert "Already delivered on" in restart.view["message"]
    assert etags_under(delivery_app, folder) == before  # not one blob written or removed
    (post,) = delivery_app.posts_for(restart)
    assert post["status"] == 200
    names = {entry["name"] for entry in post["body"]["manifest"] if not entry["is_directory"]}
    assert names == {f"{folder}/{path}" for path in files}


def test_a_restart_after_the_source_changed_is_refused_and_the_folder_left_as_it_is(
        delivery_app: DeliveryApp):
    first = delivery_app.deliver(delivery_app.new_delivery(
        {"a.txt": b"version one", "b.txt": b"unchanged"}))
    assert first.view["phase"] == "delivered", first.view
    folder = first.payload["Sink_TopLevelFolder"]
    before = etags_under(delivery_app, folder)
    source = delivery_app.container("sequencingcore", "deliveries")
    upload(source, f"{first.payload['Source_TopLevelFolder']}/a.txt", b"version two")

    restart = delivery_app.deliver(delivery_app.retry_of(first))

    assert restart.view["runtimeStatus"] == "Failed"
    assert restart.view["phase"] == "refused"
    message = restart.view["message"]
    assert "a.txt" in message and "b.txt" not in message
    assert "was left as it is" in message
    assert etags_under(delivery_app, folder) == before
    (post,) = delivery_app.posts_for(restart)
    assert "a.txt" in post["body"]["error_message"]


def test_the_issue_scenario_a_nested_delivery_is_refused_and_a_restart_deletes_nothing(
        delivery_app: DeliveryApp):
    """5001 into lab/A; 5002 into lab/A/inner; the source of 5001 changes; 5001 restarted."""
    lab = f"lab{uuid.uuid4().hex[:6]}"
    outer = delivery_app.new_delivery({f"r{n}.txt": b"x" * n for n in range(1, 6)})
    outer.payload["Sink_TopLevelFolder"] = f"{lab}/A"
    outer = delivery_app.deliver(outer)
    assert outer.view["phase"] == "delivered", outer.view
    inner = delivery_app.new_delivery({"inner.txt": b"inner"})
    inner.payload["Sink_TopLevelFolder"] = f"{lab}/A/inner"
    inner = delivery_app.deliver(inner)
    assert inner.view["phase"] == "refused"
    assert "already exists" in inner.view["message"]
    assert f"'{lab}/A'" in inner.view["message"]  # the delivery folder it lies in
    before = etags_under(delivery_app, f"{lab}/A")
    source = delivery_app.container("sequencingcore", "deliveries")
    upload(source, f"{outer.payload['Source_TopLevelFolder']}/r3.txt", b"changed")

    restart = delivery_app.deliver(delivery_app.retry_of(outer))

    assert restart.view["phase"] == "refused" and "r3.txt" in restart.view["message"]
    assert etags_under(delivery_app, f"{lab}/A") == before


# ----- no nesting -------------------------------------------------------------------------------
def test_a_folder_inside_or_around_a_delivery_is_refused(delivery_app: DeliveryApp):
    parent = f"lab{uuid.uuid4().hex[:6]}"
    first = delivery_app.new_delivery({"a.txt": b"a"})
    first.payload["Sink_TopLevelFolder"] = f"{parent}/run-1"
    assert delivery_app.deliver(first).view["phase"] == "delivered"
    before = etags_under(delivery_app, parent)

    inside = delivery_app.new_delivery({"b.txt": b"b"})
    inside.payload["Sink_TopLevelFolder"] = f"{parent}/run-1/more/deeper"
    around = delivery_app.new_delivery({"c.txt": b"c"})
    around.payload["Sink_TopLevelFolder"] = parent
    for refused in (delivery_app.deliver(inside), delivery_app.deliver(around)):
        assert refused.view["phase"] == "refused", refused.view
        folder = refused.payload["Sink_TopLevelFolder"]
        (post,) = delivery_app.posts_for(refused)
        assert post["body"]["error_message"].startswith(
            f"Error: The transfer destination directory '{folder}' already exists.")
    assert etags_under(delivery_app, parent) == before


def test_of_two_nested_deliveries_started_at_once_exactly_one_is_delivered(
        delivery_app: DeliveryApp):
    for _round in range(3):
        parent = f"race{uuid.uuid4().hex[:6]}"
        outer = delivery_app.new_delivery({"outer.txt": b"o" * 100})
        outer.payload["Sink_TopLevelFolder"] = parent
        inner = delivery_app.new_delivery({"inner.txt": b"i" * 100})
        inner.payload["Sink_TopLevelFolder"] = f"{parent}/inner"
        barrier = threading.Barrier(2)

        def start(delivery: Delivery, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            delivery_app.start(delivery)

        threads = [threading.Thread(target=start, args=(d,)) for d in (outer, inner)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        phases = sorted(delivery_app.wait(d).view["phase"] for d in (outer, inner))
        assert phases == ["delivered", "refused"], phases
        names = set(etags_under(delivery_app, parent))
        delivered = outer if outer.view["phase"] == "delivered" else inner
        other = inner if delivered is outer else outer
        assert any(name.endswith(next(iter(delivered.seeded))) for name in names)
        assert not any(name.endswith(next(iter(other.seeded))) for name in names)


# ----- the website's half answer ---------------------------------------------------------------
def test_a_500_then_not_in_transferring_state_is_a_phase_of_its_own(operator_app: DeliveryApp):
    delivery = operator_app.new_delivery({"a.txt": b"a"})
    operator_app.website.save_then_fail_next(1)  # saved, then its e-mail step fails: 500

    delivery = operator_app.deliver(delivery)

    assert [post["status"] for post in operator_app.posts_for(delivery)] == [500, 400]
    assert delivery.view["runtimeStatus"] == "Completed"
    assert delivery.view["phase"] == "delivered-website-error"
    assert "may not have e-mailed the recipients" in delivery.view["message"]
    assert operator_app.website.recorded(delivery.payload["Webhook_DeliveryID"]) is not None
    assert operator_app.standins is not None
    (mail,) = operator_app.standins.mails_about(delivery)
    assert "may not have e-mailed the recipients" in mail["content"]["subject"]


# ----- the allow-lists hold wherever the work is done -------------------------------------------
def durable_start(app: DeliveryApp, key: str, run: DeliveryRun) -> dict:
    started = requests.post(app.host.webhook(f"orchestrators/delivery/{run.run_id}"),
                            params={"code": key}, json=run.to_json(), timeout=30)
    assert started.status_code == 202, started.text
    return app.host.wait_for(run.run_id, timeout=120)


def hostile_request(delivery_id: int, source: tuple[str, str, str],
                    sink_folder: str) -> DeliveryRequest:
    account, container, folder = source
    return DeliveryRequest(
        source_account=account, source_container=container, source_folder=folder,
        sink_account=SINK_ACCOUNT, sink_container="incoming", sink_folder=sink_folder,
        delivery_id=delivery_id, transfer_uuid=str(uuid.uuid4()))


def test_a_durable_api_start_reaches_no_account_the_allow_lists_refuse(
        delivery_app: DeliveryApp):
    # something worth stealing in the work container, and in a lab's own account
    work = delivery_app.azurite.blob_service("devstoreaccount1").get_container_client(
        "ddd-transfer-work")
    if not work.exists():
        work.create_container()
    work.upload_blob("shares/share-x/download.sh", b"curl 'https://...sig=secret'",
                     overwrite=True)
    lab_file = delivery_app.new_delivery({"private.txt": b"the lab's own data"})
    lab_file = delivery_app.deliver(lab_file)
    assert lab_file.view["phase"] == "delivered"
    tag = uuid.uuid4().hex[:8]

    # with the master key: the app's own work account as the source
    through_plan = hostile_request(7001, ("devstoreaccount1", "ddd-transfer-work", "shares"),
                                   f"stolen/{tag}-1")
    planned = durable_start(delivery_app, delivery_app.host.master_key,
                            DeliveryRun(request=through_plan, run_id=f"delivery-7001-{tag}"))
    # with the system key: a lab's account as the source, the plan step skipped (a hand-made
    # plan naming pages of a real delivery's run)
    lab_request = DeliveryRequest.model_validate(lab_file.payload)
    skipped = hostile_request(7002, (SINK_ACCOUNT, "incoming", lab_request.sink_folder),
                              f"stolen/{tag}-2")
    hand_made = DeliveryRun(request=skipped, run_id=f"delivery-7002-{tag}",
                            outage_wait_seconds=1,
                            plan=Plan(run_id=lab_file.instance_id, files=1, bytes=18,
                                      chunk_count=1, unit_count=1))
    copied = durable_start(delivery_app, delivery_app.host.system_key, hand_made)

    for status in (planned, copied):
        assert status["runtimeStatus"] == "Failed", status
        assert "never a source" in status["output"] or "not an allowed source" in \
            status["output"], status["output"]
    assert etags_under(delivery_app, "stolen") == {}


# ----- clear refusals ----------------------------------------------------------------------------
def test_the_same_id_and_uuid_with_another_body_is_refused_naming_what_differs(
        delivery_app: DeliveryApp):
    delivery = delivery_app.new_delivery({"a.txt": b"a"})
    first = delivery_app.post(delivery.payload)
    assert first.status_code == 202, first.text
    same = delivery_app.post(delivery.payload)
    assert same.status_code == 202 and same.json()["id"] == first.json()["id"]
    changed = {**delivery.payload, "Sink_FileSystem": "elsewhere",
               "Sink_TopLevelFolder": "another/place"}

    refused = delivery_app.post(changed)

    assert refused.status_code == 409, refused.text
    assert {problem["field"] for problem in refused.json()["errors"]} == {
        "Sink_FileSystem", "Sink_TopLevelFolder"}
    delivery.instance_id = first.json()["id"]
    assert delivery_app.wait(delivery).view["phase"] == "delivered"
    assert not delivery_app.container(SINK_ACCOUNT, "elsewhere").get_blob_client(
        "another/place/a.txt").exists()


def test_status_links_come_from_the_apps_own_address_not_the_host_header(
        delivery_app: DeliveryApp):
    delivery = delivery_app.new_delivery({"a.txt": b"a"})
    answer = delivery_app.post(delivery.payload, headers={"Host": "attacker.example"})
    assert answer.status_code == 202, answer.text
    expected = f"{delivery_app.host.base_url}/api/deliveries/{answer.json()['id']}"
    assert answer.json()["deliveryStatusUri"] == expected
    assert answer.headers["Location"] == expected
    delivery.instance_id = answer.json()["id"]
    delivery_app.wait(delivery)
