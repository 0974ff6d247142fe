"""Fixtures of the core tests: small-size settings, fresh containers, a website stand-in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import AzuriteServer
from shared.config import MIB, Settings, load_settings
from shared.models import DeliveryRequest
from tests.core.delivery_setup import SINK_ACCOUNT, SOURCE_ACCOUNT, Delivery, new_container
from tests.core.scripted_website import ScriptedWebsite, running_website

BLOCK_SIZE = MIB  # DDD_BLOCK_SIZE_BYTES in these tests
SMALL_FILE_MAX = 2 * MIB


@pytest.fixture
def core_environ(app_environ: dict[str, str]) -> dict[str, str]:
    """Small sizes so the large-file path runs on small files: 1 MiB blocks, 2 MiB small files."""
    return {
        **app_environ,
        "DDD_BLOCK_SIZE_BYTES": str(BLOCK_SIZE),
        "DDD_SMALL_FILE_MAX_BYTES": str(SMALL_FILE_MAX),
        "DDD_COPY_THREADS": "8",
        "DDD_WEBSITE_RETRY_SECONDS": "0.01",
    }


@pytest.fixture
def settings(core_environ: dict[str, str]) -> Settings:
    return load_settings(core_environ)


@pytest.fixture
def delivery(azurite: AzuriteServer) -> Iterator[Delivery]:
    """Fresh source and sink containers, and the website's request between them."""
    source = new_container(azurite.blob_service(SOURCE_ACCOUNT), "deliveries")
    sink = new_container(azurite.blob_service(SINK_ACCOUNT), "incoming")
    request = DeliveryRequest.model_validate(
        {
            "Source_StorageAccount": SOURCE_ACCOUNT,
            "Source_FileSystem": source.container_name,
            "Source_TopLevelFolder": "jdoe/mouse-rnaseq",
            "Sink_StorageAccount": SINK_ACCOUNT,
            "Sink_FileSystem": sink.container_name,
            "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
            "Webhook_DeliveryID": 4321,
            "Webhook_TransferUUID": str(uuid.uuid4()),
        }
    )
    yield Delivery(source=source, sink=sink, request=request, run_id=f"run-{uuid.uuid4().hex}")
    source.delete_container()
    sink.delete_container()


@pytest.fixture
def website() -> Iterator[ScriptedWebsite]:
    with running_website() as stand_in:
        yield stand_in
