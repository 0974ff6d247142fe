"""The manifest: legacy keys, md5sum -c in the delivered folder, the callback under its limit."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from azure.storage.blob import ContentSettings

from shared.copy.chunk import copy_chunk
from shared.core.config import Settings, load_settings
from shared.core.models import Plan
from shared.plan.planner import build_plan
from shared.storage.verified_write import WriteNotVerifiedError
from shared.website.callback import encode_body, read_callback_body
from shared.website.entries import ManifestError, md5sum_line
from shared.website.manifest import checksum_path, manifest_path, write_manifest
from shared.website.report import report_result
from tests.fault_proxy import Exchange, FaultProxy
from tests.shared.delivery_setup import Delivery
from tests.shared.scripted_website import ScriptedWebsite
from tests.website_summary import project_summary

FILES = {
    "SampleSheet.csv": b"[Header]\nIEMFileVersion,5\n",
    "Data/Intensities/BaseCalls/L001/s_1_1101.bcl.gz": os.urandom(2000),
    "Data/Intensities/BaseCalls/L002/s_2_1101.bcl.gz": os.urandom(3000),
    "Fastq/Sample A_S1_L001_R1_001.fastq.gz": os.urandom(1500),
    "Fastq/Échantillon ß_S2.fastq.gz": os.urandom(700),
    "empty.txt": b"",
}


def deliver(delivery: Delivery, settings: Settings, files: dict[str, bytes]) -> Plan:
    for path, content in files.items():
        delivery.seed(path, content, with_md5=not path.startswith("Data/"))
    plan = build_plan(delivery.request, delivery.run_id, settings)
    for chunk_ref in plan.chunk_refs():
        assert copy_chunk(chunk_ref, delivery.request, settings).failed_files == 0
    return plan


def test_manifest_with_the_websites_legacy_keys(delivery: Delivery, settings: Settings) -> None:
    plan = deliver(delivery, settings, FILES)

    outcome = write_manifest(delivery.request, delivery.run_id, plan.chunk_count, settings)

    assert (outcome.file_count, outcome.total_size) == (len(FILES), plan.bytes)
    # Data, Data/Intensities, .../BaseCalls, .../L001, .../L002, Fastq
    assert outcome.folder_count == 6
    assert (outcome.truncated, outcome.entries_left_out) == (False, 0)
    body = read_callback_body(delivery.run_id, settings)
    assert len(encode_body(body)) == outcome.callback_bytes <= settings.callback_max_bytes
    assert body["transfer_uuid"] == str(delivery.request.transfer_uuid)
    assert body["delivery_id"] == 4321
    entries = body["manifest"]
    assert isinstance(entries, list)
    by_name = {entry["name"]: entry for entry in entries}
    assert len(by_name) == len(FILES) + 6

    for path, content in FILES.items():
        entry = by_name[f"jdoe/mouse-rnaseq/{path}"]
        properties = delivery.sink.get_blob_client(entry["name"]).get_blob_properties()
        assert entry["is_directory"] is False
        assert entry["content_length"] == len(content)
        assert entry["etag"] == properties.etag
        assert entry["last_modified"] == properties.last_modified.isoformat()
        assert entry["content_settings"] == {
            "content_type": "application/octet-stream",
            "content_md5": hashlib.md5(content).hexdigest(),
        }
        assert entry["source_path"] == f"jdoe/mouse-rnaseq/{path}"
        assert entry["destination_path"] == entry["name"]
        assert entry["checksum_algorithm"] == "md5"
        assert entry["verification"] in {
            "source-md5+copy-md5",
            "computed-from-source+block-md5",
        }
    folder = by_name["jdoe/mouse-rnaseq/Data/Intensities"]
    assert folder["is_directory"] is True and folder["content_length"] == 0
    # As the website's project summary reads it: netid/project/dir is a root folder.
    root_folders = [
        entry["name"]
        for entry in entries
        if entry["is_directory"] and len(entry["name"].split("/")) == 3
    ]
    assert sorted(root_folders) == ["jdoe/mouse-rnaseq/Data", "jdoe/mouse-rnaseq/Fastq"]
    summary = project_summary(entries)
    assert (summary.file_count, summary.total_size) == (len(FILES), plan.bytes)
    assert (summary.root_folder_count, summary.sub_folder_count) == (2, 4)

    # The full manifest lies in the delivered folder, with its own Content-MD5.
    manifest_blob = delivery.sink.get_blob_client(manifest_path(delivery.request))
    manifest_bytes = manifest_blob.download_blob().readall()
    full_manifest = json.loads(manifest_bytes)
    assert full_manifest["files"] == entries
    assert full_manifest["summary"]["file_count"] == len(FILES)
    assert full_manifest["summary"]["root_folder_count"] == 2
    assert full_manifest["destination"]["folder"] == "jdoe/mouse-rnaseq"
    stored_md5 = manifest_blob.get_blob_properties().content_settings.content_md5
    assert bytes(stored_md5).hex() == hashlib.md5(manifest_bytes).hexdigest()


def test_md5sum_checks_the_downloaded_delivery(
    delivery: Delivery, settings: Settings, tmp_path: Path
) -> None:
    plan = deliver(delivery, settings, FILES)
    write_manifest(delivery.request, delivery.run_id, plan.chunk_count, settings)

    # Download the delivered folder as a recipient would, manifest folder included.
    prefix = delivery.request.sink_folder + "/"
    for blob in delivery.sink.list_blobs(name_starts_with=prefix):
        local_path = tmp_path / blob.name[len(prefix) :]
        local_path.parent.mkdir(parents=True, exist_ok=True)
        local_path.write_bytes(delivery.sink.get_blob_client(blob.name).download_blob().readall())
    checksum_file = Path(checksum_path(delivery.request)[len(prefix) :])

    checked = subprocess.run(
        ["md5sum", "--check", "--strict", str(checksum_file)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len(FILES)

    # And it does fail when a byte changes.
    (tmp_path / "SampleSheet.csv").write_bytes(b"tampered")
    tampered = subprocess.run(
        ["md5sum", "--check", str(checksum_file)], cwd=tmp_path, capture_output=True, text=True
    )
    assert tampered.returncode != 0 and "SampleSheet.csv: FAILED" in tampered.stdout


def test_md5sum_lines_escape_names_as_gnu_md5sum_does(tmp_path: Path) -> None:
    names = ["plain.txt", "with space ü.txt", "back\\slash.txt", "new\nline.txt", "carriage\rr"]
    lines = []
    for index, name in enumerate(names):
        content = f"content {index}".encode()
        (tmp_path / name).write_bytes(content)
        lines.append(md5sum_line(hashlib.md5(content).hexdigest(), name))
    (tmp_path / "sums.txt").write_text("".join(lines), encoding="utf-8")
    checked = subprocess.run(
        ["md5sum", "--check", "--strict", "sums.txt"], cwd=tmp_path, capture_output=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Our lines are exactly what md5sum itself writes.
    produced = subprocess.run(["md5sum", *names], cwd=tmp_path, capture_output=True, check=True)
    assert produced.stdout.decode("utf-8") == "".join(lines)


def test_no_manifest_when_a_file_failed(delivery: Delivery, settings: Settings) -> None:
    for path in ("a.txt", "b.txt"):
        delivery.seed(path, path.encode())
    plan = build_plan(delivery.request, delivery.run_id, settings)
    delivery.seed("b.txt", b"changed after planning")
    copy_chunk(plan.chunk_refs()[0], delivery.request, settings)
    with pytest.raises(ManifestError, match="b.txt is not delivered and verified"):
        write_manifest(delivery.request, delivery.run_id, plan.chunk_count, settings)


def test_report_posts_the_stored_callback_or_the_error(
    delivery: Delivery, core_environ: dict[str, str], website: ScriptedWebsite
) -> None:
    settings = load_settings({**core_environ, "DDD_WEBSITE_URL": website.url})
    plan = deliver(delivery, settings, {"a.txt": b"a", "sub/b.txt": b"b"})
    write_manifest(delivery.request, delivery.run_id, plan.chunk_count, settings)

    outcome = report_result(delivery.request, delivery.run_id, None, settings)

    assert outcome.status == "recorded"
    (received,) = website.received
    assert received["content"] == encode_body(read_callback_body(delivery.run_id, settings))
    assert [entry["name"] for entry in received["body"]["manifest"]] == [
        "jdoe/mouse-rnaseq/a.txt",
        "jdoe/mouse-rnaseq/sub",
        "jdoe/mouse-rnaseq/sub/b.txt",
    ]

    report_result(delivery.request, delivery.run_id, "2 of 2 files were not delivered", settings)
    assert website.received[1]["body"] == {
        "transfer_uuid": str(delivery.request.transfer_uuid),
        "delivery_id": 4321,
        "error_message": "2 of 2 files were not delivered",
    }


# ----- verified writes of manifest.json and md5sums.txt -----------------------------------------


def is_manifest(exchange: Exchange, *, method: str, comp: str | None = None) -> bool:
    return (exchange.method == method and exchange.blob_name.endswith("_ddd_transfer/manifest.json")
            and exchange.query.get("comp") == comp)


def flip_a_byte(content: bytes) -> bytes:
    return content[:10] + bytes([content[10] ^ 0xFF]) + content[11:]


def test_a_block_corrupted_on_the_way_is_refused_and_sent_again(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    plan = deliver(delivery, proxied, FILES)
    corrupted: list[int] = []

    def corrupt_the_first_block(exchange: Exchange, headers: dict[str, str], body: bytes
                                ) -> tuple[dict[str, str], bytes]:
        if is_manifest(exchange, method="PUT", comp="block") and not corrupted:
            corrupted.append(exchange.seq)
            return headers, flip_a_byte(body)
        return headers, body

    proxy.rewrite_request = corrupt_the_first_block
    write_manifest(delivery.request, delivery.run_id, plan.chunk_count, proxied)

    stages = [e for e in proxy.app_exchanges() if is_manifest(e, method="PUT", comp="block")]
    assert corrupted and stages[0].status == 400  # Md5Mismatch: the block carried its MD5
    assert [e.status for e in stages[1:]] == [201]
    manifest = delivery.sink.get_blob_client(manifest_path(delivery.request))
    assert json.loads(manifest.download_blob().readall())["summary"]["file_count"] == len(FILES)


def test_a_corrupted_read_back_is_read_again(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    plan = deliver(delivery, proxied, FILES)
    corrupted: list[int] = []

    def corrupt_the_first_read(exchange: Exchange, content: bytes) -> bytes:
        if is_manifest(exchange, method="GET") and not corrupted:
            corrupted.append(exchange.seq)
            return flip_a_byte(content)
        return content

    proxy.corrupt = corrupt_the_first_read
    write_manifest(delivery.request, delivery.run_id, plan.chunk_count, proxied)
    assert corrupted
    assert len([e for e in proxy.app_exchanges() if is_manifest(e, method="GET")]) == 2


def test_a_write_that_does_not_read_back_fails(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    plan = deliver(delivery, proxied, FILES)
    proxy.corrupt = lambda exchange, content: (
        flip_a_byte(content) if is_manifest(exchange, method="GET") else content)
    with pytest.raises(WriteNotVerifiedError, match="reads back as"):
        write_manifest(delivery.request, delivery.run_id, plan.chunk_count, proxied)
    assert len([e for e in proxy.app_exchanges() if is_manifest(e, method="GET")]) == 2


def test_a_stored_content_md5_that_differs_fails_the_write(
    delivery: Delivery, proxied: Settings, proxy: FaultProxy
) -> None:
    plan = deliver(delivery, proxied, FILES)

    def another_md5_before_it_is_read_back(exchange: Exchange) -> None:
        if is_manifest(exchange, method="HEAD"):
            blob = delivery.sink.get_blob_client(manifest_path(delivery.request))
            blob.set_http_headers(ContentSettings(content_type="application/json",
                                                  content_md5=bytearray(16)))

    proxy.before_forward.append(another_md5_before_it_is_read_back)
    with pytest.raises(WriteNotVerifiedError, match="Content-MD5 0000000000"):
        write_manifest(delivery.request, delivery.run_id, plan.chunk_count, proxied)
