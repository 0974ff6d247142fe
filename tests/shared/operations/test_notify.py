"""E-mail to the operators: the real `EmailClient` against the Communication Services stand-in
(send, then operation polling), once per outcome however often the activity runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import shared.operations.notify
import shared.storage.identity
from devhost.email_standin import EmailStandIn
from devhost.standin_http import TlsFiles
from shared.core.config import load_settings
from shared.core.messages import NotifyInput
from shared.operations.notify import notify_operators
from tests.shared.operations.test_secrets import ManagedIdentityStandIn
from tests.shared.website.test_callback import REQUEST

SENDER = "DoNotReply@local.azurecomm.net"


@pytest.fixture
def mail(standin_tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmailStandIn]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(standin_tls.cert_path))
    credential = ManagedIdentityStandIn()
    monkeypatch.setattr(shared.storage.identity, "azure_ad_credential",
                        lambda _settings: credential)
    monkeypatch.setattr(shared.operations.notify, "_clients", {})
    with EmailStandIn(tls=standin_tls, sender=SENDER) as standin:
        yield standin


def mail_settings(core_environ, mail: EmailStandIn, **changes: str):
    return load_settings({**core_environ, "DDD_NOTIFY_EMAIL_ENDPOINT": mail.url,
                          "DDD_NOTIFY_SENDER": SENDER, "DDD_NOTIFY_TO": "ops@example.edu",
                          "WEBSITE_HOSTNAME": "func-ddd-x.azurewebsites.net", **changes})


def ended(phase: str, run_id: str, message: str = "") -> NotifyInput:
    return NotifyInput(request=REQUEST, run_id=run_id, progress={
        "phase": phase, "files_planned": 3, "files_verified": 1, "files_failed": 2,
        "bytes_planned": 30, "bytes_verified": 10, "message": message})


def test_a_failure_is_mailed_once_however_often_the_activity_runs(core_environ, mail) -> None:
    settings = mail_settings(core_environ, mail)
    run_id = f"delivery-4321-{REQUEST.transfer_uuid}"
    failure = ended("failed", run_id, "2 of 3 files were not delivered and verified: x: gone.")
    first = notify_operators(failure, settings)
    again = notify_operators(failure, settings)
    assert (first.status, again.status) == ("sent", "already-sent")
    (message,) = mail.received()
    text = message["content"]["plainText"]
    assert message["content"]["subject"] == "[ddd-transfer] Delivery 4321 failed"
    assert "2 of 3 files were not delivered and verified: x: gone." in text
    assert "Files: 3 planned, 1 verified, 2 failed" in text
    assert f"https://func-ddd-x.azurewebsites.net/api/deliveries/{run_id}" in text
    assert "Source: sequencingcore/deliveries/jdoe/mouse-rnaseq" in text


def test_success_is_mailed_only_when_wanted(core_environ, mail) -> None:
    quiet = notify_operators(ended("delivered", "run-quiet"), mail_settings(core_environ, mail))
    assert quiet.status == "not-wanted" and mail.received() == []
    wanted = mail_settings(core_environ, mail, DDD_NOTIFY_ON_SUCCESS="true")
    assert notify_operators(ended("delivered", "run-loud"), wanted).status == "sent"
    assert mail.received()[0]["content"]["subject"].endswith("was delivered")


def test_a_delivery_whose_receiver_is_the_operators_is_always_mailed(core_environ,
                                                                    mail) -> None:
    told = ended("delivered", "run-operators")
    told = told.model_copy(update={"progress": {**told.progress,
                                                "options": {"told": "operators"}}})
    assert notify_operators(told, mail_settings(core_environ, mail)).status == "sent"
    assert mail.received()[0]["content"]["subject"].endswith("was delivered")


def test_without_an_endpoint_nothing_is_sent(core_environ) -> None:
    outcome = notify_operators(ended("failed", "run-x"), load_settings(core_environ))
    assert outcome.status == "not-configured"


def test_a_refused_send_is_an_outcome_not_an_error(core_environ, mail) -> None:
    settings = mail_settings(core_environ, mail, DDD_NOTIFY_SENDER="someone@else.example")
    outcome = notify_operators(ended("refused", "run-refused"), settings)
    assert outcome.status == "failed" and "HTTP 400" in outcome.detail
    assert mail.received() == []
