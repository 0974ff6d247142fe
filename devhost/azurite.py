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

``AzuriteServer(..., oauth=True)`` serves HTTPS with Azure AD (OAuth) authentication on
(``--oauth basic``), which user delegation keys and SAS need. It makes a self-signed certificate
(subjectAltName IP:127.0.0.1) in its location folder; endpoints are then
``https://127.0.0.1:<port>/<account>`` and clients must trust ``azurite.cert_path``
(``connection_verify=`` or ``REQUESTS_CA_BUNDLE``). Account keys and SAS still work alongside
bearer tokens, so `blob_service()` seeds with keys as before. Azurite accepts any well-formed,
unexpired JWT (unsigned is fine) whose ``aud`` is ``https://storage.azure.com`` and whose ``iss``
is an Azure AD issuer such as ``https://sts.windows.net/<tenant>/``; it must carry ``iat``,
``nbf`` and ``exp`` (and ``oid``/``tid`` for user delegation keys).
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
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from types import TracebackType

from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


def write_self_signed_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed TLS certificate for 127.0.0.1 and localhost, valid for a week, and its
    private key (PEM, unencrypted, owner-only). Made with the `cryptography` package (installed
    with azure-identity and azure-storage-blob), so no openssl command is needed.

    It is its own CA (basicConstraints CA:TRUE, key usages, key identifiers), so a file holding
    it can be a trust store (REQUESTS_CA_BUNDLE, connection_verify=, NODE_EXTRA_CA_CERTS) even
    under OpenSSL's strict X.509 checks."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Azurite on 127.0.0.1")])
    now = datetime.now(UTC)
    public_key = private_key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address(LOOPBACK)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(private_key, hashes.SHA256())
    )
    key_path.unlink(missing_ok=True)
    key_fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(key_fd, "wb") as key_file:
        key_file.write(
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


class AzuriteServer:
    """A private Azurite process; use as a context manager (or call start()/stop())."""

    def __init__(
        self,
        accounts: Iterable[str] = (),
        *,
        blob_only: bool = False,
        location: str | os.PathLike[str] | None = None,
        start_timeout_seconds: float = 30.0,
        oauth: bool = False,
        ports: tuple[int, int, int] | None = None,
    ) -> None:
        """`oauth=True`: HTTPS with a self-signed certificate and ``--oauth basic`` (bearer
        tokens accepted, user delegation keys served); the default is plain HTTP, keys and SAS
        only. `ports`: blob, queue and table ports (default: free ones)."""
        self.account_keys: dict[str, str] = {DEFAULT_ACCOUNT: DEFAULT_ACCOUNT_KEY}
        for account in accounts:
            if account != DEFAULT_ACCOUNT:
                self.account_keys[account] = generate_account_key()
        self.blob_only = blob_only
        self.oauth = oauth
        self.start_timeout_seconds = start_timeout_seconds
        self._given_location = Path(location) if location is not None else None
        self._own_location: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._fixed_ports = ports
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

    @property
    def scheme(self) -> str:
        return "https" if self.oauth else "http"

    @property
    def cert_path(self) -> Path:
        """The self-signed certificate (PEM) an `oauth=True` server presents: trust it."""
        if not self.oauth:
            raise RuntimeError("this Azurite serves plain HTTP (start it with oauth=True)")
        return self.location / "azurite-cert.pem"

    @property
    def key_path(self) -> Path:
        return self.cert_path.with_name("azurite-key.pem")

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

        self.blob_port = self._fixed_ports[0] if self._fixed_ports else _free_port()
        command = [
            str(executable),
            "--location", str(self.location),
            "--blobHost", LOOPBACK, "--blobPort", str(self.blob_port),
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry",
        ]  # fmt: skip
        if not self.blob_only:
            self.queue_port = self._fixed_ports[1] if self._fixed_ports else _free_port()
            self.table_port = self._fixed_ports[2] if self._fixed_ports else _free_port()
            command += [
                "--queueHost", LOOPBACK, "--queuePort", str(self.queue_port),
                "--tableHost", LOOPBACK, "--tablePort", str(self.table_port),
            ]  # fmt: skip
        environ = dict(os.environ)
        if self.oauth:
            write_self_signed_certificate(self.cert_path, self.key_path)
            command += [
                "--oauth", "basic", "--cert", str(self.cert_path), "--key", str(self.key_path),
            ]  # fmt: skip
            # Copy Blob (From URL) makes Azurite check the source URL with a request to itself
            # (Node's HTTPS client): it must trust its own certificate.
            environ["NODE_EXTRA_CA_CERTS"] = str(self.cert_path)
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
    def pid(self) -> int | None:
        """The process id (its own process group) while it runs."""
        return self._process.pid if self._process is not None else None

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
        return f"{self.scheme}://{LOOPBACK}:{self.blob_port}/{{account}}"

    def blob_endpoint(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        return f"{self.scheme}://{LOOPBACK}:{self.blob_port}/{account}"

    def queue_endpoint(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        if self.blob_only:
            raise RuntimeError("this Azurite was started blob only")
        return f"{self.scheme}://{LOOPBACK}:{self.queue_port}/{account}"

    def table_endpoint(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        if self.blob_only:
            raise RuntimeError("this Azurite was started blob only")
        return f"{self.scheme}://{LOOPBACK}:{self.table_port}/{account}"

    def account_key(self, account: str = DEFAULT_ACCOUNT) -> str:
        self._require_account(account)
        return self.account_keys[account]

    def account_keys_setting(self) -> str:
        """Value for DDD_STORAGE_ACCOUNT_KEYS: ``name:key;name2:key2``."""
        return ";".join(f"{account}:{key}" for account, key in self.account_keys.items())

    def connection_string(self, account: str = DEFAULT_ACCOUNT) -> str:
        """A connection string for one account (e.g. for AzureWebJobsStorage)."""
        parts = [
            f"DefaultEndpointsProtocol={self.scheme}",
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
        """A key-authenticated client of one account (for seeding and checking); it trusts the
        certificate of an `oauth=True` server."""
        credential = AzureNamedKeyCredential(account, self.account_key(account))
        if self.oauth:
            return BlobServiceClient(self.blob_endpoint(account), credential=credential,
                                     connection_verify=str(self.cert_path))
        return BlobServiceClient(self.blob_endpoint(account), credential=credential)

    def _require_account(self, account: str) -> None:
        if account not in self.account_keys:
            raise KeyError(f"Azurite was not started with account {account!r}")
        if self.blob_port == 0:
            raise RuntimeError("Azurite is not started")
