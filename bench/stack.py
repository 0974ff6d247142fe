"""A fresh set of processes for every measured run: Azurite on a new location holding the
seeded template, the counting proxy in front of it and, for the app, devhost and the
website stand-in. Everything is stopped and the location removed when the run ends."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import ACCOUNTS, REPO, SINK_ACCOUNT, SOURCE_ACCOUNT, WEBSITE_TOKEN, WORK_ACCOUNT
from bench.sampling import child_pids
from bench.seeding import BLOB_EXTENTS, instantiate
from bench.traffic import CountingProxy


@dataclass
class Storage:
    azurite: object  # devhost.azurite.AzuriteServer
    proxy: CountingProxy

    @property
    def endpoint(self) -> str:
        """Where every measured client goes: the proxy."""
        return f"http://127.0.0.1:{self.proxy.port}"

    def pids(self) -> dict[str, int]:
        assert self.proxy.process is not None
        return {"azurite": self.azurite._process.pid,  # type: ignore[attr-defined]
                "proxy": self.proxy.process.pid, "bench": os.getpid()}


def extent_fingerprint(template: Path) -> dict[str, tuple[int, int]]:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for path in (template / BLOB_EXTENTS).rglob("*") if path.is_file()}


def read_into_page_cache(template: Path) -> int:
    """Read every extent file of the template once, so that every run, the first too, finds the
    seeded bytes in the page cache. Returns the bytes read."""
    read = 0
    for path in sorted((template / BLOB_EXTENTS).rglob("*")):
        if path.is_file():
            with path.open("rb", buffering=0) as extent:
                while piece := extent.read(8 << 20):
                    read += len(piece)
    return read


@contextlib.contextmanager
def fresh_storage(template: Path, location: Path, *, keep: bool = False) -> Iterator[Storage]:
    """Azurite on a new location holding the template's blobs, and the proxy before it.
    Raises if the run changed one of the template's extent files (hard-linked)."""
    from devhost.azurite import AzuriteServer

    before = extent_fingerprint(template)
    instantiate(template, location)
    try:
        with (AzuriteServer(accounts=list(ACCOUNTS), location=location) as azurite,
              CountingProxy(azurite.blob_port) as proxy):
            yield Storage(azurite, proxy)
    finally:
        if not keep:
            shutil.rmtree(location, ignore_errors=True)
    if extent_fingerprint(template) != before:
        raise RuntimeError("a run changed the seeded template's extent files: the data of the "
                           "next runs would differ")


@dataclass
class AppHost:
    host: object  # devhost.launcher.DevHostProcess
    website: object  # devhost.website_standin.WebsiteStandIn
    note: str


@contextlib.contextmanager
def app_host(storage: Storage, state_dir: Path, environ: dict[str, str], *,
             like_azure: bool = False) -> Iterator[AppHost]:
    """devhost running function_app.py, its storage through the proxy, and the website;
    `like_azure`: its HTTP and Durable functions in two processes, the queues polled."""
    from devhost.launcher import DevHostProcess
    from devhost.website_standin import WebsiteStandIn

    azurite = storage.azurite
    with WebsiteStandIn(token=WEBSITE_TOKEN) as website:
        settings = {**azurite.storage_environ(work_account=WORK_ACCOUNT),  # type: ignore
                    "DDD_STORAGE_ENDPOINT_TEMPLATE": f"{storage.endpoint}/{{account}}",
                    "DDD_WEBSITE_URL": website.url, "DDD_WEBSITE_TOKEN": WEBSITE_TOKEN,
                    "DDD_WEBSITE_RETRY_SECONDS": "0.5",
                    "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT, "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
                    **environ}
        with DevHostProcess(REPO / "function_app.py", state_dir, env=settings,
                            split_instances=like_azure, queue_polling=like_azure) as host:
            assert host.process is not None
            pid = host.process.pid
            exe = os.path.realpath(f"/proc/{pid}/exe")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"devhost" not in cmdline or "python" not in Path(exe).name:
                raise RuntimeError(f"pid {pid} is not devhost's Python: {exe} {cmdline}")
            note = (f"pid {pid} = {Path(exe).name} -m devhost (Popen without a shell), child "
                    f"processes: {len(child_pids(pid))}")
            yield AppHost(host, website, note)
