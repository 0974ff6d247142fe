"""End-to-end fixtures: the real app in devhost, over HTTP, against Azurite and a website
stand-in, as the website itself would call it."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from azure.storage.blob import ContainerClient, ContentSettings

from devhost.dfs_standin import DfsStandIn
from devhost.email_standin import EmailStandIn
from devhost.keyvault_standin import KeyVaultStandIn
from devhost.launcher import DevHostProcess
from devhost.website_standin import WebsiteStandIn

REPO = Path(__file__).resolve().parents[2]
SOURCE_ACCOUNT, SINK_ACCOUNT = "sequencingcore", "labsmith"
WEBSITE_TOKEN = "e2e-website-token"
KIB, MIB = 1024, 1024 * 1024

# small sizes so that the block path, chunking and waves all happen with small test data
E2E_SETTINGS = {
    "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT,
    "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
    "DDD_BLOCK_SIZE_BYTES": str(256 * KIB),
    "DDD_SMALL_FILE_MAX_BYTES": str(256 * KIB),
    "DDD_CHUNK_MAX_FILES": "100",
    "DDD_PARALLEL_CHUNKS": "2",
    "DDD_COPY_THREADS": "8",
    "DDD_WEBSITE_RETRY_SECONDS": "0.05",
    "DDD_WEBSITE_ATTEMPTS": "4",
    "DDD_DRY_RUN_INSTANT_FILES": "5",
}
# read access granted on folders delivered into labsmith/granted (a user and a group)
GRANTED_CONTAINER = "granted"
READER_USER = "0b1e2c3d-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
READER_GROUP = "7c6d5e4f-3a2b-4c1d-9e8f-7a6b5c4d3e2f"
READERS_SETTINGS = {"DDD_DELIVERED_FOLDER_READERS":
                    f"{SINK_ACCOUNT}/{GRANTED_CONTAINER}=user:{READER_USER},group:{READER_GROUP}"}


@dataclass
class Delivery:
    """One delivery: what was seeded, the payload sent, and what came back."""

    payload: dict
    seeded: dict[str, bytes] = field(default_factory=dict)
    instance_id: str | None = None
    answer: requests.Response | None = None
    view: dict | None = None


class DeliveryApp:
    """The app in a devhost child process, plus the stand-in website it reports to. Its storage
    is Azurite itself (flat accounts) or the Data Lake stand-in in front of it (ADLS Gen2)."""

    def __init__(self, host: DevHostProcess, website: WebsiteStandIn, azurite,
                 dfs: DfsStandIn | None = None):
        self.host = host
        self.website = website
        self.azurite = azurite
        self.dfs = dfs
        self.kind = "hierarchical" if dfs is not None else "flat"
        self.standins: OperatorStandIns | None = None

    def container(self, account: str, name: str) -> ContainerClient:
        storage = self.dfs if self.dfs is not None else self.azurite
        client = storage.blob_service(account).get_container_client(name)
        if not client.exists():
            client.create_container()
        return client

    def new_delivery(self, files: dict[str, bytes | tuple[bytes, bool]], *,
                     delivery_id=None, folder: str | None = None,
                     sink_container: str = "incoming") -> Delivery:
        """Seed files (relative path -> bytes, or (bytes, with_md5)) in a fresh folder."""
        tag = uuid.uuid4().hex[:10]
        folder = folder or f"netid{tag[:4]}/project-{tag}"
        source = self.container(SOURCE_ACCOUNT, "deliveries")
        self.container(SINK_ACCOUNT, sink_container)
        delivery = Delivery(payload={
            "Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": "deliveries",
            "Source_TopLevelFolder": folder,
            "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": sink_container,
            "Sink_TopLevelFolder": folder,
            "Webhook_DeliveryID": delivery_id if delivery_id is not None else int(tag[:6], 16),
            "Webhook_TransferUUID": str(uuid.uuid4()),
        })
        for relative, spec in files.items():
            content, with_md5 = spec if isinstance(spec, tuple) else (spec, True)
            upload(source, f"{folder}/{relative}", content, with_md5)
            delivery.seeded[relative] = content
        self.website.expect(delivery.payload["Webhook_DeliveryID"],
                            delivery.payload["Webhook_TransferUUID"])
        return delivery

    def make_folder(self, account: str, container: str, path: str) -> None:
        """An empty folder: a directory on ADLS Gen2, a directory marker blob (as AzCopy and
        the other ADLS tools leave one, metadata hdi_isfolder=true) on flat storage."""
        if self.dfs is not None:
            self.dfs.datalake_service(account).get_file_system_client(container) \
                .create_directory(path)
        else:
            self.container(account, container).upload_blob(
                path, b"", metadata={"hdi_isfolder": "true"}, overwrite=True)

    def retry_of(self, delivery: Delivery) -> Delivery:
        """The website's retry of a delivery: same payload, a new transfer UUID."""
        retry = Delivery(payload={**delivery.payload, "Webhook_TransferUUID": str(uuid.uuid4())},
                         seeded=delivery.seeded)
        self.website.expect(retry.payload["Webhook_DeliveryID"],
                            retry.payload["Webhook_TransferUUID"])
        return retry

    def post(self, payload, headers: dict[str, str] | None = None,
             **kwargs) -> requests.Response:
        return requests.post(f"{self.host.base_url}/api/deliveries",
                             params={"code": self.host.function_key}, json=payload,
                             headers={"user-agent": "duke-data-delivery/2.0.0", **(headers or {})},
                             timeout=60, **kwargs)

    def status(self, instance_id: str) -> dict:
        answer = requests.get(f"{self.host.base_url}/api/deliveries/{instance_id}",
                              params={"code": self.host.function_key}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def start(self, delivery: Delivery) -> Delivery:
        delivery.answer = self.post(delivery.payload)
        assert delivery.answer.status_code == 202, delivery.answer.text
        delivery.instance_id = delivery.answer.json()["id"]
        return delivery

    def start_as_operator(self, delivery: Delivery, **choices) -> Delivery:
        """An operator's start (the master key) with choices such as Conflict_Policy."""
        delivery.payload = {**delivery.payload, **choices}
        delivery.answer = requests.post(f"{self.host.base_url}/api/operator/deliveries",
                                        params={"code": self.host.master_key},
                                        json=delivery.payload, timeout=60)
        assert delivery.answer.status_code == 202, delivery.answer.text
        delivery.instance_id = delivery.answer.json()["id"]
        return delivery

    def wait(self, delivery: Delivery, timeout: float = 180) -> Delivery:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.status(delivery.instance_id)
            if view["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                delivery.view = view
                return delivery
            time.sleep(0.2)
        raise TimeoutError(f"{delivery.instance_id}: {self.host.logs()[-4000:]}")

    def deliver(self, delivery: Delivery, timeout: float = 180) -> Delivery:
        return self.wait(self.start(delivery), timeout)

    def posts_for(self, delivery: Delivery) -> list[dict]:
        uuid_sent = delivery.payload["Webhook_TransferUUID"]
        return [a for a in self.website.attempts
                if isinstance(a["body"], dict) and a["body"].get("transfer_uuid") == uuid_sent]

    def assert_no_secret_anywhere(self, instance_id: str) -> None:
        """No SAS signature, account key or website token in the instance's status (with the
        last generation's history and outputs), devhost's log of every episode and activity,
        or devhost's raw state (instances, history, inbox, work items)."""
        status = self.host.status(instance_id, history=True)
        state_files = sorted(self.host.state_dir.glob("state.sqlite3*"))
        assert status and state_files
        texts = [json.dumps(status), self.host.logs(),
                 *(path.read_bytes().decode("latin-1") for path in state_files)]
        secrets = [self.azurite.account_key(a) for a in self.azurite.accounts]
        secrets.append(self.website.token)
        for text in texts:
            assert not re.search(r"sig=[A-Za-z0-9%/+]{10,}", text)
            for secret in secrets:
                assert secret not in text

    def instance_count(self) -> int:
        """Every instance, page after page (the Durable API pages by 100)."""
        count, token = 0, ""
        while True:
            answer = requests.get(self.host.webhook("instances"),
                                  params={"code": self.host.system_key},
                                  headers={"x-ms-continuation-token": token}, timeout=30)
            page = answer.json()
            assert answer.status_code == 200 and isinstance(page, list), answer.text[:300]
            count += len(page)
            token = answer.headers.get("x-ms-continuation-token", "")
            if not token:
                return count


def upload(container: ContainerClient, name: str, content: bytes, with_md5: bool = True) -> None:
    if with_md5:
        container.upload_blob(name, content, overwrite=True, content_settings=ContentSettings(
            content_type="application/octet-stream",
            content_md5=bytearray(hashlib.md5(content).digest())))
        return
    # uploaded in blocks, as big files are: the service stores no Content-MD5
    blob = container.get_blob_client(name)
    block_ids = []
    for number, offset in enumerate(range(0, max(len(content), 1), 4 * MIB)):
        block_id = f"{number:06d}"
        blob.stage_block(block_id, content[offset:offset + 4 * MIB])
        block_ids.append(block_id)
    blob.commit_block_list(block_ids)
    assert blob.get_blob_properties().content_settings.content_md5 is None


def start_app(azurite, tmp_path: Path, extra: dict[str, str] | None = None,
              dfs: DfsStandIn | None = None):
    website = WebsiteStandIn(token=WEBSITE_TOKEN).start()
    settings = {**azurite.storage_environ(work_account="devstoreaccount1"),
                "DDD_WEBSITE_URL": website.url, "DDD_WEBSITE_TOKEN": WEBSITE_TOKEN,
                **E2E_SETTINGS, **(extra or {})}
    if dfs is not None:  # every account through the stand-in: both endpoints, one port
        settings["DDD_STORAGE_ENDPOINT_TEMPLATE"] = dfs.endpoint_template
        settings["DDD_DFS_ENDPOINT_TEMPLATE"] = dfs.endpoint_template
    host = DevHostProcess(REPO / "function_app.py", tmp_path, env=settings, max_activities=4)
    host.start()
    return DeliveryApp(host, website, azurite, dfs)


@pytest.fixture(scope="session")
def flat_delivery_app(azurite, tmp_path_factory):
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-host"), READERS_SETTINGS)
    yield app
    app.host.stop()
    app.website.stop()


@pytest.fixture(scope="session")
def delivery_app(flat_delivery_app):
    return flat_delivery_app


@pytest.fixture(scope="session")
def hns_delivery_app(azurite, dfs, tmp_path_factory):
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-hns-host"), READERS_SETTINGS, dfs)
    yield app
    app.host.stop()
    app.website.stop()


@pytest.fixture(scope="session")
def small_callback_app(azurite, tmp_path_factory):
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-small-callback"),
                    {"DDD_CALLBACK_MAX_BYTES": str(8 * KIB)})
    yield app
    app.host.stop()
    app.website.stop()


ONE_FILE_CHUNKS = {"DDD_CHUNK_MAX_FILES": "1", "DDD_PARALLEL_CHUNKS": "1"}
# moves allowed from sequencingcore/deliveries; chunks of 2 files, so a move of 40 files takes
# several calls (4 plan pages each)
CHOICES_SETTINGS = {"DDD_MOVE_SOURCES": "sequencingcore/deliveries", "DDD_CHUNK_MAX_FILES": "2"}


@pytest.fixture(scope="session")
def choices_app(azurite, tmp_path_factory):
    """The app where operators' choices run: moving the source, conflict policies."""
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-choices"), CHOICES_SETTINGS)
    yield app
    app.host.stop()
    app.website.stop()


@pytest.fixture(scope="session")
def hns_choices_app(azurite, dfs, tmp_path_factory):
    """The same on ADLS Gen2 accounts (the Data Lake stand-in): folders are directories."""
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-hns-choices"), CHOICES_SETTINGS, dfs)
    yield app
    app.host.stop()
    app.website.stop()


@pytest.fixture(scope="session")
def flat_one_file_chunks_app(azurite, tmp_path_factory):
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-one-file-chunks"), ONE_FILE_CHUNKS)
    yield app
    app.host.stop()
    app.website.stop()


@pytest.fixture(scope="session")
def one_file_chunks_app(flat_one_file_chunks_app):
    return flat_one_file_chunks_app


@pytest.fixture(scope="session")
def hns_one_file_chunks_app(azurite, dfs, tmp_path_factory):
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-hns-one-file-chunks"),
                    ONE_FILE_CHUNKS, dfs)
    yield app
    app.host.stop()
    app.website.stop()


