"""What every part of the delivery benchmark shares: accounts, sizes, output."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

KIB, MIB, GIB = 1024, 1024**2, 1024**3
SOURCE_ACCOUNT, SINK_ACCOUNT, WORK_ACCOUNT = "sequencingcore", "labsmith", "devstoreaccount1"
ACCOUNTS = (WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT)
SOURCE_CONTAINER, SINK_CONTAINER = "deliveries", "incoming"
SOURCE_FOLDER = "runs/250101_NB501234_0042_AHXXXXXXXX"
MANIFEST_FOLDER = "_ddd_transfer"  # the app writes its manifest and checksum file here
WEBSITE_TOKEN = "bench-website-token"  # the stand-in's own; not a real credential


def say(text: str = "") -> None:
    print(text, flush=True)


def mib(count: float) -> str:
    return f"{count / MIB:,.1f} MiB"


def machine_line() -> str:
    """The machine and the versions that decide the figures."""
    azurite = json.loads((REPO / "node_modules" / "azurite" / "package.json").read_text())
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info
                    if line.startswith("model name")), "?")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (f"nproc {os.cpu_count()} ({cpu}), {memory / GIB:.0f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}, Node {node or '?'}, "
            f"Azurite {azurite['version']}, azure-storage-blob {version('azure-storage-blob')}")
