"""The website token from Key Vault: the real `SecretClient` against the Key Vault stand-in
(its 401 challenge, then a bearer token), cached for minutes, read again once when the website
refuses it, so a rotated secret is used without a restart."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken

import shared.operations.secrets
import shared.storage.identity
from devhost.keyvault_standin import AUDIENCE, KeyVaultStandIn
from devhost.standin_http import TlsFiles, issue_token
from devhost.website_standin import WebsiteStandIn
from shared.core.config import Settings, load_settings
from shared.operations.secrets import TOKEN_CACHE_LIFETIME, website_token
from shared.website.callback import WebsiteUnavailableError, post_transfer_result
from shared.website.report import report_result
from tests.shared.website.test_callback import MANIFEST_BODY, REQUEST

SECRET = "d4s2-api-token"


class ManagedIdentityStandIn:
    """A TokenCredential as the managed identity: Entra-shaped tokens for the scope asked."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_options: Any) -> AccessToken:
        self.scopes.extend(scopes)
        token, expires_on = issue_token(scopes[0].removesuffix("/.default"))
        return AccessToken(token, expires_on)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def vault(standin_tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyVaultStandIn]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(standin_tls.cert_path))
    with KeyVaultStandIn(tls=standin_tls) as standin:
        yield standin


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> ManagedIdentityStandIn:
    credential = ManagedIdentityStandIn()
    monkeypatch.setattr(shared.storage.identity, "azure_ad_credential",
                        lambda _settings: credential)
    return credential


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The secret cache's clock, and an empty cache (clients too) for each test."""
    ticking = Clock()
    monkeypatch.setattr(shared.operations.secrets, "_clock", ticking)
    monkeypatch.setattr(shared.operations.secrets, "_values", {})
    monkeypatch.setattr(shared.operations.secrets, "_clients", {})
    return ticking


@pytest.fixture
def site() -> Iterator[WebsiteStandIn]:
    with WebsiteStandIn(token="first-token", accept_any=True) as standin:
        yield standin


def vault_settings(core_environ: dict[str, str], vault: KeyVaultStandIn, website_url: str,
                   **changes: str) -> Settings:
    environ = {**core_environ, "DDD_KEY_VAULT_URL": vault.url, "DDD_WEBSITE_URL": website_url,
               **changes}
    environ.pop("DDD_WEBSITE_TOKEN")
    return load_settings(environ)


def test_the_token_is_read_from_the_vault_once_then_cached_for_minutes(
        core_environ, vault, identity, clock, site) -> None:
    vault.set_secret(SECRET, "first-token")
    settings = vault_settings(core_environ, vault, site.url)
    assert website_token(settings) == "first-token"
    assert identity.scopes == [f"{AUDIENCE}/.default"]  # learned from the vault's challenge
    clock.now += TOKEN_CACHE_LIFETIME.total_seconds() - 1
    assert website_token(settings) == "first-token"
    assert vault.reads_of(SECRET) == 1
    vault.set_secret(SECRET, "second-token")
    clock.now += 2
    assert website_token(settings) == "second-token"
    assert vault.reads_of(SECRET) == 2


def test_the_vault_wins_over_the_setting(core_environ, vault, identity, clock, site) -> None:
    vault.set_secret(SECRET, "from-the-vault")
    settings = load_settings({**core_environ, "DDD_KEY_VAULT_URL": vault.url})
    assert settings.website_token is not None
    assert website_token(settings) == "from-the-vault"


def test_a_401_after_rotation_reads_the_vault_once_and_delivers(
        core_environ, vault, identity, clock, site) -> None:
    vault.set_secret(SECRET, "first-token")
    settings = vault_settings(core_environ, vault, site.url)
    assert website_token(settings) == "first-token"  # cached
    vault.set_secret(SECRET, "second-token")  # rotated: the website takes only the new one
    site.token = "second-token"
    outcome = post_transfer_result(MANIFEST_BODY, settings)
    assert (outcome.status, outcome.attempts) == ("recorded", 1)
    assert [attempt["status"] for attempt in site.attempts] == [401, 200]
    assert vault.reads_of(SECRET) == 2


def test_a_401_with_no_newer_secret_is_refused_after_one_reread(
        core_environ, vault, identity, clock, site) -> None:
    vault.set_secret(SECRET, "stale-token")
    settings = vault_settings(core_environ, vault, site.url)
    outcome = report_result(REQUEST, "run-1", "it failed", settings)
    assert outcome.status == "refused" and outcome.http_status == 401
    assert f"the Key Vault secret '{SECRET}' in {vault.url}" in outcome.website_message
    assert [attempt["status"] for attempt in site.attempts] == [401]
    assert vault.reads_of(SECRET) == 2  # the first read and one re-read, no more
    assert "stale-token" not in outcome.website_message


def test_a_missing_secret_or_a_missing_role_is_refused_naming_what_to_fix(
        core_environ, vault, identity, clock, site) -> None:
    settings = vault_settings(core_environ, vault, site.url)
    outcome = report_result(REQUEST, "run-1", "it failed", settings)
    assert outcome.status == "refused"
    assert f"there is no secret '{SECRET}' in Key Vault" in outcome.website_message
    vault.set_secret(SECRET, "first-token")
    vault.deny = True
    outcome = report_result(REQUEST, "run-1", "it failed", settings)
    assert outcome.status == "refused" and "Key Vault Secrets User" in outcome.website_message
    assert site.attempts == []


def test_an_unreachable_vault_is_tried_again_later(core_environ, identity, clock, site,
                                                   standin_tls, monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    environ = {**core_environ, "DDD_KEY_VAULT_URL": f"https://127.0.0.1:{closed_port}/",
               "DDD_WEBSITE_URL": site.url}
    monkeypatch.setattr("shared.storage.transport.RETRIES", 0)
    with pytest.raises(WebsiteUnavailableError, match="could not be reached"):
        report_result(REQUEST, "run-1", "it failed", load_settings(environ))
