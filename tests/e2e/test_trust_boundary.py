"""The trust boundary end to end: storage that refuses the app's identity is one refusal,
reported once and never retried; the start answer hands out no key."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import SINK_ACCOUNT, start_app

WRONG_KEY = "d3Jvbmcga2V5" * 4  # base64, but not the account's key


@pytest.fixture(scope="module")
def refused_sink_app(azurite, tmp_path_factory):
    """The app with a wrong key for the sink account: Azurite answers 403 AuthorizationFailure
    to every request there, as Azure answers an identity that lacks its role."""
    keys = azurite.storage_environ(work_account="devstoreaccount1")["DDD_STORAGE_ACCOUNT_KEYS"]
    wrong = ";".join(f"{SINK_ACCOUNT}:{WRONG_KEY}" if pair.startswith(f"{SINK_ACCOUNT}:")
                     else pair for pair in keys.split(";"))
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-refused-sink"),
                    {"DDD_STORAGE_ACCOUNT_KEYS": wrong})
    yield app
    app.host.stop()
    app.website.stop()


def test_a_403_from_storage_is_one_refusal_reported_once_naming_the_role(refused_sink_app):
    delivery = refused_sink_app.deliver(refused_sink_app.new_delivery({"a.txt": b"a"}))
    posts = refused_sink_app.posts_for(delivery)
    assert len(posts) == 1, posts
    message = posts[0]["body"]["error_message"]
    assert "Storage Blob Data Contributor on 'labsmith'" in message
    assert "HTTP 403" in message
    assert delivery.view["phase"] == "refused"
    history = refused_sink_app.host.status(delivery.instance_id, history=True)["historyEvents"]
    planned = [event for event in history if event.get("EventType") == "TaskScheduled"
               and event.get("Name") == "plan_delivery"]
    assert len(planned) == 1, "the plan must not be retried for a refusal"


def test_the_start_answer_holds_no_key(delivery_app):
    delivery = delivery_app.start(delivery_app.new_delivery({"b.txt": b"b"}))
    answer = delivery.answer
    assert set(answer.json()) == {"id", "deliveryStatusUri"}
    assert answer.headers["Location"] == answer.json()["deliveryStatusUri"]
    shown = answer.text + "".join(f"{name}: {value}\n" for name, value in answer.headers.items())
    for secret in (delivery_app.host.function_key, delivery_app.host.system_key):
        assert secret not in shown
    assert "code=" not in shown and "durabletask" not in shown
    delivery_app.wait(delivery)
    assert delivery.view["runtimeStatus"] == "Completed"
