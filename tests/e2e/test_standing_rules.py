"""Standing rules end to end: devhost's local Event Grid watches the core's account in Azurite
and delivers BlobCreated events to the app's `run_completed` function, as Event Grid does on
Azure. A flag landing starts exactly one delivery that arrives verified; a redelivered event
starts none; a flag no rule takes starts none; a bad rule stops the app, named."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.launcher import DevHostProcess
from shared.core.config import load_settings
from shared.core.rules import event_subscriptions
from tests.e2e.conftest import REPO, SINK_ACCOUNT, SOURCE_ACCOUNT, DeliveryApp, start_app, upload
from tests.e2e.test_receivers import Webhook

pytestmark = pytest.mark.slow

RUNS = "runs"
CLI = REPO / ".venv" / "bin" / "ddd-transfer"


def rule(webhook_url: str) -> dict:
    return {"name": "smith-miseq",
            "source": {"account": SOURCE_ACCOUNT, "container": RUNS, "prefix": "MiSeq"},
            "flags": ["RTAComplete.txt"],
            "sink": {"account": SINK_ACCOUNT, "container": "incoming", "folder": "miseq/{run}"},
            "notify": {"kind": "webhook", "webhook": {"url": webhook_url}}}


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def rules_app(azurite, webhook: Webhook, tmp_path_factory) -> Iterator[DeliveryApp]:
    rules = [rule(webhook.url)]
    loaded = load_settings({"DDD_WORK_ACCOUNT": "devstoreaccount1",
                            "DDD_WEBSITE_URL": "https://d4s2.example.org",
                            "DDD_WEBSITE_TOKEN": "x", "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT,
                            "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
                            "DDD_STANDING_RULES": json.dumps(rules)}).standing_rules
    subscriptions = event_subscriptions(loaded, "run_completed")
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-rules"), {
        "DDD_STANDING_RULES": json.dumps(rules),
        "DEVHOST_EVENT_SUBSCRIPTIONS": json.dumps(subscriptions),
        "DEVHOST_EVENT_POLL_SECONDS": "0.3"})
    app.container(SOURCE_ACCOUNT, RUNS)
    app.container(SINK_ACCOUNT, "incoming")
    deadline = time.monotonic() + 30
    while "subscription smith-miseq created" not in app.host.logs():
        assert time.monotonic() < deadline, app.host.logs()[-3000:]
        time.sleep(0.1)
    yield app
    app.host.stop()
    app.website.stop()


def deliveries_of(app: DeliveryApp, rule_name: str) -> list[dict]:
    answer = requests.get(app.host.webhook("instances"),
                          params={"code": app.host.system_key,
                                  "instanceIdPrefix": f"delivery-{rule_name}."}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def seed_run(app: DeliveryApp, run: str) -> dict[str, bytes]:
    source = app.container(SOURCE_ACCOUNT, RUNS)
    files = {f"Data/Intensities/L001/s_{n}.bcl": os.urandom(900 + n) for n in range(4)}
    files["SampleSheet.csv"] = b"[Data]\nSample_ID\nA\n"
    for name, content in files.items():
        upload(source, f"MiSeq/{run}/{name}", content)
    return files


def wait_for_delivery(app: DeliveryApp, run: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in deliveries_of(app, "smith-miseq")
                 if d["instanceId"].startswith(f"delivery-smith-miseq.{run}-")]
        if found and found[0]["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return found[0]
        assert time.monotonic() < deadline, app.host.logs()[-4000:]
        time.sleep(0.2)


def test_a_flag_landing_starts_one_delivery_that_arrives_verified(rules_app: DeliveryApp,
                                                                  webhook: Webhook):
    run = f"240101_M001_{uuid.uuid4().hex[:6]}"
    files = seed_run(rules_app, run)
    time.sleep(1)  # the run's files are seen (and ignored: no flag) before the flag lands
    upload(rules_app.container(SOURCE_ACCOUNT, RUNS), f"MiSeq/{run}/RTAComplete.txt", b"")

    instance = wait_for_delivery(rules_app, run)

    assert instance["runtimeStatus"] == "Completed", instance
    view = rules_app.status(instance["instanceId"])
    assert view["phase"] == "delivered", view
    assert view["verified"]["files"] == len(files) + 1  # the flag is part of the run
    sink = rules_app.container(SINK_ACCOUNT, "incoming")
    for name, content in files.items():
        assert sink.download_blob(f"miseq/{run}/{name}").readall() == content
    posts = [post for post in webhook.posts
             if str(post["body"].get("delivery_id")) == f"smith-miseq.{run}"]
    assert len(posts) == 1 and "manifest" in posts[0]["body"]
    manifest = json.loads(sink.download_blob(f"miseq/{run}/_ddd_transfer/manifest.json")
                          .readall())
    assert manifest["standing_rule"] == "smith-miseq"
    assert len([d for d in deliveries_of(rules_app, "smith-miseq")
                if d["instanceId"].startswith(f"delivery-smith-miseq.{run}-")]) == 1


def test_an_event_delivered_again_starts_nothing(rules_app: DeliveryApp):
    run = f"240102_M001_{uuid.uuid4().hex[:6]}"
    seed_run(rules_app, run)
    flag = f"MiSeq/{run}/RTAComplete.txt"
    upload(rules_app.container(SOURCE_ACCOUNT, RUNS), flag, b"")
    first = wait_for_delivery(rules_app, run)
    event = {"id": str(uuid.uuid4()), "eventType": "Microsoft.Storage.BlobCreated",
             "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/"
                      f"providers/Microsoft.Storage/storageAccounts/{SOURCE_ACCOUNT}",
             "subject": f"/blobServices/default/containers/{RUNS}/blobs/{flag}",
             "eventTime": "2026-12-06T12:00:00Z", "dataVersion": "", "metadataVersion": "1",
             "data": {"api": "PutBlob", "contentLength": 0, "blobType": "BlockBlob",
                      "url": f"https://{SOURCE_ACCOUNT}.blob.core.windows.net/{RUNS}/{flag}"}}

    for _ in range(2):  # Event Grid delivers at least once: twice here, by hand
        answer = requests.post(rules_app.host.eventgrid_webhook("run_completed"), json=[event],
                               headers={"aeg-event-type": "Notification"}, timeout=60)
        assert answer.status_code in (200, 202), answer.text

    same = [d for d in deliveries_of(rules_app, "smith-miseq")
            if d["instanceId"].startswith(f"delivery-smith-miseq.{run}-")]
    assert [d["instanceId"] for d in same] == [first["instanceId"]]
    assert same[0]["createdTime"] == first["createdTime"]
    assert "rule.already_started" in rules_app.host.logs()


@pytest.mark.parametrize("path", ["MiSeq/{run}/Data/RTAComplete.txt",  # not in a run folder
                                  "NextSeq/{run}/RTAComplete.txt",  # outside the prefix
                                  "MiSeq/{run}/SampleSheet.csv"])  # not a flag
def test_a_blob_no_rule_takes_starts_nothing(rules_app: DeliveryApp, path: str):
    run = f"240103_M001_{uuid.uuid4().hex[:6]}"
    subject = f"/blobServices/default/containers/{RUNS}/blobs/{path.format(run=run)}"
    before = len(deliveries_of(rules_app, "smith-miseq"))
    answer = requests.post(rules_app.host.eventgrid_webhook("run_completed"), json=[{
        "id": str(uuid.uuid4()), "eventType": "Microsoft.Storage.BlobCreated",
        "topic": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/"
                 f"storageAccounts/{SOURCE_ACCOUNT}",
        "subject": subject, "eventTime": "2026-12-06T12:00:00Z", "dataVersion": "",
        "metadataVersion": "1", "data": {}}],
        headers={"aeg-event-type": "Notification"}, timeout=60)
    assert answer.status_code in (200, 202), answer.text  # taken, and ignored
    assert len(deliveries_of(rules_app, "smith-miseq")) == before
    assert subject in rules_app.host.logs()  # logged as ignored


def test_the_rules_command_lists_and_tests_the_rules(rules_app: DeliveryApp):
    common = [str(CLI), "--url", rules_app.host.base_url, "--admin-key",
              rules_app.host.master_key, "rules"]
    listed = subprocess.run([*common, "list"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("smith-miseq: sequencingcore/runs/MiSeq/<run>/")
    tested = subprocess.run([*common, "test", SOURCE_ACCOUNT, RUNS,
                             "MiSeq/240104_M001_0001/RTAComplete.txt"],
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stderr
    assert "delivers to labsmith/incoming/miseq/240104_M001_0001" in tested.stdout
    assert "would start" in tested.stdout
    nothing = subprocess.run([*common, "test", SOURCE_ACCOUNT, RUNS, "MiSeq/x/notes.txt"],
                             capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 1 and "nothing would start" in nothing.stdout


def test_a_bad_rule_stops_the_app_with_the_rule_named(azurite, tmp_path: Path):
    bad = {**rule("https://lims.example.edu/hook"), "name": "bad-rule",
           "sink": {"account": "otherlab", "container": "incoming", "folder": "{run}"}}
    host = DevHostProcess(REPO / "function_app.py", tmp_path, env={
        **azurite.storage_environ(work_account="devstoreaccount1"),
        "DDD_WEBSITE_URL": "https://d4s2.example.org", "DDD_WEBSITE_TOKEN": "x",
        "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT, "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
        "DDD_STANDING_RULES": json.dumps([bad])})
    with pytest.raises(RuntimeError) as stopped:
        host.start()
    assert "DDD_STANDING_RULES: rule 'bad-rule'" in str(stopped.value)
    assert "otherlab" in str(stopped.value)
