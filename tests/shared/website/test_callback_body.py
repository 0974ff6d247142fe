"""The callback's manifest stays a list of path entries at any size, within
DDD_CALLBACK_MAX_BYTES: full entries, else shrunk ones, else the shrunk ones that fit and an
entry for the full manifest file; the website's summary code reads every one of them."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from shared.core.config import load_settings
from shared.core.request import DeliveryRequest
from shared.website.callback import encode_body, read_callback_body, transfer_result_body
from shared.website.entries import (
    CallbackEntries,
    ManifestError,
    manifest_pointer_entry,
    shrunk_entry,
)
from shared.website.manifest import manifest_path, write_manifest
from tests.shared.api.test_request_validation import website_payload
from tests.shared.delivery_setup import Delivery
from tests.shared.website.test_manifest import deliver
from tests.website_summary import project_summary

KIB = 1024
SHRUNK_KEYS = {"name", "is_directory", "content_length", "content_settings"}

REQUEST = DeliveryRequest.model_validate(website_payload(Webhook_TransferUUID=str(uuid.uuid4())))
POINTER = manifest_pointer_entry(
    "jdoe/mouse-rnaseq/_ddd_transfer/manifest.json", 123456, hashlib.md5(b"m").hexdigest()
)


def full_entries(count: int) -> list[dict[str, Any]]:
    """Folder and file entries in the full manifest's shape, names with multi-byte letters."""
    entries: list[dict[str, Any]] = []
    for index in range(count):
        if index % 10 == 0:
            entries.append({"name": f"jdoe/mouse-rnaseq/Échantillon-{index // 10}",
                            "is_directory": True, "content_length": 0, "last_modified": None,
                            "etag": None, "content_settings": None})
            continue
        name = f"jdoe/mouse-rnaseq/Échantillon-{index // 10}/reads ß {index:05d}.fastq.gz"
        entries.append({
            "name": name, "is_directory": False, "content_length": index * 1000,
            "last_modified": "2024-05-01T12:00:00+00:00", "etag": f'"0x8DC{index:012d}"',
            "content_settings": {"content_type": "application/octet-stream",
                                 "content_md5": hashlib.md5(name.encode()).hexdigest()},
            "source_path": name, "destination_path": name,
            "verification": "source-md5+copy-md5", "checksum_algorithm": "md5",
        })
    return entries


def body_bytes(manifest: list[dict[str, Any]]) -> int:
    return len(encode_body(transfer_result_body(REQUEST, manifest=manifest)))


def test_the_callback_degrades_in_order_and_never_exceeds_the_limit() -> None:
    entries = full_entries(150)
    shrunk = [shrunk_entry(entry) for entry in entries]
    full_size, shrunk_size = body_bytes(entries), body_bytes(shrunk)
    assert shrunk_size < full_size
    # every byte over a few entries' worth (each side of where one more entry fits), limits
    # up to past the full size, and each side of the two boundaries exactly
    limits = sorted({*range(4 * KIB, 4 * KIB + 400), *range(4 * KIB, full_size + 2000, 997),
                     full_size, full_size - 1, shrunk_size, shrunk_size - 1})
    seen = set()
    for limit in limits:
        callback_entries = CallbackEntries(limit)
        for entry in entries:
            callback_entries.offer(entry)
        callback = callback_entries.body(REQUEST, POINTER)
        manifest = callback.body["manifest"]

        assert isinstance(manifest, list)
        assert len(encode_body(callback.body)) <= limit, limit
        project_summary(manifest)  # the website's summary code reads it without an error
        if limit >= full_size:
            seen.add("full")
            assert manifest == entries
            assert (callback.entries_shrunk, callback.entries_left_out) == (False, 0)
        elif limit >= shrunk_size:
            seen.add("shrunk")
            assert manifest == shrunk
            assert (callback.entries_shrunk, callback.entries_left_out) == (True, 0)
        else:
            seen.add("dropped")
            kept = len(manifest) - 1
            assert manifest == [*shrunk[:kept], POINTER]
            assert callback.entries_shrunk and callback.entries_left_out == len(entries) - kept
            # as many as fit: one more would not
            assert body_bytes([*shrunk[: kept + 1], POINTER]) > limit
    assert seen == {"full", "shrunk", "dropped"}


