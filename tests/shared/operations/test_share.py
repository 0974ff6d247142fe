"""Shares against Azurite (account-key links here; the user delegation path is end to end in
tests/e2e/test_shares.py): what is stored, what is refused, revocation."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.core.config import MIB, Settings
from shared.core.deadline import Deadline, DeadlinePassed
from shared.core.request import ShareRequest
from shared.operations.share import (
    ShareRefused,
    create_share,
    out_of_time,
    read_share,
    revoke_share,
)
from shared.operations.share_script import ScriptFile, render_script, unshareable_path
from shared.storage.clients import StorageClients
from shared.storage.work import WorkStore
from tests.fault_proxy import Exchange, FaultProxy
from tests.shared.delivery_setup import SOURCE_ACCOUNT, Delivery


def share_request(delivery: Delivery, seconds: int = 3600, **changes: str) -> ShareRequest:
    return ShareRequest.model_validate({
        "Source_StorageAccount": delivery.request.source_account,
        "Source_FileSystem": delivery.source.container_name,
        "Source_TopLevelFolder": delivery.request.source_folder,
        "Share_ExpiresInSeconds": seconds, **changes})


def stored(settings: Settings, path: str) -> bytes:
    with StorageClients(settings) as clients:
        return WorkStore(clients).container.download_blob(path).readall()


def test_a_share_stores_its_script_manifest_and_record_without_a_link_outside_the_script(
        delivery: Delivery, settings: Settings) -> None:
    files = {"a.txt": (b"alpha\n", True), "deep/b.bin": (b"b" * 5000, False),
             "empty.txt": (b"", False)}
    for path, (content, with_md5) in files.items():
        delivery.seed(path, content, with_md5=with_md5)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    created = create_share(share_request(delivery, seconds=7200), settings, now=now)

    record = created.share
    assert (record.files, record.bytes, record.files_hashed) == (3, 5006, 2)
    assert record.expires == datetime(2030, 1, 2, 5, 4, 5, tzinfo=UTC)
    assert record.signed_with == "account-key" and record.state == "active"
    manifest = json.loads(stored(settings, record.manifest.path))
    assert {entry["path"]: entry["content_md5"] for entry in manifest["files"]} == {
        path: hashlib.md5(content).hexdigest() for path, (content, _) in files.items()}
    script = stored(settings, record.script.path).decode()
    assert script.count("sig=") == 3 and "se=2030-01-02T05%3A04%3A05Z" in script
    share_json = stored(settings, f"shares/{record.id}/share.json").decode()
    for text in (json.dumps(manifest), share_json):
        assert "sig=" not in text
    assert read_share(record.id, settings) == record


def test_a_share_refuses_what_it_cannot_carry(delivery: Delivery, settings: Settings) -> None:
    with pytest.raises(ShareRefused) as empty:
        create_share(share_request(delivery), settings)
    assert (empty.value.status, empty.value.field) == (404, "Source_TopLevelFolder")

    with pytest.raises(ShareRefused) as no_container:
        create_share(share_request(delivery, Source_FileSystem="no-such-container"), settings)
    assert (no_container.value.status, no_container.value.field) == (404, "Source_FileSystem")

    for index in range(3):
        delivery.seed(f"f{index}.txt", b"x")
    with pytest.raises(ShareRefused) as too_many:
        create_share(share_request(delivery), settings.model_copy(
            update={"share_max_files": 2}))
    assert too_many.value.status == 400 and "more than 2 files" in too_many.value.message

    delivery.seed("big.bin", b"y" * 4000, with_md5=False)
    with pytest.raises(ShareRefused) as unhashed:
        create_share(share_request(delivery), settings.model_copy(
            update={"share_hash_max_bytes": 3999}))
    assert unhashed.value.status == 409 and "4,000 bytes" in unhashed.value.message

    delivery.source.upload_blob(delivery.request.source_path("bad\tname.txt"), b"z")
    with pytest.raises(ShareRefused) as bad_name:
        create_share(share_request(delivery), settings)
    assert bad_name.value.status == 409 and "control character" in bad_name.value.message


def test_revoking_deletes_the_script_and_manifest_and_is_recorded_once(
        delivery: Delivery, settings: Settings) -> None:
    delivery.seed("a.txt", b"alpha")
    record = create_share(share_request(delivery), settings).share
    first = revoke_share(record.id, settings)
    assert first is not None and first.state == "revoked" and first.revoked is not None
    with StorageClients(settings) as clients:
        work = WorkStore(clients).container
        assert not work.get_blob_client(record.script.path).exists()
        assert not work.get_blob_client(record.manifest.path).exists()
    again = revoke_share(record.id, settings)
    assert again == first  # the same record: revoking twice changes nothing
    assert revoke_share("share-" + "0" * 32, settings) is None


def test_every_share_created_or_revoked_leaves_a_log_line_naming_it(
        delivery: Delivery, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    delivery.seed("a.txt", b"alpha")
    caplog.set_level(logging.INFO, logger="ddd")
    record = create_share(share_request(delivery), settings).share
    revoke_share(record.id, settings)
    revoke_share(record.id, settings)  # once revoked, no second line
    lines = [json.loads(r.getMessage().split(" ", 1)[1]) | {"event": r.getMessage().split()[0]}
             for r in caplog.records if r.getMessage().startswith("ddd.share.")]
    assert [line["event"] for line in lines] == ["ddd.share.created", "ddd.share.revoked"]
    request = delivery.request
    source = f"{SOURCE_ACCOUNT}/{request.source_container}/{request.source_folder}"
    for line in lines:
        assert line["share_id"] == record.id and line["source"] == source
        assert line["expires"] == record.expires.isoformat()
    assert "sig=" not in caplog.text


@pytest.mark.parametrize("path", ["a\nb", "a\tb", "/abs", "a//b", "./a", "a/../../etc/passwd",
                                  "a/..", "x\x7f"])
def test_paths_a_script_cannot_carry_safely_are_refused(path: str) -> None:
    assert unshareable_path(path) is not None
    with pytest.raises(ValueError):
        render_script("share-1", "a/b/c", datetime.now(UTC),
                      [ScriptFile("0" * 32, 1, path, "https://h/a?sig=x")])


def test_ordinary_names_are_carried_as_they_are() -> None:
    names = ["Résumé du run – Müller lab.txt", "a b/c'd\"e$f`g.txt", "-leading-dash"]
    script = render_script("share-1", "acct/c/it's", datetime(2030, 1, 1, tzinfo=UTC),
                           [ScriptFile("0" * 32, 1, name, "https://h/a%20b?sig=x")
                            for name in names])
    for name in names:
        assert unshareable_path(name) is None and f"\t{name}\t" in script
    assert "share_source='acct/c/it'\"'\"'s'" in script


def test_the_script_downloads_awkward_names_exactly(delivery: Delivery, settings: Settings,
                                                     tmp_path: Path) -> None:
    files = {"a b/c'd\"e$f`g.txt": b"quotes\n", "-leading-dash": b"dash\n",
             "Résumé du run – Müller lab.txt": "ü\n".encode(), "x/y/z/deep.bin": b"d" * 3000,
             "glob*[x]?.txt": b"glob\n"}
    for path, content in files.items():
        delivery.seed(path, content)
    record = create_share(share_request(delivery), settings).share
    script = tmp_path / "download.sh"
    script.write_bytes(stored(settings, record.script.path))
    target = tmp_path / "data"
    target.mkdir()
    result = subprocess.run(["bash", str(script), "--data-download-path", str(target)],
                            capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert {str(p.relative_to(target)): p.read_bytes()
            for p in target.rglob("*") if p.is_file()} == files


def share_names(settings: Settings) -> set[str]:
    with StorageClients(settings) as clients:
        return {blob.name for blob in
                WorkStore(clients).container.list_blobs(name_starts_with="shares/")}


def test_a_share_past_its_deadline_stops_hashing_and_keeps_nothing(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    big = delivery.seed("big.bin", os.urandom(20 * MIB), with_md5=False)  # three reads of 8 MiB
    delivery.seed("a.txt", b"alpha\n")
    before = share_names(proxied)
    deadline = Deadline(60)

    def reads_big(exchange: Exchange) -> bool:
        return exchange.method == "GET" and exchange.blob_name == big

    # the deadline passes while the first piece of the file is read
    proxy.before_forward.append(lambda exchange: deadline.stop() if reads_big(exchange) else None)

    with pytest.raises(DeadlinePassed):
        create_share(share_request(delivery), proxied, deadline=deadline)

    assert len([exchange for exchange in proxy.exchanges if reads_big(exchange)]) == 1
    assert share_names(proxied) == before
    refused = out_of_time(share_request(delivery), 45)
    assert (refused.status, refused.field) == (422, "Source_TopLevelFolder")
    assert "45 s" in refused.message and "DDD_HTTP_DEADLINE_SECONDS" in refused.message
    assert "azcopy --put-md5" in refused.message  # what to do instead


def test_a_share_stopped_while_it_is_written_removes_what_it_wrote(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    delivery.seed("a.txt", b"alpha\n")
    before = share_names(proxied)
    deadline = Deadline(60)
    manifest_writes: list[Exchange] = []

    def stop_at_the_manifest(exchange: Exchange) -> None:
        if exchange.method == "PUT" and exchange.blob_name.endswith("/manifest.json"):
            manifest_writes.append(exchange)
            deadline.stop()

    proxy.before_forward.append(stop_at_the_manifest)

    with pytest.raises(DeadlinePassed):
        create_share(share_request(delivery), proxied, deadline=deadline)

    assert manifest_writes  # stopped after the script and the manifest were written
    assert share_names(proxied) == before  # both removed again, and no record


def test_a_share_within_its_deadline_is_made(delivery: Delivery, settings: Settings) -> None:
    delivery.seed("big.bin", os.urandom(MIB), with_md5=False)
    created = create_share(share_request(delivery), settings, deadline=Deadline(60))
    assert (created.share.files, created.share.files_hashed) == (1, 1)
    assert read_share(created.share.id, settings) == created.share


def test_a_share_started_past_its_deadline_asks_storage_nothing(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    delivery.seed("a.txt", b"alpha\n")
    stopped = Deadline(60)
    stopped.stop()  # as when its thread got to run only after the caller had answered
    proxy.reset_counts()
    with pytest.raises(DeadlinePassed):
        create_share(share_request(delivery), proxied, deadline=stopped)
    assert proxy.app_exchanges() == []
