"""Storage pieces: SAS minting, redaction, Durable round trips, the Azurite launcher."""

from __future__ import annotations

import base64
import datetime
import hashlib
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.functions._durable_functions import df_dumps, df_loads

import devhost.azurite
from devhost.azurite import AzuriteNotInstalledError, AzuriteServer
from shared.core.config import Settings
from shared.core.models import ChunkRef, ChunkResult, FileFailure, FileResult, Plan
from shared.storage.checksum import md5_base64_to_hex, md5_hex_to_base64
from shared.storage.clients import StorageClients
from shared.storage.errors import describe_error, redact
from shared.storage.sas import COPY_REQUEST_SAS_LIFETIME, SourceSas
from shared.storage.verified_write import BlockWriter
from tests.shared.delivery_setup import SOURCE_ACCOUNT, Delivery


def test_source_sas_reads_one_blob_only_and_expires_soon(
    delivery: Delivery, settings: Settings
) -> None:
    blob_name = delivery.seed("reads/r1.fastq.gz", b"ACGT" * 10)
    delivery.seed("reads/r2.fastq.gz", b"TTTT")
    with StorageClients(settings) as clients:
        sas = SourceSas(clients.service(SOURCE_ACCOUNT), settings)
        url = sas.blob_url(delivery.source.container_name, blob_name)

    assert requests.get(url, timeout=10).content == b"ACGT" * 10
    query = parse_qs(urlsplit(url).query)
    assert query["sp"] == ["r"]  # read only
    assert query["sr"] == ["b"]  # this blob only
    expiry = datetime.datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.UTC)
    assert now < expiry <= now + COPY_REQUEST_SAS_LIFETIME + datetime.timedelta(minutes=1)
    # Writing with it is refused, and it does not open the neighbouring blob.
    assert requests.put(
        url, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10
    ).status_code == 403
    other = url.replace("r1.fastq.gz", "r2.fastq.gz")
    assert requests.get(other, timeout=10).status_code == 403


def test_redact_scrubs_signatures_and_keys() -> None:
    text = (
        "copy of https://a.blob.core.windows.net/c/b?sv=2024&sp=r&sig=abc%2Bdef%3D&se=x failed; "
        "AccountKey=Zm9vYmFy==;BlobEndpoint=x"
    )
    scrubbed = redact(text)
    assert "abc%2Bdef" not in scrubbed and "Zm9vYmFy" not in scrubbed
    assert "sig=REDACTED&se=x" in scrubbed and "AccountKey=REDACTED;" in scrubbed


def test_describe_error_keeps_code_and_drops_signatures() -> None:
    from azure.core.exceptions import HttpResponseError

    error = HttpResponseError(message="failed for https://x/y?sv=1&sig=SECRETSIG\nmore lines")
    described = describe_error(error)
    assert "SECRETSIG" not in described and "more lines" not in described


@pytest.mark.parametrize(
    "model",
    [
        Plan(run_id="delivery-4321-abc", files=3, bytes=10, chunk_count=1),
        Plan(run_id="r1", destination_conflict="Error: The transfer destination directory 'x'"),
        ChunkRef(run_id="r1", index=7),
        ChunkResult(
            index=2, files=3, bytes=30, verified_files=2, verified_bytes=20, failed_files=1,
            failures=[FileFailure(path="a b/ü.txt", reason="the source changed")],
        ),
        FileResult(
            path="a.txt", destination_path="x/a.txt", size=1, content_md5="0" * 32,
            last_modified=datetime.datetime.now(datetime.UTC), etag='"0x1"',
            verification="source-md5+dest-read",
        ),
    ],
)  # fmt: skip
@pytest.mark.parametrize("strict", ["1", ""])
@pytest.mark.filterwarnings("ignore:azure.functions Durable JSON codec:DeprecationWarning")
def test_models_cross_the_durable_boundary(
    model: object, strict: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_FUNCTIONS_DURABLE_STRICT_TYPING", strict)
    assert df_loads(df_dumps(model), expected_type=type(model)) == model


def test_run_ids_must_be_one_safe_path_segment() -> None:
    for bad in ("", "a/b", "../x", "x y", "-x"):
        with pytest.raises(ValueError):
            ChunkRef(run_id=bad, index=0)


def test_the_launcher_says_to_run_make_setup_without_node_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devhost.azurite, "REPO_ROOT", tmp_path)
    with pytest.raises(AzuriteNotInstalledError, match="run make setup"):
        AzuriteServer().start()


def test_the_launcher_serves_several_accounts_each_with_its_key(azurite: AzuriteServer) -> None:
    assert azurite.endpoint_template.format(account="labsmith") == azurite.blob_endpoint("labsmith")
    assert azurite.account_key("devstoreaccount1").startswith("Eby8vdM02xNOcqFl")
    assert azurite.account_key("labsmith") != azurite.account_key("sequencingcore")
    container = f"launcher-{uuid.uuid4().hex[:8]}"
    for account in azurite.accounts:
        service = azurite.blob_service(account)
        service.create_container(container)
        assert container in [item.name for item in service.list_containers()]
        service.delete_container(container)
    assert "BlobEndpoint=" in azurite.connection_string() and "QueueEndpoint=" in (
        azurite.connection_string()
    )


def test_a_blob_only_launcher_starts_and_stops() -> None:
    with AzuriteServer(accounts=["labsmith"], blob_only=True) as server:
        server.blob_service("labsmith").create_container("only-blob")
        location = server.location
        assert server.running
    assert not server.running and not location.exists()


def test_md5_encodings_convert_both_ways() -> None:
    digest = hashlib.md5(b"ACGT").digest()
    md5_hex, md5_base64 = digest.hex(), base64.b64encode(digest).decode()
    assert md5_hex_to_base64(md5_hex) == md5_base64
    assert md5_base64_to_hex(md5_base64) == md5_hex


def test_block_writer_streams_a_document_in_blocks(delivery: Delivery) -> None:
    blob = delivery.sink.get_blob_client("jdoe/mouse-rnaseq/_ddd_transfer/streamed.txt")
    pieces = [f"line {index}\n".encode() for index in range(100)]
    for _attempt in range(2):  # writing the same document again replaces it
        writer = BlockWriter(blob, content_type="text/plain", block_bytes=64)
        for piece in pieces:
            writer.write(piece)
        md5_hex = writer.close()
    content = b"".join(pieces)
    assert blob.download_blob().readall() == content
    assert md5_hex == hashlib.md5(content).hexdigest()
    properties = blob.get_blob_properties()
    assert bytes(properties.content_settings.content_md5).hex() == md5_hex
    assert len(blob.get_block_list("committed")[0]) > 10