def test_a_manifest_over_the_limit_is_sent_shrunk_when_that_fits(
    delivery: Delivery, core_environ: dict[str, str]
) -> None:
    limit = 4 * KIB
    settings = load_settings({**core_environ, "DDD_CALLBACK_MAX_BYTES": str(limit)})
    files = {f"reads/sample_{index:04d}.fastq.gz": b"x" * index for index in range(20)}
    plan = deliver(delivery, settings, files)

    outcome = write_manifest(delivery.request, delivery.run_id, plan.chunk_count, settings)

    full = json.loads(delivery.sink.get_blob_client(manifest_path(delivery.request))
                      .download_blob().readall())
    assert body_bytes(full["files"]) > limit  # the full entries do not fit
    body = read_callback_body(delivery.run_id, settings)
    assert len(encode_body(body)) == outcome.callback_bytes <= limit
    entries = body["manifest"]
    assert entries == [shrunk_entry(entry) for entry in full["files"]]  # none left out
    assert all(set(entry) == SHRUNK_KEYS for entry in entries)
    assert (outcome.truncated, outcome.entries_left_out) == (True, 0)
    summary = project_summary(entries)
    assert (summary.file_count, summary.total_size, summary.root_folder_count) == (
        20, sum(range(20)), 1)


def test_a_larger_manifest_sends_what_fits_and_ends_with_the_full_manifest_file(
    delivery: Delivery, core_environ: dict[str, str]
) -> None:
    limit = 8 * KIB
    settings = load_settings({**core_environ, "DDD_CALLBACK_MAX_BYTES": str(limit)})
    files = {
        f"reads/lane{index % 4}/sample_{index:04d}.fastq.gz": b"x" * index for index in range(120)
    }
    plan = deliver(delivery, settings, files)

    outcome = write_manifest(delivery.request, delivery.run_id, plan.chunk_count, settings)

    body = read_callback_body(delivery.run_id, settings)
    encoded = encode_body(body)
    assert len(encoded) == outcome.callback_bytes <= limit
    entries = body["manifest"]
    assert isinstance(entries, list)
    manifest_blob = delivery.sink.get_blob_client(manifest_path(delivery.request))
    manifest_bytes = manifest_blob.download_blob().readall()
    full = json.loads(manifest_bytes)["files"]
    kept = len(entries) - 1
    # shrunk before any is dropped, in manifest order, as many as fit
    assert 0 < kept < len(full)
    assert entries[:kept] == [shrunk_entry(entry) for entry in full[:kept]]
    assert len(encoded) + len(json.dumps(shrunk_entry(full[kept]))) + 1 > limit
    # the last entry is the full manifest in the delivered folder, as any file entry
    assert entries[-1] == {
        "name": "jdoe/mouse-rnaseq/_ddd_transfer/manifest.json",
        "is_directory": False,
        "content_length": len(manifest_bytes),
        "content_settings": {"content_md5": hashlib.md5(manifest_bytes).hexdigest()},
    }
    assert entries[-1]["content_length"] == manifest_blob.get_blob_properties().size
    assert (outcome.truncated, outcome.entries_left_out) == (True, len(full) - kept)
    summary = project_summary(entries)  # the website's summary code reads it
    assert summary.file_count == sum(not entry["is_directory"] for entry in entries)


def test_a_limit_too_small_for_one_entry_is_a_clear_error() -> None:
    callback_entries = CallbackEntries(200)
    callback_entries.offer(full_entries(2)[1])
    with pytest.raises(ManifestError, match=r"DDD_CALLBACK_MAX_BYTES \(200\) is too small"):
        callback_entries.body(REQUEST, POINTER)
