"""The operators' side through devhost: the website token from the Key Vault stand-in."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import WEBSITE_TOKEN

pytestmark = pytest.mark.slow


def test_the_token_comes_from_the_vault_and_a_rotation_needs_no_restart(operator_app):
    vault = operator_app.standins.vault
    reads_before = vault.reads_of("d4s2-api-token")
    first = operator_app.deliver(operator_app.new_delivery({"a.txt": b"first"}))
    assert first.view["phase"] == "delivered", first.view
    assert [a["status"] for a in operator_app.posts_for(first)] == [200]
    assert vault.reads_of("d4s2-api-token") == reads_before + (reads_before == 0)

    # the secret is rotated and the website takes only the new token; the app still holds the
    # old one in its cache, is refused once, reads the vault once more and delivers
    vault.set_secret("d4s2-api-token", "rotated-" + WEBSITE_TOKEN)
    operator_app.website.token = "rotated-" + WEBSITE_TOKEN
    reads_before = vault.reads_of("d4s2-api-token")
    second = operator_app.deliver(operator_app.new_delivery({"b.txt": b"second"}))
    assert second.view["phase"] == "delivered", second.view
    assert [a["status"] for a in operator_app.posts_for(second)] == [401, 200]
    assert vault.reads_of("d4s2-api-token") == reads_before + 1
    operator_app.assert_no_secret_anywhere(second.instance_id)


def test_a_refused_delivery_mails_the_operators_once_with_the_id_and_the_reason(operator_app):
    standins = operator_app.standins
    delivery = operator_app.new_delivery({"a.txt": b"a"})
    folder = delivery.payload["Sink_TopLevelFolder"]
    operator_app.container("labsmith", "incoming").upload_blob(f"{folder}/here.txt", b"x")
    operator_app.deliver(delivery)
    assert delivery.view["phase"] == "refused" and delivery.view["runtimeStatus"] == "Failed"
    (mail,) = standins.mails_about(delivery)
    text = mail["content"]["plainText"]
    assert mail["content"]["subject"] == \
        f"[ddd-transfer] Delivery {delivery.payload['Webhook_DeliveryID']} was refused"
    assert f"The transfer destination directory '{folder}' already exists." in text
    assert f"/api/deliveries/{delivery.instance_id}" in text
    assert f"labsmith/incoming/{folder}" in text
    assert [r["address"] for r in mail["recipients"]["to"]] == \
        ["ops@example.edu", "oncall@example.edu"]
    assert mail["senderAddress"] == "DoNotReply@ddd-local.azurecomm.net"


def test_a_stale_and_a_delivered_outcome_are_mailed_once_each(operator_app):
    standins = operator_app.standins
    stale = operator_app.new_delivery({"s.txt": b"s"})
    operator_app.website.expect(stale.payload["Webhook_DeliveryID"], "a-newer-attempt")
    operator_app.deliver(stale)
    delivered = operator_app.deliver(operator_app.new_delivery({"d.txt": b"d"}))
    assert stale.view["phase"] == "stale" and delivered.view["phase"] == "delivered"
    (stale_mail,) = standins.mails_about(stale)
    assert "went stale" in stale_mail["content"]["subject"]
    (delivered_mail,) = standins.mails_about(delivered)
    assert delivered_mail["content"]["subject"].endswith("was delivered")
    assert "1 planned, 1 verified, 0 failed" in delivered_mail["content"]["plainText"]


@pytest.fixture(scope="module")
def mail_down_app(azurite, operator_standins, tmp_path_factory):
    """The app with an e-mail endpoint where nothing listens."""
    import socket

    from tests.e2e.conftest import start_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = {**operator_standins.settings(), "DDD_KEY_VAULT_URL": "",
                "DDD_WEBSITE_TOKEN": WEBSITE_TOKEN,
                "DDD_NOTIFY_EMAIL_ENDPOINT": f"https://127.0.0.1:{closed}"}
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-mail-down"), settings)
    yield app
    app.host.stop()
    app.website.stop()


def test_a_delivery_whose_mail_cannot_be_sent_still_reports_to_the_website(mail_down_app):
    delivered = mail_down_app.deliver(mail_down_app.new_delivery({"ok.txt": b"ok"}))
    assert delivered.view["phase"] == "delivered" and delivered.view["runtimeStatus"] == \
        "Completed"
    assert [p["status"] for p in mail_down_app.posts_for(delivered)] == [200]
    refused = mail_down_app.new_delivery({"a.txt": b"a"})
    folder = refused.payload["Sink_TopLevelFolder"]
    mail_down_app.container("labsmith", "incoming").upload_blob(f"{folder}/here.txt", b"x")
    mail_down_app.deliver(refused)
    assert refused.view["phase"] == "refused"
    assert "already exists" in mail_down_app.posts_for(refused)[0]["body"]["error_message"]
    assert "notification" in mail_down_app.host.logs()


def test_devhost_refuses_to_start_the_app_with_settings_it_cannot_run_with(azurite, tmp_path):
    """As the host does when the worker cannot index the app, naming every bad setting, not at
    the first delivery."""
    from devhost.launcher import DevHostProcess
    from tests.e2e.conftest import E2E_SETTINGS, REPO

    settings = {**azurite.storage_environ(work_account="devstoreaccount1"), **E2E_SETTINGS,
                "DDD_WEBSITE_URL": "", "DDD_WEBSITE_TOKEN": "", "DDD_KEY_VAULT_URL": "",
                "DDD_NOTIFY_TO": "ops@example.edu"}
    host = DevHostProcess(REPO / "function_app.py", tmp_path, env=settings)
    try:
        with pytest.raises(RuntimeError, match="devhost exited at start") as refused:
            host.start()
    finally:
        host.stop()
    for expected in ("Worker failed to index functions", "DDD_WEBSITE_URL: is required",
                     "DDD_WEBSITE_TOKEN: is required",
                     "DDD_NOTIFY_EMAIL_ENDPOINT, DDD_NOTIFY_SENDER: required"):
        assert expected in str(refused.value)


def test_every_activity_logs_a_structured_line_with_its_ids_and_counts(operator_app):
    import json

    delivery = operator_app.deliver(operator_app.new_delivery({"t.txt": b"telemetry"}))
    lines = [line.split("ddd.", 1)[1] for line in operator_app.host.logs().splitlines()
             if delivery.instance_id in line and " ddd." in line]
    events = [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1])) for line in lines]
    activities = {fields["activity"]: fields for event, fields in events if event == "activity"}
    assert {"plan_delivery", "copy_chunk", "write_manifest", "report_to_website",
            "notify_operators_activity"} <= set(activities)
    copied = activities["copy_chunk"]
    assert copied["phase"] == "copying" and copied["outcome"] == "done"
    assert copied["delivery_id"] == delivery.payload["Webhook_DeliveryID"]
    assert copied["verified_files"] == 1 and copied["chunk"] == 0
    assert activities["plan_delivery"]["files"] == 1
    (outcome,) = [fields for event, fields in events if event == "delivery.outcome"]
    assert outcome["phase"] == "delivered" and outcome["files_verified"] == 1
