"""The `ddd-transfer` console script's dry-run, dry-run-status, summary and share commands
against the app in devhost, as the README shows them: the dry run of a folder planned in the
background (the e2e app answers at most 5 files at once), the website's summary, a share
created and downloaded into a folder by its own script (with the script's flags passed on),
its record, and its revocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import SINK_ACCOUNT, SOURCE_ACCOUNT, DeliveryApp

pytestmark = pytest.mark.slow
CLI = Path(sys.executable).parent / "ddd-transfer"
FILES = {  # seven files: more than the e2e app's DDD_DRY_RUN_INSTANT_FILES
    "SampleSheet.csv": b"[Header]\nIEMFileVersion,5\n" * 20,
    "CopyComplete.txt": b"",
    "InterOp/QMetricsOut.bin": os.urandom(40_000),
    "Data/Intensities/BaseCalls/S1_L001_R1_001.fastq.gz": os.urandom(300_000),
    "Data/Intensities/BaseCalls/S1_L001_R2_001.fastq.gz": (os.urandom(200_000), False),
    "Data/Intensities/s.locs": os.urandom(3_000),
    "Notes/Résumé du run – Müller lab.txt": "Läuft gut.\n".encode(),
}
SEEDED = {path: spec[0] if isinstance(spec, tuple) else spec for path, spec in FILES.items()}
SEEDED_BYTES = sum(len(content) for content in SEEDED.values())


def cli(app: DeliveryApp, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "--url", app.host.base_url, "--key", app.host.function_key,
                           *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def ok(answer: subprocess.CompletedProcess) -> str:
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


def source_flags(folder: str) -> list[str]:
    return ["--source-account", SOURCE_ACCOUNT, "--source-container", "deliveries",
            "--source-folder", folder]


def files_under(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in folder.rglob("*") if path.is_file()}


def test_dry_run_waits_for_the_background_plan_and_summary_counts_the_folder(
        delivery_app: DeliveryApp, tmp_path: Path):
    assert CLI.exists(), "make setup installs the ddd-transfer console script"
    delivery = delivery_app.new_delivery(FILES)
    folder = delivery.payload["Source_TopLevelFolder"]
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(delivery.payload))

    waited = cli(delivery_app, tmp_path, "dry-run", "--json", str(payload), "--wait",
                 "--output", "json")
    answer = json.loads(ok(waited))
    assert "planning in the background" in waited.stderr
    assert answer["runtimeStatus"] == "Completed"
    result = answer["result"]
    assert (result["files"], result["bytes"], result["files_without_md5"]) == \
        (len(SEEDED), SEEDED_BYTES, 1)
    assert result["destination_outlook"]["free"] is True and result["refusal"] is None

    # from flags, not waiting: the id, then its result by dry-run-status
    started = ok(cli(delivery_app, tmp_path, "dry-run", *source_flags(folder),
                     "--sink-account", SINK_ACCOUNT, "--sink-container", "incoming",
                     "--sink-folder", folder, "--delivery-id",
                     str(delivery.payload["Webhook_DeliveryID"]), "--no-wait"))
    run_id = started.split("planning in the background: ")[1].split()[0]
    assert run_id.startswith("dryrun-") and run_id != answer["id"]
    report = ok(cli(delivery_app, tmp_path, "dry-run-status", run_id))
    assert f"files:     {len(SEEDED)} ({SEEDED_BYTES:,} bytes), 1 without a stored MD5" in report
    assert "destination: free" in report
    sink = delivery_app.container(SINK_ACCOUNT, "incoming")
    assert not list(sink.list_blobs(name_starts_with=folder + "/"))  # nothing written there

    counted = json.loads(ok(cli(delivery_app, tmp_path, "summary", *source_flags(folder),
                                "--output", "json")))
    assert (counted["file_count"], counted["total_size"], counted["error_msg"]) == \
        (len(SEEDED), SEEDED_BYTES, None)
    # the netid/project folder's InterOp, Data and Notes are root folders, the rest sub folders
    assert (counted["root_folder_count"], counted["sub_folder_count"]) == (3, 2)
    text = ok(cli(delivery_app, tmp_path, "summary", *source_flags(folder)))
    assert f"{len(SEEDED)} files, {SEEDED_BYTES:,} bytes; 5 folders (3 root, 2 sub)" in text
    missing = cli(delivery_app, tmp_path, "summary", *source_flags(folder + "-missing"))
    assert missing.returncode == 1 and "No project found at" in missing.stderr


def test_share_create_downloads_the_seeded_bytes_and_revoke_ends_its_links(
        delivery_app: DeliveryApp, tmp_path: Path):
    folder = delivery_app.new_delivery(FILES).payload["Source_TopLevelFolder"]
    share = ["share", "create", *source_flags(folder), "--expires-in", "600"]
    target = tmp_path / "download"

    created = ok(cli(delivery_app, tmp_path, *share, "--download-to", str(target)))
    assert files_under(target) == SEEDED  # every file, byte for byte; no .ddd-part left
    assert f"downloaded and verified: {len(SEEDED)} files, {SEEDED_BYTES} bytes" in created
    share_id = created.split()[1].rstrip(":")
    script_url = created.split("script:")[1].split()[0]
    assert share_id.startswith("share-") and "sig=" in script_url

    # the script's flags, passed on: a shortened file is fetched again with --check-size-only
    # and kept with --skip-existing; --dry-run writes nothing
    shortened = target / "InterOp/QMetricsOut.bin"
    shortened.write_bytes(b"partial")
    skipped = ok(cli(delivery_app, tmp_path, *share, "--download-to", str(target),
                     "--skip-existing"))
    assert f"skipped: {len(SEEDED)} files" in skipped and shortened.read_bytes() == b"partial"
    resumed = ok(cli(delivery_app, tmp_path, *share, "--download-to", str(target),
                     "--check-size-only"))
    assert "downloaded and verified: 1 files, 40000 bytes" in resumed
    assert files_under(target) == SEEDED
    planned = ok(cli(delivery_app, tmp_path, *share, "--download-to",
                     str(tmp_path / "planned"), "--dry-run"))
    assert f"would download: {len(SEEDED)} files, {SEEDED_BYTES} bytes" in planned
    assert files_under(tmp_path / "planned") == {}

    record = ok(cli(delivery_app, tmp_path, "share", "status", share_id, "--output", "json"))
    assert "sig=" not in record
    assert json.loads(record)["state"] == "active"
    assert json.loads(record)["files"] == len(SEEDED)

    revoked = ok(cli(delivery_app, tmp_path, "share", "revoke", share_id))
    assert f"revoked {share_id}" in revoked
    assert requests.get(script_url, timeout=30).status_code == 404
    assert f"share {share_id}: revoked" in ok(cli(delivery_app, tmp_path, "share", "status",
                                                  share_id))

    bad_id = cli(delivery_app, tmp_path, "share", "status", "share-nope")
    assert bad_id.returncode == 1 and "HTTP 400" in bad_id.stderr and "id:" in bad_id.stderr
    empty = cli(delivery_app, tmp_path, "share", "create", *source_flags(folder + "-missing"),
                "--expires-in", "600")
    assert empty.returncode == 1 and "Source_TopLevelFolder" in empty.stderr
