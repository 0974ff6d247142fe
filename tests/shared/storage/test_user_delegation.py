"""The Azure AD path against a real Azurite: no account keys, bearer tokens, user delegation SAS.

In Azure the app has no account keys: it authenticates with its managed identity
(`shared.storage.identity.azure_ad_credential`) and gives the service a *user delegation* SAS on the
source. Here that path runs against an Azurite of its own, over HTTPS with OAuth on
(`AzuriteServer(oauth=True)`): the app's only stand-in is the token credential, injected where
the app gets its Azure AD credential. Azurite accepts an unsigned JWT with the right audience
and issuer, issues user delegation keys, and checks the SAS signed with them (signature, times,
permissions, protocol). Nothing of the Blob service is mocked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.credentials import AccessToken

import shared.storage.clients
import shared.storage.identity
import shared.storage.sas
from devhost.azurite import AzuriteServer
from devhost.dfs_standin import DfsStandIn
from shared.copy.chunk import copy_chunk
from shared.core.config import USER_DELEGATION_KEY_MAX_MINUTES, Settings, load_settings
from shared.core.models import CopyTotals, FileResult, Plan
from shared.plan.planner import build_plan
from shared.storage.clients import StorageClients
from shared.storage.sas import COPY_REQUEST_SAS_LIFETIME, SAS_CLOCK_SKEW, SourceSas
from shared.storage.work import WorkStore, result_page_name
from tests.conftest import TEST_WEBSITE_TOKEN, WORK_ACCOUNT
from tests.shared.conftest import BLOCK_SIZE, SMALL_FILE_MAX
from tests.shared.delivery_setup import (
    SINK_ACCOUNT,
    SOURCE_ACCOUNT,
    Delivery,
    fresh_delivery,
)

TENANT_ID = str(uuid.uuid4())
OBJECT_ID = str(uuid.uuid4())  # the managed identity's object id
STORAGE_SCOPE = "https://storage.azure.com/.default"


def _b64url(document: dict[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class StubAzureAdCredential:
    """A `TokenCredential` standing in for the managed identity: well-formed, unsigned JWTs as
    Azure AD issues them for Azure Storage (Azurite's `--oauth basic` checks the claims only)."""

    def __init__(self) -> None:
        self.scopes_asked: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_options: Any) -> AccessToken:
        self.scopes_asked.append(scopes)
        now = int(time.time())
        expires_on = now + 3600
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{TENANT_ID}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": expires_on,
            "oid": OBJECT_ID,
            "sub": OBJECT_ID,
            "tid": TENANT_ID,
            "ver": "1.0",
        }
        token = f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}."
        return AccessToken(token, expires_on)


# ----- fixtures: an Azurite of this module, the app's settings without any account key --------
@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    """HTTPS + OAuth Azurite (blob only), separate from the session's plain-HTTP `azurite`."""
    with AzuriteServer(
        accounts=[WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT],
        blob_only=True,
        oauth=True,
        location=tmp_path_factory.mktemp("azurite-oauth"),
    ) as server:
        yield server


@pytest.fixture
def azure_ad(
    oauth_azurite: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> StubAzureAdCredential:
    """The app's Azure AD credential is the stub; its HTTP clients trust Azurite's certificate
    (`requests` reads REQUESTS_CA_BUNDLE when no verify= is given, as the app gives none)."""
    credential = StubAzureAdCredential()
    monkeypatch.setattr(shared.storage.identity, "azure_ad_credential",
                        lambda _settings: credential)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(oauth_azurite.cert_path))
    return credential


@pytest.fixture(scope="module")
def oauth_dfs(oauth_azurite: AzuriteServer) -> Iterator[DfsStandIn]:
    """The Data Lake endpoint of these (flat) accounts, which the app asks for their kind."""
    with DfsStandIn(oauth_azurite, hierarchical=()) as running:
        yield running


@pytest.fixture
def ud_environ(oauth_azurite: AzuriteServer, oauth_dfs: DfsStandIn) -> dict[str, str]:
    """The app's settings for the OAuth Azurite: no DDD_STORAGE_ACCOUNT_KEYS at all, so every
    account (source, sink and the work account) goes through Azure AD."""
    return {
        "DDD_STORAGE_ENDPOINT_TEMPLATE": oauth_azurite.endpoint_template,
        "DDD_DFS_ENDPOINT_TEMPLATE": oauth_dfs.endpoint_template,
        "DDD_WORK_ACCOUNT": WORK_ACCOUNT,
        "DDD_WORK_CONTAINER": "ddd-transfer-work",
        "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT,
        "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
        "DDD_WEBSITE_URL": "http://127.0.0.1:9",
        "DDD_WEBSITE_TOKEN": TEST_WEBSITE_TOKEN,
        "DDD_BLOCK_SIZE_BYTES": str(BLOCK_SIZE),
        "DDD_SMALL_FILE_MAX_BYTES": str(SMALL_FILE_MAX),
        "DDD_COPY_THREADS": "4",
    }


