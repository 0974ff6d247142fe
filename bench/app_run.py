"""One delivery through devhost, timed from the POST to Completed, and the read-back check of
any run's destination."""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from bench.accounting import split_traffic
from bench.common import (
    MANIFEST_FOLDER,
    SINK_ACCOUNT,
    SINK_CONTAINER,
    SOURCE_ACCOUNT,
    SOURCE_CONTAINER,
    SOURCE_FOLDER,
)
from bench.results import RunResult
from bench.sampling import CpuMeter, HostLog, HostSampler, kib_field, status_fields
from bench.seeding import SeededFile, storage_client
from bench.stack import AppHost, Storage
from bench.traffic import traffic_delta

POLL_SECONDS = 0.2
MOVING = ("copied", "verified")  # the parts of the status that move while bytes move
# the same figures in the orchestrator's custom status
CUSTOM_MOVING = ("files_copied", "bytes_copied", "units_done", "files_verified", "bytes_verified")


def longest_interval(start: float | None, changes: list[float],
                     end: float) -> tuple[float, float]:
    """The longest time between `start`, the changes seen after it and `end`, and when it
    began; (0, 0) when the copy was never seen."""
    if start is None:
        return 0.0, 0.0
    marks = [start, *(at for at in changes if at > start), end]
    return max(((later - earlier, earlier)
                for earlier, later in zip(marks, marks[1:], strict=False)), default=(0.0, 0.0))