@dataclass
class OperatorStandIns:
    """The Azure services of the operators' side, as local stand-ins the real SDKs talk to."""

    vault: KeyVaultStandIn
    mail: EmailStandIn

    def settings(self) -> dict[str, str]:
        return {"DDD_KEY_VAULT_URL": self.vault.url, "DDD_WEBSITE_TOKEN": "",
                "REQUESTS_CA_BUNDLE": str(self.vault.tls.cert_path),
                "DDD_NOTIFY_EMAIL_ENDPOINT": self.mail.url, "DDD_NOTIFY_SENDER": MAIL_SENDER,
                "DDD_NOTIFY_TO": OPERATORS, "DDD_NOTIFY_ON_SUCCESS": "true"}

    def mails_about(self, delivery: Delivery) -> list[dict]:
        """The mails whose subject names this delivery's id."""
        subject = f"Delivery {delivery.payload['Webhook_DeliveryID']} "
        return [mail for mail in self.mail.received()
                if mail["content"]["subject"].startswith(f"[ddd-transfer] {subject}")]


MAIL_SENDER = "DoNotReply@ddd-local.azurecomm.net"
OPERATORS = "ops@example.edu, oncall@example.edu"


@pytest.fixture(scope="session")
def operator_standins(standin_tls):
    with KeyVaultStandIn(tls=standin_tls) as vault, \
            EmailStandIn(tls=standin_tls, sender=MAIL_SENDER) as mail:
        vault.set_secret("d4s2-api-token", WEBSITE_TOKEN)
        yield OperatorStandIns(vault=vault, mail=mail)


@pytest.fixture(scope="session")
def operator_app(azurite, operator_standins, tmp_path_factory):
    """The app with the website token in the Key Vault stand-in (read through devhost's managed
    identity endpoint by the real SDK), not in a setting."""
    app = start_app(azurite, tmp_path_factory.mktemp("e2e-operators"),
                    operator_standins.settings())
    app.standins = operator_standins
    yield app
    app.host.stop()
    app.website.stop()
