"""Seeding for the core tests: a source and a sink container and the request between them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient, ContentSettings

from shared.core.request import DeliveryRequest

SOURCE_ACCOUNT = "sequencingcore"
SINK_ACCOUNT = "labsmith"


@dataclass
class Delivery:
    """A source and a sink container of their own, and the website's request between them."""

    source: ContainerClient
    sink: ContainerClient
    request: DeliveryRequest
    run_id: str

    def seed(
        self,
        relative_path: str,
        content: bytes,
        *,
        with_md5: bool = True,
        content_type: str = "application/octet-stream",
    ) -> str:
        """Put a file under the source folder; without MD5 it is uploaded in blocks (as azcopy
        does for large files), which leaves no Content-MD5. Returns the blob name."""
        return upload(
            self.source,
            self.request.source_path(relative_path),
            content,
            with_md5=with_md5,
            content_type=content_type,
        )

    def sink_bytes(self, relative_path: str) -> bytes:
        blob = self.sink.get_blob_client(self.request.sink_path(relative_path))
        return blob.download_blob().readall()


def upload(
    container: ContainerClient,
    blob_name: str,
    content: bytes,
    *,
    with_md5: bool = True,
    content_type: str = "application/octet-stream",
) -> str:
    blob = container.get_blob_client(blob_name)
    if with_md5:
        blob.upload_blob(
            content,
            overwrite=True,
            content_settings=ContentSettings(
                content_type=content_type, content_md5=bytearray(hashlib.md5(content).digest())
            ),
        )
        return blob_name
    block_ids = []
    for index, offset in enumerate(range(0, len(content), 512 * 1024)):
        block_ids.append(BlobBlock(f"seed{index:06d}"))
        blob.stage_block(block_ids[-1].id, content[offset : offset + 512 * 1024])
    blob.commit_block_list(block_ids, content_settings=ContentSettings(content_type=content_type))
    assert blob.get_blob_properties().content_settings.content_md5 is None
    return blob_name


def new_container(service: BlobServiceClient, prefix: str) -> ContainerClient:
    container = service.get_container_client(f"{prefix}-{uuid.uuid4().hex[:12]}")
    container.create_container()
    return container


@contextmanager
def fresh_delivery(source_service: BlobServiceClient,
                   sink_service: BlobServiceClient) -> Iterator[Delivery]:
    """Fresh source and sink containers, and the website's request between them."""
    source = new_container(source_service, "deliveries")
    sink = new_container(sink_service, "incoming")
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
    try:
        yield Delivery(source=source, sink=sink, request=request,
                       run_id=f"run-{uuid.uuid4().hex}")
    finally:
        source.delete_container()
        sink.delete_container()

