"""The website client against a real local HTTP server answering as d4s2-contract.md §2 says."""

from __future__ import annotations

import socket
import uuid

import pytest

from shared.core.config import Settings, load_settings
from shared.core.request import DeliveryRequest
from shared.website.callback import (
    TRANSFER_RESULT_PATH,
    WebsiteConfigurationError,
    WebsiteError,
    WebsiteRejectedError,
    WebsiteUnavailableError,
    encode_body,
    post_transfer_result,
    transfer_result_body,
)
from shared.website.report import report_result
from tests.shared.scripted_website import ScriptedWebsite

REQUEST = DeliveryRequest.model_validate(
    {
        "Source_StorageAccount": "sequencingcore",
        "Source_FileSystem": "deliveries",
        "Source_TopLevelFolder": "jdoe/mouse-rnaseq",
        "Sink_StorageAccount": "labsmith",
        "Sink_FileSystem": "incoming",
        "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
        "Webhook_DeliveryID": "4321",
        "Webhook_TransferUUID": str(uuid.uuid4()),
    }
)
MANIFEST_BODY = transfer_result_body(REQUEST, manifest=[{"name": "jdoe/mouse-rnaseq/a.txt"}])


def website_settings(core_environ: dict[str, str], url: str, **changes: str) -> Settings:
    return load_settings({**core_environ, "DDD_WEBSITE_URL": url, **changes})


def test_200_is_recorded_with_the_token_and_the_exact_body(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    settings = website_settings(core_environ, website.url)
    outcome = post_transfer_result(MANIFEST_BODY, settings)
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("recorded", 200, 1)
    (received,) = website.received
    assert received["path"] == TRANSFER_RESULT_PATH
    assert received["headers"]["Authorization"] == "Token test-website-token"
    assert received["headers"]["Content-Type"] == "application/json"
    assert received["content"] == encode_body(MANIFEST_BODY)
    assert received["body"]["delivery_id"] == "4321"  # as the website sent it
    assert received["body"]["transfer_uuid"] == str(REQUEST.transfer_uuid)


def test_500_twice_then_200_is_one_recorded_delivery(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    website.answers = [(500, "Server Error"), (502, "Bad Gateway"), (200, "{}")]
    delays: list[float] = []
    settings = website_settings(core_environ, website.url, DDD_WEBSITE_RETRY_SECONDS="2")
    outcome = post_transfer_result(MANIFEST_BODY, settings, sleep=delays.append)
    assert (outcome.status, outcome.attempts) == ("recorded", 3)
    assert len(website.received) == 3
    assert delays == [2, 4]  # growing


def test_400_not_transferring_means_already_delivered(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    website.answers = [(400, '["Delivery 4321 not in TRANSFERRING state."]')]
    outcome = post_transfer_result(MANIFEST_BODY, website_settings(core_environ, website.url))
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("already-recorded", 400, 1)
    assert "not in TRANSFERRING state" in outcome.website_message


def test_400_unable_to_find_delivery_is_stale_and_not_retried(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    website.answers = [
        (400, '["Unable to find delivery for delivery_id:4321 and transfer_uuid:abc"]')
    ]
    outcome = post_transfer_result(MANIFEST_BODY, website_settings(core_environ, website.url))
    assert (outcome.status, outcome.attempts) == ("stale", 1)
    assert len(website.received) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_configuration_error_without_the_token(
    status: int, website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    website.answers = [(status, '{"detail": "Invalid token."}')]
    with pytest.raises(WebsiteConfigurationError) as raised:
        post_transfer_result(MANIFEST_BODY, website_settings(core_environ, website.url))
    assert "DDD_WEBSITE_TOKEN" in str(raised.value)
    assert "test-website-token" not in str(raised.value)
    assert len(website.received) == 1


def test_another_400_is_rejected_at_once(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    website.answers = [(400, '{"transfer_uuid": ["Must be a valid UUID."]}')]
    with pytest.raises(WebsiteRejectedError, match="Must be a valid UUID"):
        post_transfer_result(MANIFEST_BODY, website_settings(core_environ, website.url))
    assert len(website.received) == 1


def test_always_500_raises_unavailable_after_every_attempt(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    website.answers = [(503, "down for maintenance")]
    settings = website_settings(core_environ, website.url, DDD_WEBSITE_ATTEMPTS="3")
    with pytest.raises(WebsiteUnavailableError, match="after 3 attempts"):
        post_transfer_result(MANIFEST_BODY, settings, sleep=lambda _seconds: None)
    assert len(website.received) == 3


def test_a_refused_connection_is_retried_then_unavailable(core_environ: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings = website_settings(core_environ, f"http://127.0.0.1:{closed_port}")
    delays: list[float] = []
    with pytest.raises(WebsiteUnavailableError, match="ConnectionError") as raised:
        post_transfer_result(MANIFEST_BODY, settings, sleep=delays.append)
    assert len(delays) == settings.website_attempts - 1
    assert "test-website-token" not in str(raised.value)


def test_an_error_body_carries_the_message_and_no_manifest() -> None:
    body = transfer_result_body(REQUEST, error_message="3 of 10 files were not delivered")
    assert body == {
        "transfer_uuid": str(REQUEST.transfer_uuid),
        "delivery_id": "4321",
        "error_message": "3 of 10 files were not delivered",
    }
    with pytest.raises(ValueError):
        transfer_result_body(REQUEST)


def test_an_error_page_echoing_the_token_is_redacted(
    website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    token = core_environ["DDD_WEBSITE_TOKEN"]
    website.answers = [(400, f"Bad request. Headers: Authorization: Token {token}")]
    settings = load_settings({**core_environ, "DDD_WEBSITE_URL": website.url})
    with pytest.raises(WebsiteError) as raised:
        post_transfer_result({"transfer_uuid": "u", "delivery_id": 1}, settings,
                             sleep=lambda _: None)
    assert token not in str(raised.value)
    assert "Token REDACTED" in str(raised.value)


@pytest.mark.parametrize("status", [401, 404, 413, 422])
def test_the_report_returns_a_refusal_as_an_outcome_not_an_error(
    status: int, website: ScriptedWebsite, core_environ: dict[str, str]
) -> None:
    """The orchestrator decides on the outcome's status, never on an error's text."""
    website.answers = [(status, '{"detail": "no"}')]
    outcome = report_result(REQUEST, "run-refused", "2 of 2 files failed",
                            website_settings(core_environ, website.url), sleep=lambda _: None)
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("refused", status, 1)
    assert f"HTTP {status}" in outcome.website_message
    assert "test-website-token" not in outcome.website_message
