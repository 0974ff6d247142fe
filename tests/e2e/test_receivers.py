"""Who hears an operator's delivery: a webhook gets the website's callback body, `operators`
means nothing is POSTed; the website hears nothing of either. Resend follows the receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.e2e.conftest import DeliveryApp

pytestmark = pytest.mark.slow


class Webhook:
    """A receiver that records every POST and answers 200."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", 0))
                received.append({"authorization": self.headers.get("authorization"),
                                 "body": json.loads(self.rfile.read(length))})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    receiver = Webhook()
    yield receiver
    receiver.server.shutdown()


def test_a_webhook_gets_the_websites_callback_body_and_the_website_nothing(
        choices_app: DeliveryApp, webhook: Webhook):
    delivery = choices_app.new_delivery({"a.txt": b"to the lims"})

    choices_app.wait(choices_app.start_as_operator(delivery, Report_To=webhook.url))

    assert delivery.view["phase"] == "delivered", delivery.view
    assert delivery.view["options"]["told"] == "webhook"
    (post,) = webhook.posts
    assert post["body"]["transfer_uuid"] == delivery.payload["Webhook_TransferUUID"]
    assert [entry["name"] for entry in post["body"]["manifest"]
            if not entry["is_directory"]] == [f"{delivery.payload['Sink_TopLevelFolder']}/a.txt"]
    assert post["authorization"] is None  # no token secret named
    assert choices_app.posts_for(delivery) == []

    resent = requests.post(
        f"{choices_app.host.base_url}/api/deliveries/{delivery.instance_id}/resend",
        params={"code": choices_app.host.master_key}, timeout=30)
    assert resent.status_code == 202, resent.text
    deadline_posts = 2
    for _ in range(300):
        if len(webhook.posts) == deadline_posts:
            break
        threading.Event().wait(0.1)
    assert len(webhook.posts) == 2 and webhook.posts[1]["body"] == post["body"]
    assert choices_app.posts_for(delivery) == []


def test_operators_only_posts_nothing(choices_app: DeliveryApp):
    delivery = choices_app.new_delivery({"a.txt": b"for the archive"})
    website_posts = len(choices_app.website.attempts)

    choices_app.wait(choices_app.start_as_operator(delivery, Report_To="operators"))

    assert delivery.view["phase"] == "delivered", delivery.view
    assert delivery.view["report"]["status"] == "operators-only"
    assert len(choices_app.website.attempts) == website_posts