def run_app(storage: Storage, app: AppHost, files: list[SeededFile], sink_folder: str,
            delivery_id: int, timeout: float, small_file_max_bytes: int) -> RunResult:
    """POST the website's payload, poll the status every 0.2 s until it ends (or `timeout`),
    both the status endpoint's answer and the custom status the Durable API gives (what the
    portal shows), and gather what the run cost. A run that times out is returned with
    completed=False and how far it got."""
    import requests

    host, website = app.host, app.website
    transfer_uuid = str(uuid.uuid4())
    website.expect(delivery_id, transfer_uuid)  # type: ignore[attr-defined]
    payload = {
        "Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": SOURCE_CONTAINER,
        "Source_TopLevelFolder": SOURCE_FOLDER,
        "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": SINK_CONTAINER,
        "Sink_TopLevelFolder": sink_folder,
        "Webhook_DeliveryID": delivery_id, "Webhook_TransferUUID": transfer_uuid,
    }
    pid = host.process.pid  # type: ignore[attr-defined]
    base_url, key = host.base_url, host.function_key  # type: ignore[attr-defined]
    idle_rss = kib_field(status_fields(pid), "VmRSS")
    before = storage.proxy.stats()
    meter = CpuMeter({**storage.pids(), "host": pid}).start()
    session = requests.Session()
    session.trust_env = False
    phases: list[tuple[str, float]] = []
    changes: list[float] = []  # when the poller saw the copied/verified counts move
    custom_changes: list[float] = []  # when it saw them move in the custom status
    copy_start: float | None = None  # the first poll that saw phase "copying"
    copy_end: float | None = None  # the first poll that saw a later phase
    view: dict = {}
    polls = 0
    with HostSampler(pid, storage.azurite.blob_port) as sampler:  # type: ignore[attr-defined]
        started = time.perf_counter()
        answer = session.post(f"{base_url}/api/deliveries", params={"code": key}, json=payload,
                              headers={"user-agent": "duke-data-delivery/2.0.0"}, timeout=60)
        if answer.status_code != 202:
            raise RuntimeError(f"POST /api/deliveries answered {answer.status_code}: "
                               f"{answer.text[:500]}")
        instance_id = answer.json()["id"]
        last_moving = last_custom = None
        completed = False
        while True:
            view = session.get(f"{base_url}/api/deliveries/{instance_id}", params={"code": key},
                               timeout=60).json()
            polls += 1
            elapsed = time.perf_counter() - started
            phase = view.get("phase") or "starting"
            if not phases or phases[-1][0] != phase:
                phases.append((phase, elapsed))
            if phase == "copying":
                copy_start = elapsed if copy_start is None else copy_start
                moving = [view.get(part) for part in MOVING]
                if moving != last_moving:
                    changes.append(elapsed)
                    last_moving = moving
                custom = (host.status(instance_id) or {}).get(  # type: ignore[attr-defined]
                    "customStatus") or {}
                custom_moving = [custom.get(part) for part in CUSTOM_MOVING]
                if custom_moving != last_custom:
                    custom_changes.append(time.perf_counter() - started)
                    last_custom = custom_moving
            elif copy_start is not None and copy_end is None:
                copy_end = elapsed
            if view["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
                completed = True
                break
            if elapsed > timeout:
                break
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
    cpu = meter.stop()
    traffic = traffic_delta(storage.proxy.stats(), before)
    fields = status_fields(pid)
    log = HostLog.read(host.log_path, instance_id)  # type: ignore[attr-defined]
    # from the first poll that saw "copying" to the first that saw it end
    copy_end = seconds if copy_end is None else copy_end
    longest, longest_at = longest_interval(copy_start, changes, copy_end)
    longest_custom, longest_custom_at = longest_interval(copy_start, custom_changes, copy_end)
    copied = view.get("copied") or {}
    result = RunResult(
        "app", "app through devhost (POST to Completed)", seconds, completed=completed,
        files_done=copied.get("files") or 0, bytes_done=copied.get("bytes") or 0, cpu=cpu,
        load=meter.load, traffic=split_traffic(traffic, files, sink_folder, small_file_max_bytes),
        vm_hwm=kib_field(fields, "VmHWM"), peak_rss=sampler.peak_rss,
        peak_rss_at=sampler.peak_rss_at, idle_rss=idle_rss, peak_threads=sampler.peak_threads,
        direct_connections=sampler.direct_connections, phases=phases,
        copying_seconds=(copy_end - copy_start) if copy_start is not None and copy_end else 0.0,
        longest_status_interval=longest, longest_status_interval_at=longest_at,
        status_changes=len(changes), longest_custom_status_interval=longest_custom,
        longest_custom_status_interval_at=longest_custom_at,
        custom_status_changes=len(custom_changes), polls=polls, host_log=asdict(log))
    if not completed:
        result.problems.append(f"the delivery did not end within {timeout:.0f} s: phase "
                               f"{view.get('phase')}, copied {copied}")
        return result
    if view["runtimeStatus"] != "Completed" or view.get("phase") != "delivered":
        result.problems.append(f"the delivery ended {view['runtimeStatus']}, phase "
                               f"{view.get('phase')}: {view.get('message')} "
                               f"{view.get('failures')}")
    if (view.get("verified") or {}).get("files") != len(files):
        result.problems.append(f"the app verified {view.get('verified')} of {len(files)} files")
    recorded = website.recorded(delivery_id) or {}  # type: ignore[attr-defined]
    if "manifest" not in recorded or recorded.get("error_message"):
        result.problems.append(f"the website recorded no manifest: {str(recorded)[:300]}")
    if sampler.direct_connections:
        result.problems.append(f"devhost held {sampler.direct_connections} sockets to Azurite's "
                               "own port (around the counting proxy)")
    return result


def verify_destination(storage: Storage, files: list[SeededFile], sink_folder: str,
                       threads: int = 16) -> list[str]:
    """Read every delivered blob back straight from Azurite (not through the proxy): its MD5
    and its Content-MD5 property must equal the MD5 of the seeded bytes; no blob missing, none
    unexpected (the app's own folder aside)."""
    sink = storage_client(storage.azurite, SINK_ACCOUNT, connections=threads + 4)
    container = sink.get_container_client(SINK_CONTAINER)

    def check(item: SeededFile) -> str | None:
        downloader = container.download_blob(f"{sink_folder}/{item.relative}", max_concurrency=1)
        md5, size = hashlib.md5(), 0
        for piece in downloader.chunks():
            md5.update(piece)
            size += len(piece)
        stored = downloader.properties.content_settings.content_md5
        if size != item.size or md5.hexdigest() != item.md5:
            return (f"{item.relative}: destination {size} bytes MD5 {md5.hexdigest()}, seeded "
                    f"{item.size} bytes MD5 {item.md5}")
        if not stored or bytes(stored).hex() != item.md5:
            return f"{item.relative}: destination Content-MD5 {stored!r}, expected {item.md5}"
        return None

    problems: list[str] = []
    try:
        with ThreadPoolExecutor(threads) as pool:
            problems += [problem for problem in pool.map(check, files) if problem]
    except Exception as error:  # a missing blob: name it rather than stop the benchmark
        problems.append(f"read-back failed: {type(error).__name__}: {str(error)[:300]}")
    expected = {f"{sink_folder}/{item.relative}" for item in files}
    for blob in container.list_blobs(name_starts_with=sink_folder + "/", include=["metadata"]):
        folder_marker = (blob.metadata or {}).get("hdi_isfolder") == "true"  # a delivered folder
        if blob.name not in expected and not folder_marker and not blob.name.startswith(
                f"{sink_folder}/{MANIFEST_FOLDER}/"):
            problems.append(f"unexpected blob at the destination: {blob.name}")
    return problems