@pytest.fixture
def ud_settings(ud_environ: dict[str, str], azure_ad: StubAzureAdCredential) -> Settings:
    settings = load_settings(ud_environ)
    assert settings.storage_account_keys == {}
    assert settings.account_url(SOURCE_ACCOUNT).startswith("https://127.0.0.1:")
    return settings


@pytest.fixture
def ud_delivery(oauth_azurite: AzuriteServer) -> Iterator[Delivery]:
    """Fresh source and sink containers (seeded and checked with account keys, which Azurite
    still accepts with OAuth on), and the website's request between them."""
    with fresh_delivery(oauth_azurite.blob_service(SOURCE_ACCOUNT),
                        oauth_azurite.blob_service(SINK_ACCOUNT)) as delivery:
        yield delivery


# ----- helpers -------------------------------------------------------------------------------
def sas_query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def sas_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def minted_urls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every source SAS URL the app mints (our own SourceSas, wrapped; nothing else changes)."""
    minted: list[str] = []
    original = SourceSas.blob_url

    def recording_blob_url(self: SourceSas, container: str, blob_name: str) -> str:
        url = original(self, container, blob_name)
        minted.append(url)
        return url

    monkeypatch.setattr(SourceSas, "blob_url", recording_blob_url)
    return minted


def source_sas_url(settings: Settings, delivery: Delivery, blob_name: str,
                   lifetime: timedelta = COPY_REQUEST_SAS_LIFETIME) -> str:
    with StorageClients(settings) as clients:
        sas = SourceSas(clients.service(SOURCE_ACCOUNT), settings, lifetime=lifetime)
        return sas.blob_url(delivery.source.container_name, blob_name)


def get(url: str, azurite: AzuriteServer) -> requests.Response:
    return requests.get(url, verify=str(azurite.cert_path), timeout=10)


# ----- (a) both copy primitives work with a user delegation SAS -------------------------------
def test_a_delivery_with_user_delegation_sas_arrives_verified(
    ud_delivery: Delivery,
    ud_settings: Settings,
    azure_ad: StubAzureAdCredential,
    minted_urls: list[str],
) -> None:
    files = {
        # small with Content-MD5: one synchronous Copy Blob From URL
        "SampleSheet.csv": (b"[Header]\nIEMFileVersion,5\n" * 40, True),
        # no Content-MD5 (uploaded in blocks): Put Block From URL, three blocks
        "Fastq/Échantillon A_S1_R1.fastq.gz": (os.urandom(2 * BLOCK_SIZE + 5), False),
        # above the small-file threshold, with Content-MD5: blocks, checked against it
        "Fastq/big_with_md5.fastq.gz": (os.urandom(SMALL_FILE_MAX + 17), True),
    }
    for path, (content, with_md5) in files.items():
        ud_delivery.seed(path, content, with_md5=with_md5, content_type="application/x-test")

    plan = build_plan(ud_delivery.request, ud_delivery.run_id, ud_settings)
    assert plan.refusal is None and plan.files == len(files) and plan.files_without_md5 == 1
    totals = CopyTotals.of(
        [copy_chunk(ref, ud_delivery.request, ud_settings) for ref in plan.chunk_refs()]
    )

    assert totals.failure_message() is None, totals.failures
    assert totals.verified_files == len(files) and totals.verified_bytes == plan.bytes
    # The app authenticated with Azure AD tokens for storage, never with a key.
    assert azure_ad.scopes_asked and set(azure_ad.scopes_asked) == {(STORAGE_SCOPE,)}
    # Every source SAS was a user delegation SAS, one key for the whole chunk.
    assert len(minted_urls) == 1 + 3 + 3  # one copy, then one SAS per staged block
    queries = [sas_query(url) for url in minted_urls]
    assert all(query["skoid"] == OBJECT_ID and query["sktid"] == TENANT_ID for query in queries)
    assert len({(query["skt"], query["ske"]) for query in queries}) == 1

    results = ud_result_pages(ud_settings, plan)
    for path, (content, with_md5) in files.items():
        expected_md5 = hashlib.md5(content).hexdigest()
        assert ud_delivery.sink_bytes(path) == content, path  # every byte
        properties = ud_delivery.sink.get_blob_client(
            ud_delivery.request.sink_path(path)
        ).get_blob_properties()
        assert bytes(properties.content_settings.content_md5).hex() == expected_md5, path
        assert properties.content_settings.content_type == "application/x-test", path
        result = results[path]
        assert result.verified and result.content_md5 == expected_md5, path
        assert result.size == len(content) and result.etag == properties.etag, path
        expected_verification = (
            "source-md5+copy-md5"
            if with_md5 and len(content) <= SMALL_FILE_MAX
            else "source-md5+block-md5"
            if with_md5
            else "computed-from-source+block-md5"
        )
        assert result.verification == expected_verification, path


def ud_result_pages(settings: Settings, plan: Plan) -> dict[str, FileResult]:
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        return {
            record["path"]: FileResult.model_validate(record)
            for index in range(plan.chunk_count)
            for record in work.read_lines(result_page_name(plan.run_id, index))
        }


# ----- (b) the SAS is a user delegation SAS, read-only, and Azurite checks its signature ------
def test_the_source_sas_is_a_read_only_user_delegation_sas(
    ud_delivery: Delivery, ud_settings: Settings, oauth_azurite: AzuriteServer
) -> None:
    blob_name = ud_delivery.seed("reads/r1.fastq.gz", b"ACGT" * 10)
    ud_delivery.seed("reads/r2.fastq.gz", b"TTTT")
    url = source_sas_url(ud_settings, ud_delivery, blob_name)

    query = sas_query(url)
    assert query["skoid"] == OBJECT_ID and query["sktid"] == TENANT_ID  # signed by our identity
    assert query["sks"] == "b" and query["skv"] and query["skt"] and query["ske"]
    assert query["sp"] == "r" and query["sr"] == "b" and query["spr"] == "https"
    assert url.startswith(ud_settings.account_url(SOURCE_ACCOUNT) + "/")

    assert get(url, oauth_azurite).content == b"ACGT" * 10
    # Refused: another signature, another identity in it, writing, and the neighbouring blob.
    assert get(url.replace("sig=", "sig=A", 1), oauth_azurite).status_code == 403
    other_identity = url.replace(f"skoid={OBJECT_ID}", f"skoid={uuid.uuid4()}")
    assert get(other_identity, oauth_azurite).status_code == 403
    assert requests.put(
        url,
        data=b"x",
        headers={"x-ms-blob-type": "BlockBlob"},
        verify=str(oauth_azurite.cert_path),
        timeout=10,
    ).status_code == 403
    assert get(url.replace("r1.fastq.gz", "r2.fastq.gz"), oauth_azurite).status_code == 403


def test_a_refused_user_delegation_sas_is_a_refusal_without_leaking_it(
    ud_delivery: Delivery, ud_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ud_delivery.seed("a.txt", b"small")
    ud_delivery.seed("b.bin", os.urandom(100), with_md5=False)
    plan = build_plan(ud_delivery.request, ud_delivery.run_id, ud_settings)
    original = SourceSas.blob_url
    monkeypatch.setattr(
        SourceSas,
        "blob_url",
        lambda self, container, blob: original(self, container, blob).replace("sig=", "sig=A"),
    )
    for chunk_ref in plan.chunk_refs():
        # a refusal no retry changes: the unit says so, and the delivery stops
        message = str(copy_chunk(chunk_ref, ud_delivery.request, ud_settings).refusal)
        assert "HTTP 403" in message
        assert "cannotverifycopysource" in message.replace("_", "").lower()
        assert "sig=" not in message and "skoid" not in message


# ----- (c) the SAS lives its lifetime, and its key no longer than Azure allows ----------------
@pytest.mark.parametrize("ttl_minutes", [7, USER_DELEGATION_KEY_MAX_MINUTES])
def test_the_sas_expires_after_the_ttl(
    ud_delivery: Delivery,
    ud_environ: dict[str, str],
    azure_ad: StubAzureAdCredential,
    oauth_azurite: AzuriteServer,
    ttl_minutes: int,
) -> None:
    settings = load_settings(ud_environ)
    blob_name = ud_delivery.seed("ttl.txt", b"short-lived")
    before = datetime.now(UTC).replace(microsecond=0)
    url = source_sas_url(settings, ud_delivery, blob_name, timedelta(minutes=ttl_minutes))
    after = datetime.now(UTC)

    query = sas_query(url)
    ttl = timedelta(minutes=ttl_minutes)
    key_max = timedelta(minutes=USER_DELEGATION_KEY_MAX_MINUTES)
    expiry = sas_time(query["se"])
    assert before + ttl - SAS_CLOCK_SKEW <= expiry <= after + ttl
    if ttl_minutes < USER_DELEGATION_KEY_MAX_MINUTES // 2:
        assert before + ttl <= expiry  # the full TTL
    assert sas_time(query["st"]) <= before
    # Azure refuses a user delegation key that expires more than 7 days from now; the SAS
    # cannot outlive its key.
    key_expiry = sas_time(query["ske"])
    assert expiry <= key_expiry <= after + key_max
    assert sas_time(query["skt"]) <= sas_time(query["st"])
    assert get(url, oauth_azurite).content == b"short-lived"


def test_a_sas_past_its_expiry_is_refused(
    ud_delivery: Delivery,
    ud_settings: Settings,
    oauth_azurite: AzuriteServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Minted by a clock one TTL and a minute behind: the SAS has expired, its key has not."""
    blob_name = ud_delivery.seed("late.txt", b"too late")
    shift = COPY_REQUEST_SAS_LIFETIME + timedelta(minutes=1)

    class LateClock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) - shift

    with monkeypatch.context() as clock:
        clock.setattr(shared.storage.sas, "datetime", LateClock)
        url = source_sas_url(ud_settings, ud_delivery, blob_name)

    query = sas_query(url)
    now = datetime.now(UTC)
    assert sas_time(query["se"]) < now < sas_time(query["ske"])
    assert get(url, oauth_azurite).status_code == 403
