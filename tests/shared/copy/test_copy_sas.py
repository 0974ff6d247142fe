"""No usable credential outlives its request: the SAS given for each copy request is short, and
no delivered blob keeps a source SAS in its properties. Bounded requests on the transport."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.copy.chunk import copy_chunk
from shared.core.config import Settings
from shared.core.models import CopyTotals
from shared.plan.planner import build_plan
from shared.storage.aio import EVENT_LOOP, shared_async_clients
from shared.storage.clients import STORAGE_RETRY, StorageClients, shared_clients
from shared.storage.sas import COPY_REQUEST_SAS_LIFETIME
from shared.storage.transport import environment_settings
from tests.conftest import WORK_ACCOUNT
from tests.fault_proxy import FaultProxy
from tests.shared.conftest import BLOCK_SIZE, SMALL_FILE_MAX
from tests.shared.delivery_setup import SINK_ACCOUNT, SOURCE_ACCOUNT, Delivery

FILES = {
    "small_with_md5.txt": (b"small", True),
    "empty.txt": (b"", True),
    "large_with_md5.bin": (os.urandom(SMALL_FILE_MAX + BLOCK_SIZE + 1), True),
    "without_md5.bin": (os.urandom(BLOCK_SIZE + 1), False),
}



def deliver(delivery: Delivery, settings: Settings, *, seed: bool = True) -> CopyTotals:
    if seed:
        for path, (content, with_md5) in FILES.items():
            delivery.seed(path, content, with_md5=with_md5)
    plan = build_plan(delivery.request, delivery.run_id, settings)
    return CopyTotals.of(
        [copy_chunk(ref, delivery.request, settings) for ref in plan.chunk_refs()]
    )


def test_no_delivered_blob_keeps_a_source_sas(delivery: Delivery, proxied: Settings) -> None:
    assert deliver(delivery, proxied).verified_files == len(FILES)
    for path in FILES:
        properties = delivery.sink.get_blob_client(
            delivery.request.sink_path(path)).get_blob_properties()
        assert properties.copy.source is None and properties.copy.status is None, path
        assert "sig=" not in repr(properties.__dict__), path
    for blob in delivery.sink.list_blobs(include=["copy", "metadata"]):
        assert "sig=" not in repr(blob.__dict__), blob.name


def test_each_copy_request_carries_a_sas_for_that_request_only(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    before = datetime.now(UTC)
    deliver(delivery, proxied)
    after = datetime.now(UTC)
    copy_sources = [e.headers["x-ms-copy-source"] for e in proxy.app_exchanges()
                    if e.is_copy_from_url]
    # one for the small file with bytes, one per block of the others (1 MiB blocks)
    assert len(copy_sources) == 1 + 4 + 2
    for copy_source in copy_sources:
        query = parse_qs(urlsplit(copy_source).query)
        assert query["sp"] == ["r"] and query["sr"] == ["b"]
        expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
        assert before < expiry <= after + COPY_REQUEST_SAS_LIFETIME
    # long enough for the request and every SDK retry of it, and no more than a few minutes
    assert STORAGE_RETRY.longest_request() < COPY_REQUEST_SAS_LIFETIME <= timedelta(minutes=10)


def test_requests_are_bounded_and_do_not_read_proxies_from_the_environment(
    delivery: Delivery, proxied: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StorageClients(proxied) as clients:
        sink = clients.sink(SINK_ACCOUNT, delivery.sink.container_name)
        transport = clients.service(SINK_ACCOUNT)._pipeline._transport  # type: ignore[attr-defined]
        assert (transport.connection_config.timeout,
                transport.connection_config.read_timeout) == (20, 60)
        # a proxy setting that appears later is not picked up request by request
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        sink.upload_blob("jdoe/mouse-rnaseq/x.txt", b"x")
        assert sink.get_blob_client("jdoe/mouse-rnaseq/x.txt").download_blob().readall() == b"x"


def test_the_asyncio_clients_are_bounded_and_read_the_environment_once(
    delivery: Delivery, proxied: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the service-checked small files go through the process's aio clients (shared.copy.service)
    clients = shared_async_clients(proxied)

    async def sink_transport() -> object:
        return clients.service(SINK_ACCOUNT)._pipeline._transport  # type: ignore[attr-defined]

    transport = EVENT_LOOP.submit(sink_transport()).result()
    for account in (SOURCE_ACCOUNT, SINK_ACCOUNT, WORK_ACCOUNT):  # and the threads' clients
        shared_clients(proxied).service(account)
    assert clients is shared_async_clients(proxied)  # one per process, reused by every chunk
    assert (transport.connection_config.timeout,  # type: ignore[attr-defined]
            transport.connection_config.read_timeout) == (20, 60)  # type: ignore[attr-defined]
    assert transport.session.trust_env is False  # type: ignore[attr-defined]
    for path, (content, with_md5) in FILES.items():
        delivery.seed(path, content, with_md5=with_md5)
    # a proxy setting that appears later is not picked up request by request
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    totals = deliver(delivery, proxied, seed=False)
    assert totals.verified_files == len(FILES) and totals.failed_files == 0


def test_a_ca_bundle_is_given_to_https_endpoints_only(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    # requests stats a CA bundle on every request it is given to; a plain-http endpoint needs none
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert environment_settings("https://core.blob.core.windows.net").verify == str(bundle)
    assert environment_settings("http://127.0.0.1:10000/devstoreaccount1").verify is True
