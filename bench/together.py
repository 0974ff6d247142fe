"""Several deliveries started together (the `concurrent` scenario): the app with every delivery
POSTed at once to one devhost, the smallest delivery alone, and the tuned baseline as one
script per delivery, all started together.

Each delivery is one top folder of the seeded files (`SOURCE_FOLDER/<name>`), delivered to
`<run's sink folder>/<name>`, so a file's destination is `<run's sink folder>/<its relative
path>` for the app and the scripts alike, and the read-back check is the one of any run.

A baseline script is its own process (`python -m bench.together`, as ten scripts started by
hand would be): it builds its clients, says it is ready, and starts copying when told, so every
script starts at the same moment and its Python start-up is not timed. Each reports its own
seconds, MD5s and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is a package of the repository
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.accounting import split_traffic  # noqa: E402
from bench.app_run import run_deliveries  # noqa: E402
from bench.baselines import STAGED_AHEAD, Script, tuned  # noqa: E402
from bench.common import (  # noqa: E402
    REPO,
    SINK_ACCOUNT,
    SINK_CONTAINER,
    SOURCE_ACCOUNT,
    SOURCE_CONTAINER,
    SOURCE_FOLDER,
)
from bench.results import SCRIPT_ALONE, RunResult  # noqa: E402
from bench.sampling import CpuMeter  # noqa: E402
from bench.seeding import SeededFile, storage_client  # noqa: E402
from bench.stack import AppHost, Storage  # noqa: E402
from bench.traffic import traffic_delta  # noqa: E402
from bench.watch import Delivery  # noqa: E402

POLL_SECONDS = 0.5  # each delivery's status, twice a second (ten deliveries: 40 requests/s)
SMALLEST = "tiny"


def deliveries_of(files: list[SeededFile], sink_folder: str, first_id: int,
                  only: str | None = None) -> list[Delivery]:
    """One delivery per top folder of the files (or only the one named `only`)."""
    by_name: dict[str, list[SeededFile]] = {}
    for item in files:
        by_name.setdefault(item.relative.split("/", 1)[0], []).append(item)
    return [Delivery(name, found, f"{SOURCE_FOLDER}/{name}", f"{sink_folder}/{name}",
                     first_id + number)
            for number, (name, found) in enumerate(sorted(by_name.items()))
            if only is None or name == only]


def top_folder_files(files: list[SeededFile], name: str) -> list[SeededFile]:
    """The files of the delivery `name` (its top folder)."""
    return [item for item in files if item.relative.split("/", 1)[0] == name]


def run_app_together(storage: Storage, app: AppHost, files: list[SeededFile], sink_folder: str,
                     first_id: int, timeout: float, small_file_max_bytes: int,
                     only: str | None = None) -> tuple[RunResult, list[SeededFile]]:
    """Every delivery POSTed at once (or only `only`); the run and the files it delivered."""
    deliveries = deliveries_of(files, sink_folder, first_id, only)
    delivered = [item for delivery in deliveries for item in delivery.files]
    run = run_deliveries(storage, app, deliveries, sink_folder, delivered, timeout,
                         small_file_max_bytes, poll_seconds=POLL_SECONDS)
    if only is not None:
        run.kind, run.label = "alone", f"app, the {only} delivery alone (POST to Completed)"
        run.deliveries = [{"name": only, "files": len(delivered),
                           "bytes": sum(item.size for item in delivered),
                           "seconds": run.seconds}]
    else:
        run.label = f"app, {len(deliveries)} deliveries POSTed together (first POST to last end)"
    return run, delivered


@dataclass
class _Worker:
    name: str
    process: subprocess.Popen[str]


def run_scripts_together(storage: Storage, files: list[SeededFile], sink_folder: str,
                         args: argparse.Namespace, only: str | None = None) -> RunResult:
    """The tuned baseline as one script (process) per delivery, all started at once (or only
    the script of `only`, alone: the run's kind is then `SCRIPT_ALONE`)."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    azurite = storage.azurite
    sas = generate_container_sas(SOURCE_ACCOUNT, SOURCE_CONTAINER,
                                 account_key=azurite.account_key(SOURCE_ACCOUNT),  # type: ignore
                                 permission=ContainerSasPermissions(read=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=3))
    deliveries = deliveries_of(files, sink_folder, 0, only)
    if only is not None:
        files = top_folder_files(files, only)
    workers: list[_Worker] = []
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    for delivery in deliveries:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.together"], cwd=REPO, env=environ, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        # the local Azurite's own keys, on stdin (not the command line)
        process.stdin.write(json.dumps({
            "endpoint": storage.endpoint, "sas": sas, "sink_folder": sink_folder,
            "prefix": delivery.source_folder + "/", "block_bytes": args.block_bytes,
            "small_file_max_bytes": args.small_file_max_bytes,
            "threads": args.baseline_threads,
            "keys": {account: azurite.account_key(account)  # type: ignore[attr-defined]
                     for account in (SOURCE_ACCOUNT, SINK_ACCOUNT)}}) + "\n")
        process.stdin.flush()
        workers.append(_Worker(delivery.name, process))
    try:
        for worker in workers:
            assert worker.process.stdout is not None
            ready = worker.process.stdout.readline().strip()
            if ready != "ready":
                raise RuntimeError(f"the {worker.name} script did not start: {ready!r}")
        meter = CpuMeter(storage.pids()).start()
        before = storage.proxy.stats()
        started_at = time.time()
        started = time.perf_counter()
        for worker in workers:
            assert worker.process.stdin is not None
            worker.process.stdin.write("go\n")
            worker.process.stdin.flush()
        reports = {}
        for worker in workers:
            assert worker.process.stdout is not None
            line = worker.process.stdout.readline()
            worker.process.wait(timeout=60)
            if not line:
                raise RuntimeError(f"the {worker.name} script ended without a report")
            reports[worker.name] = json.loads(line)
        seconds = time.perf_counter() - started
        traffic = traffic_delta(storage.proxy.stats(), before)
        cpu = meter.stop()
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
    scripts_cpu = sum(report["cpu"] for report in reports.values())
    cpu["bench"] = cpu.get("bench", 0.0) + scripts_cpu
    cpu["others"] = max(0.0, cpu.get("others", 0.0) - scripts_cpu)
    md5s: dict[str, str] = {}
    for report in reports.values():
        md5s.update(report["md5s"])
    result = RunResult(
        "tuned" if only is None else SCRIPT_ALONE,
        f"tuned baseline: {len(workers)} scripts started together, 32 threads each"
        if only is None else f"tuned baseline: the {only} delivery's script alone",
        seconds, files_done=len(md5s), bytes_done=sum(item.size for item in files), cpu=cpu,
        load=meter.load, traffic=split_traffic(traffic, files, sink_folder,
                                               args.small_file_max_bytes),
        deliveries=[{"name": delivery.name, "files": len(delivery.files),
                     "bytes": delivery.bytes,
                     "seconds": reports[delivery.name]["ended"] - started_at}
                    for delivery in deliveries])
    for item in files:
        got = md5s.get(f"{SOURCE_FOLDER}/{item.relative}")
        if got != item.md5:
            result.problems.append(f"tuned: {item.relative} hashed {got}, seeded {item.md5}")
    return result


class _Keys:
    """What `storage_client` needs of Azurite in a script: the accounts' keys."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.keys = keys

    def account_key(self, account: str) -> str:
        return self.keys[account]


def script_main() -> None:
    """One baseline script: its settings on stdin, "ready" on stdout, then wait for "go", copy
    its delivery with the tuned baseline and print its report (one JSON line)."""
    from concurrent.futures import ThreadPoolExecutor

    given: dict[str, Any] = json.loads(sys.stdin.readline())
    threads = int(given["threads"])
    keys = _Keys(given["keys"])
    connections = threads * (1 + STAGED_AHEAD) + 8
    source = storage_client(keys, SOURCE_ACCOUNT, given["endpoint"], connections,
                            single_get_bytes=int(given["block_bytes"]))
    sink = storage_client(keys, SINK_ACCOUNT, given["endpoint"], connections)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    cpu_before = time.process_time()
    with ThreadPoolExecutor(threads * STAGED_AHEAD) as stage_pool:
        script = Script(source.get_container_client(SOURCE_CONTAINER),
                        sink.get_container_client(SINK_CONTAINER), given["sas"],
                        given["sink_folder"], int(given["block_bytes"]),
                        int(given["small_file_max_bytes"]), stage_pool)
        listed = sorted(script.source.list_blobs(  # type: ignore[attr-defined]
            name_starts_with=given["prefix"]), key=lambda blob: -blob.size)
        md5s = tuned(script, listed, threads)
    print(json.dumps({"md5s": md5s, "ended": time.time(),
                      "cpu": time.process_time() - cpu_before}), flush=True)


if __name__ == "__main__":
    script_main()
