"""Start and stop a private Azurite (the Azure Storage emulator) for tests, the demo and benchmarks.

One `AzuriteServer` is one `node_modules/.bin/azurite` process on free loopback ports, with its
own temporary workspace and its own storage accounts (``AZURITE_ACCOUNTS``). Each account is
reached path-style at ``http://127.0.0.1:<blob port>/<account>``, which is what the app's
``DDD_STORAGE_ENDPOINT_TEMPLATE`` setting maps account names to.

    with AzuriteServer(accounts=["sequencingcore", "labsmith"]) as azurite:
        azurite.blob_endpoint("labsmith")        # http://127.0.0.1:53412/labsmith
        azurite.endpoint_template                # http://127.0.0.1:53412/{account}
        azurite.account_keys_setting()           # value for DDD_STORAGE_ACCOUNT_KEYS

The default account ``devstoreaccount1`` always exists, with Azurite's published development
key; extra accounts get random keys generated for this process only.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (documented by Microsoft; not a secret).
DEFAULT_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
LOOPBACK = "127.0.0.1"


class AzuriteNotInstalledError(RuntimeError):
    """node_modules/.bin/azurite is missing: the npm packages are not installed."""


class AzuriteStartError(RuntimeError):
    """Azurite did not come up (it exited, or its blob port never answered)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def generate_account_key() -> str:
    """A random storage account key in Azure's format (64 random bytes, base64)."""
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


class AzuriteServer:
    """A private Azurite process; use as a context manager (or call start()/stop())."""

    def __init__(
        self,
        accounts: Iterable[str] = (),
        *,
        blob_only: bool = False,
        location: str | os.PathLike[str] | None = None,
        start_timeout_seconds: float = 30.0,
    ) -> None:
        self.account_keys: dict[str, str] = {DEFAULT_ACCOUNT: DEFAULT_ACCOUNT_KEY}
        for account in accounts:
            if account != DEFAULT_ACCOUNT:
                self.account_keys[account] = generate_account_key()
        self.blob_only = blob_only
        self.start_timeout_seconds = start_timeout_seconds
        self._given_location = Path(location) if location is not None else None
        self._own_location: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.blob_port = 0
        self.queue_port = 0
        self.table_port = 0

    # ----- lifecycle -------------------------------------------------------------------
    @property
    def executable(self) -> Path:
        name = "azurite-blob" if self.blob_only else "azurite"
        return REPO_ROOT / "node_modules" / ".bin" / name

    @property
    def location(self) -> Path:
        if self._given_location is not None:
            return self._given_location
        if self._own_location is None:
            raise RuntimeError("Azurite is not started")
        return self._own_location

    @property
    def log_path(self) -> Path:
        return self.location / "azurite.log"

    def start(self) -> AzuriteServer:
        if self._process is not None:
            return self
        executable = self.executable
        if not executable.exists():
            raise AzuriteNotInstalledError(
                f"{executable} is missing: the npm packages are not installed (run make setup)"
            )
        if self._given_location is None:
            self._own_location = Path(tempfile.mkdtemp(prefix="ddd-azurite-"))
        self.location.mkdir(parents=True, exist_ok=True)

        self.blob_port = _free_port()
        command = [
            str(executable),
            "--location", str(self.location),
            "--blobHost", LOOPBACK, "--blobPort", str(self.blob_port),
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
        ]  # fmt: skip
        if not self.blob_only:
            self.queue_port = _free_port()
            self.table_port = _free_port()
            command += [
                "--queueHost", LOOPBACK, "--queuePort", str(self.queue_port),
                "--tableHost", LOOPBACK, "--tablePort", str(self.table_port),
            ]  # fmt: skip
        environ = dict(os.environ)
        environ["AZURITE_ACCOUNTS"] = ";".join(
            f"{account}:{key}" for account, key in self.account_keys.items()
        )
        with open(self.log_path, "ab") as log_file:
            self._process = subprocess.Popen(
                command,
                cwd=self.location,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one in stop()
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        ports = [self.blob_port] + ([] if self.blob_only else [self.queue_port, self.table_port])
        deadline = time.monotonic() + self.start_timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AzuriteStartError(
                    f"Azurite exited with code {self._process.returncode}: {self._log_tail()}"
                )
            if all(_port_answers(port) for port in ports):
                return
            time.sleep(0.1)
        raise AzuriteStartError(
            f"Azurite did not answer on port {self.blob_port} within "
            f"{self.start_timeout_seconds:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:].strip() or "(no output)"
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._own_location is not None:
            shutil.rmtree(self._own_location, ignore_errors=True)
            self._own_location = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> AzuriteServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ----- addresses and credentials ---------------------------------------------------
    @property
    def accounts(self) -> list[str]:
        return list(self.account_keys)

    @property
    def endpoint_template(self) -> str:
        """Value for DDD_STORAGE_ENDPOINT_TEMPLATE."""
        return f"http://{LOOPBACK}:{self.blob_port}/{{account}}"

    def blob_endpoint(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        return f"http://{LOOPBACK}:{self.blob_port}/{account}"

    def queue_endpoint(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        if self.blob_only:
            raise RuntimeError("this Azurite was started blob only")
        return f"http://{LOOPBACK}:{self.queue_port}/{account}"

    def table_endpoint(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        if self.blob_only:
            raise RuntimeError("this Azurite was started blob only")
        return f"http://{LOOPBACK}:{self.table_port}/{account}"

    def account_key(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        return self.account_keys[account]

    def account_keys_setting(self) -> str:
        """Value for DDD_STORAGE_ACCOUNT_KEYS: ``name:key;name2:key2``."""
        return ";".join(f"{account}:{key}" for account, key in self.account_keys.items())

    def connection_string(self, account: str = DEFAULT_ACCOUNT) -> str:
        """A connection string for one account (e.g. for AzureWebJobsStorage)."""
        parts = [
            "DefaultEndpointsProtocol=http",
            f"AccountName={account}",
            f"AccountKey={self.account_key(account)}",
            f"BlobEndpoint={self.blob_endpoint(account)}",
        ]
        if not self.blob_only:
            parts.append(f"QueueEndpoint={self.queue_endpoint(account)}")
            parts.append(f"TableEndpoint={self.table_endpoint(account)}")
        return ";".join(parts) + ";"

    def storage_environ(self, work_account: str = DEFAULT_ACCOUNT) -> dict[str, str]:
        """The storage settings of the app pointing at this Azurite (its work storage and the
        Functions host's AzureWebJobsStorage in `work_account`)."""
        return {
            "DDD_STORAGE_ENDPOINT_TEMPLATE": self.endpoint_template,
            "DDD_STORAGE_ACCOUNT_KEYS": self.account_keys_setting(),
            "DDD_WORK_ACCOUNT": work_account,
            "AzureWebJobsStorage": self.connection_string(work_account),
        }

    def blob_service(self, account: str = DEFAULT_ACCOUNT) -> BlobServiceClient:
        """A key-authenticated client of one account (for seeding and checking)."""
        return BlobServiceClient(
            self.blob_endpoint(account),
            credential=AzureNamedKeyCredential(account, self.account_key(account)),
        )

    def _require_account(self, account: str) -> None:
        if account not in self.account_keys:
            raise KeyError(f"Azurite was not started with account {account!r}")
        if self.blob_port == 0:
            raise RuntimeError("Azurite is not started")
