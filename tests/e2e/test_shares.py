"""Pull-mode shares end to end, on the Azure path: devhost runs the app with no account key at
all, its managed identity served by the local identity endpoint (`devhost.identity_standin`),
against Azurite over HTTPS with OAuth on. Every link is a user delegation SAS that Azurite
checks. The generated script is run for real with bash and curl, in each of its modes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.storage.blob import ContainerClient, ContentSettings

from devhost.azurite import AzuriteServer
from devhost.identity_standin import IdentityStandIn
from devhost.launcher import DevHostProcess

REPO = Path(__file__).resolve().parents[2]
WORK, SOURCE, SINK = "devstoreaccount1", "sequencingcore", "labsmith"
FILES = {
    "SampleSheet.csv": b"[Header]\nIEMFileVersion,5\n" * 20,
    "CopyComplete.txt": b"",
    "Data/Intensities/BaseCalls/Ctrl_1_S1_L001_R1_001.fastq.gz": os.urandom(300_000),
    "Data/Intensities/BaseCalls/Ctrl_1_S1_L001_R2_001.fastq.gz": os.urandom(200_000),
    "Notes/Résumé du run – Müller lab.txt": "Läuft gut.\n".encode(),
}
NO_MD5 = "Data/Intensities/BaseCalls/Ctrl_1_S1_L001_R2_001.fastq.gz"  # hashed by the share


@dataclass
class ShareApp:
    host: DevHostProcess
    azurite: AzuriteServer
    identity: IdentityStandIn

    def source(self) -> ContainerClient:
        container = self.azurite.blob_service(SOURCE).get_container_client("deliveries")
        if not container.exists():
            container.create_container()
        return container

    def seed(self, files: dict[str, bytes]) -> str:
        folder = f"jdoe/project-{uuid.uuid4().hex[:8]}"
        for relative, content in files.items():
            blob = self.source().get_blob_client(f"{folder}/{relative}")
            if relative == NO_MD5:  # in blocks, as big files are: no Content-MD5 stored
                blob.stage_block("b1", content[:100_000])
                blob.stage_block("b2", content[100_000:])
                blob.commit_block_list(["b1", "b2"])
            else:
                blob.upload_blob(content, overwrite=True, content_settings=ContentSettings(
                    content_md5=bytearray(hashlib.md5(content).digest())))
        return folder

    def create(self, folder: str, seconds: int = 600) -> requests.Response:
        return requests.post(f"{self.host.base_url}/api/shares",
                             params={"code": self.host.function_key}, timeout=60,
                             json={"Source_StorageAccount": SOURCE,
                                   "Source_FileSystem": "deliveries",
                                   "Source_TopLevelFolder": folder,
                                   "Share_ExpiresInSeconds": seconds})

    def created(self, folder: str, seconds: int = 600) -> dict:
        answer = self.create(folder, seconds)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def get(self, url: str) -> requests.Response:
        return requests.get(url, verify=str(self.azurite.cert_path), timeout=30)


@pytest.fixture(scope="module")
def share_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShareApp]:
    with AzuriteServer(accounts=[WORK, SOURCE, SINK], blob_only=True, oauth=True,
                       location=tmp_path_factory.mktemp("azurite-shares")) as azurite, \
            IdentityStandIn() as identity:
        settings = {
            "DDD_STORAGE_ENDPOINT_TEMPLATE": azurite.endpoint_template,  # https: no key at all
            "DDD_WORK_ACCOUNT": WORK, "DDD_SOURCE_ACCOUNTS": SOURCE, "DDD_SINK_ACCOUNTS": SINK,
            "DDD_WEBSITE_URL": "http://127.0.0.1:9", "DDD_WEBSITE_TOKEN": "unused-token",
            "DDD_SHARE_MAX_HOURS": "2",
            "REQUESTS_CA_BUNDLE": str(azurite.cert_path),  # trust Azurite's own certificate
            **identity.environ(),
        }
        host = DevHostProcess(REPO / "function_app.py", tmp_path_factory.mktemp("share-host"),
                              env=settings)
        with host:
            yield ShareApp(host, azurite, identity)


def fetch_script(app: ShareApp, script_url: str, into: Path) -> Path:
    """As the recipient does: curl the link, nothing else."""
    script = into / "download.sh"
    subprocess.run(["curl", "--fail", "--silent", "--show-error", "-o", str(script), script_url],
                   check=True, env=recipient_env(app), timeout=60)
    return script


def recipient_env(app: ShareApp) -> dict[str, str]:
    # PATH for bash, curl and md5sum; the CA bundle only because this Azurite's certificate is
    # self-signed (Azure's is publicly trusted)
    return {"PATH": os.environ["PATH"], "CURL_CA_BUNDLE": str(app.azurite.cert_path)}


def run(app: ShareApp, script: Path, target: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), "--data-download-path", str(target), *options],
                          capture_output=True, text=True, env=recipient_env(app), timeout=120)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def sas(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_a_share_downloads_every_file_verified_in_each_mode(share_app: ShareApp,
                                                             tmp_path: Path) -> None:
    folder = share_app.seed(FILES)
    answer = share_app.created(folder)

    # the links: read-only user delegation SAS of the app's identity, expiring with the share
    expires = datetime.fromisoformat(answer["expires"])
    for url in (answer["script_url"], answer["manifest_url"]):
        query = sas(url)
        assert query["skoid"] == share_app.identity.object_id and query["sp"] == "r"
        assert query["sr"] == "b" and query["spr"] == "https"
        assert datetime.fromisoformat(query["se"].replace("Z", "+00:00")) == expires.replace(
            microsecond=0)
    manifest = share_app.get(answer["manifest_url"]).json()
    assert {entry["path"]: entry["content_md5"] for entry in manifest["files"]} == {
        path: hashlib.md5(content).hexdigest() for path, content in FILES.items()}
    assert "sig=" not in json.dumps(manifest)  # the manifest can be passed on: no link in it
    assert answer["share"]["files_hashed"] == 1

    script = fetch_script(share_app, answer["script_url"], tmp_path)
    target = tmp_path / "data"
    target.mkdir()

    # --dry-run: nothing downloaded, nothing created; every file named
    dry = run(share_app, script, target, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert tree(target) == {} and list(target.iterdir()) == []
    assert all(f"would download {path} ({len(content)} bytes)" in dry.stdout
               for path, content in FILES.items())
    basecalls = target / "Data/Intensities/BaseCalls"
    assert dry.stdout.count(f"would create folder {basecalls}\n") == 1  # two files in it

    # --print-summary: the totals, nothing downloaded
    summary = run(share_app, script, target, "--print-summary")
    assert summary.returncode == 0, summary.stderr
    total = sum(len(content) for content in FILES.values())
    assert f"would download: {len(FILES)} files, {total} bytes" in summary.stdout
    assert list(target.iterdir()) == []

    # a real download: every byte, every MD5 checked
    full = run(share_app, script, target)
    assert full.returncode == 0, full.stderr
    assert tree(target) == FILES
    assert full.stdout.count("MD5 verified") == len(FILES)

    # --skip-existing skips what exists, whatever its size; fetches what is missing
    fastq = "Data/Intensities/BaseCalls/Ctrl_1_S1_L001_R1_001.fastq.gz"
    (target / "SampleSheet.csv").unlink()
    (target / NO_MD5).write_bytes(b"X" * len(FILES[NO_MD5]))  # same size, other bytes
    (target / fastq).write_bytes(b"short")  # another size
    skipping = run(share_app, script, target, "--skip-existing")
    assert skipping.returncode == 0, skipping.stderr
    assert "downloaded and verified: 1 files" in skipping.stdout
    assert (target / "SampleSheet.csv").read_bytes() == FILES["SampleSheet.csv"]
    assert (target / fastq).read_bytes() == b"short"
    assert (target / NO_MD5).read_bytes() == b"X" * len(FILES[NO_MD5])

    # --check-size-only skips a file of the right size only: the short one is fetched again
    sizing = run(share_app, script, target, "--check-size-only")
    assert sizing.returncode == 0, sizing.stderr
    assert "downloaded and verified: 1 files" in sizing.stdout
    assert (target / fastq).read_bytes() == FILES[fastq]
    assert (target / NO_MD5).read_bytes() == b"X" * len(FILES[NO_MD5])  # size only: kept

    # with neither, everything is fetched and verified again
    again = run(share_app, script, target)
    assert again.returncode == 0 and tree(target) == FILES


def test_a_corrupted_download_is_detected_and_the_exit_code_is_not_zero(
        share_app: ShareApp, tmp_path: Path) -> None:
    folder = share_app.seed(FILES)
    answer = share_app.created(folder)
    script = fetch_script(share_app, answer["script_url"], tmp_path)
    # the core re-uploads a file after the share was made: same size, other bytes
    changed = "Data/Intensities/BaseCalls/Ctrl_1_S1_L001_R1_001.fastq.gz"
    share_app.source().upload_blob(f"{folder}/{changed}", os.urandom(len(FILES[changed])),
                                   overwrite=True)
    target = tmp_path / "data"
    target.mkdir()

    result = run(share_app, script, target)

    assert result.returncode == 1
    expected_md5 = hashlib.md5(FILES[changed]).hexdigest()
    assert re.search(rf"MISMATCH  {re.escape(changed)}: MD5 [0-9a-f]{{32}}, expected "
                     rf"{expected_md5}", result.stderr)
    assert "FAILED: 1 files did not download or verify" in result.stderr
    # the bad bytes are not left under the file's name; the others arrived verified
    assert tree(target) == {path: content for path, content in FILES.items() if path != changed}


def test_links_past_their_expiry_are_refused_by_storage(share_app: ShareApp,
                                                        tmp_path: Path) -> None:
    folder = share_app.seed({"a.txt": b"alpha\n", "b/b.txt": b"beta\n"})
    answer = share_app.created(folder, seconds=2)
    # the stored script, read with the account key (the test's own access), holds the file links
    stored = share_app.azurite.blob_service(WORK).get_container_client("ddd-transfer-work")
    script_text = stored.download_blob(answer["share"]["script"]["path"]).readall().decode()
    file_links = re.findall(r"\t(https://\S+)$", script_text, re.MULTILINE)
    assert len(file_links) == 2
    expires = datetime.fromisoformat(answer["expires"]).timestamp()
    while time.time() < expires + 1:
        time.sleep(0.2)

    for url in (answer["script_url"], answer["manifest_url"], *file_links):
        refused = share_app.get(url)
        assert refused.status_code == 403, url.split("?")[0]
        assert "AuthenticationFailed" in refused.text or "AuthorizationFailure" in refused.text
    script = tmp_path / "download.sh"
    script.write_text(script_text)
    target = tmp_path / "data"
    target.mkdir()
    result = run(share_app, script, target)
    assert result.returncode == 1 and tree(target) == {}
    assert result.stderr.count("the download was refused or broke off") == 2


def test_a_revoked_share_s_script_and_manifest_links_answer_404(share_app: ShareApp) -> None:
    answer = share_app.created(share_app.seed({"a.txt": b"alpha\n"}))
    assert share_app.get(answer["script_url"]).status_code == 200
    key = {"code": share_app.host.function_key}
    revoked = requests.delete(answer["shareStatusUri"], params=key, timeout=30)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["share"]["state"] == "revoked"
    assert "revoke-delegation-keys --name sequencingcore" in revoked.json()["file_links"]
    assert share_app.get(answer["script_url"]).status_code == 404
    assert share_app.get(answer["manifest_url"]).status_code == 404
    status = requests.get(answer["shareStatusUri"], params=key, timeout=30).json()
    assert status["state"] == "revoked" and status["files"] == 1
    assert "sig=" not in json.dumps(status)


def test_no_link_reaches_devhost_s_log_or_state(share_app: ShareApp) -> None:
    share_app.created(share_app.seed({"a.txt": b"alpha\n"}))
    texts = [share_app.host.logs(), *(path.read_bytes().decode("latin-1") for path in
                                      sorted(share_app.host.state_dir.glob("state.sqlite3*")))]
    for text in texts:
        assert not re.search(r"sig=[A-Za-z0-9%/+]{10,}", text)
    assert share_app.identity.tokens_issued  # the app did authenticate as its identity
