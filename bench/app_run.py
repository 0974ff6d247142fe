"""Deliveries through devhost, timed from the POST to Completed (one, or several started
together), and the read-back check of any run's destination."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

from bench.accounting import split_traffic
from bench.common import MANIFEST_FOLDER, SINK_ACCOUNT, SINK_CONTAINER, SOURCE_FOLDER
from bench.results import RunResult
from bench.sampling import CpuMeter, HostLog, HostSampler, kib_field, status_fields
from bench.seeding import SeededFile, storage_client
from bench.stack import AppHost, Storage
from bench.traffic import traffic_delta
from bench.watch import Delivery, Watch

POLL_SECONDS = 0.2


def run_app(storage: Storage, app: AppHost, files: list[SeededFile], sink_folder: str,
            delivery_id: int, timeout: float, small_file_max_bytes: int) -> RunResult:
    """One delivery of every file: see `run_deliveries`."""
    delivery = Delivery("all", files, SOURCE_FOLDER, sink_folder, delivery_id)
    return run_deliveries(storage, app, [delivery], sink_folder, files, timeout,
                          small_file_max_bytes, poll_seconds=POLL_SECONDS)


def run_deliveries(storage: Storage, app: AppHost, deliveries: list[Delivery],
                   sink_folder: str, files: list[SeededFile], timeout: float,
                   small_file_max_bytes: int, *, poll_seconds: float) -> RunResult:
    """POST every delivery's payload at once, poll each one's status every `poll_seconds`
    until all have ended (or `timeout`), both the status endpoint's answer and the custom status
    the Durable API gives (what the portal shows), and gather what the run cost. The run's
    seconds are from the first POST until the last delivery ended; each delivery's own figures
    are in `deliveries` (and, for one delivery, in the run's own fields). A run that times out
    is returned with completed=False and how far it got."""
    import requests

    host, website = app.host, app.website
    for delivery in deliveries:
        website.expect(delivery.delivery_id, delivery.transfer_uuid)  # type: ignore[attr-defined]
    pid = host.process.pid  # type: ignore[attr-defined]
    base_url, key = host.base_url, host.function_key  # type: ignore[attr-defined]
    idle_rss = kib_field(status_fields(pid), "VmRSS")
    before = storage.proxy.stats()
    meter = CpuMeter({**storage.pids(), "host": pid}).start()
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=len(deliveries) + 2))
    watches = [Watch(delivery) for delivery in deliveries]

    def post(watch: Watch) -> None:
        watch.posted_at = time.perf_counter() - started
        answer = session.post(f"{base_url}/api/deliveries", params={"code": key},
                              json=watch.delivery.payload(),
                              headers={"user-agent": "duke-data-delivery/2.0.0"}, timeout=60)
        if answer.status_code != 202:
            raise RuntimeError(f"POST /api/deliveries ({watch.delivery.name}) answered "
                               f"{answer.status_code}: {answer.text[:500]}")
        watch.instance_id = answer.json()["id"]

    with HostSampler(pid, storage.azurite.blob_port) as sampler:  # type: ignore[attr-defined]
        started = time.perf_counter()
        # started together: every POST at once
        with ThreadPoolExecutor(len(watches)) as posting:
            list(posting.map(post, watches))
        while True:
            sweep = time.perf_counter()
            for watch in watches:
                if watch.ended:
                    continue
                view = session.get(f"{base_url}/api/deliveries/{watch.instance_id}",
                                   params={"code": key}, timeout=60).json()
                watch.saw(view, time.perf_counter() - started)
                if watch.copying:
                    custom = (host.status(watch.instance_id) or {}).get(  # type: ignore
                        "customStatus") or {}
                    watch.saw_custom(custom, time.perf_counter() - started)
            elapsed = time.perf_counter() - started
            if all(watch.ended for watch in watches) or elapsed > timeout:
                break
            time.sleep(max(0.0, poll_seconds - (time.perf_counter() - sweep)))
        seconds = time.perf_counter() - started
    cpu = meter.stop()
    traffic = traffic_delta(storage.proxy.stats(), before)
    fields = status_fields(pid)
    logs = [HostLog.read(host.log_path, watch.instance_id)  # type: ignore[attr-defined]
            for watch in watches]
    summaries = [watch.summary(seconds) for watch in watches]
    worst = max(summaries, key=lambda each: each["longest_status_interval"])
    worst_custom = max(summaries, key=lambda each: each["longest_custom_status_interval"])
    done = [watch.view.get("copied") or {} for watch in watches]
    completed = all(watch.ended for watch in watches)
    result = RunResult(
        "app", "app through devhost (POST to Completed)", seconds, completed=completed,
        files_done=sum(copied.get("files") or 0 for copied in done),
        bytes_done=sum(copied.get("bytes") or 0 for copied in done), cpu=cpu,
        load=meter.load, traffic=split_traffic(traffic, files, sink_folder, small_file_max_bytes),
        vm_hwm=kib_field(fields, "VmHWM"), peak_rss=sampler.peak_rss,
        peak_rss_at=sampler.peak_rss_at, idle_rss=idle_rss, peak_threads=sampler.peak_threads,
        rss_trace=sampler.trace,
        direct_connections=sampler.direct_connections,
        phases=watches[0].phases if len(watches) == 1 else [],
        copying_seconds=max(each["copying_seconds"] for each in summaries),
        longest_status_interval=worst["longest_status_interval"],
        longest_status_interval_at=worst["longest_status_interval_at"],
        status_changes=sum(each["status_changes"] for each in summaries),
        longest_custom_status_interval=worst_custom["longest_custom_status_interval"],
        longest_custom_status_interval_at=worst_custom["longest_custom_status_interval_at"],
        custom_status_changes=sum(each["custom_status_changes"] for each in summaries),
        polls=sum(watch.polls for watch in watches), host_log=asdict(HostLog.merged(logs)),
        deliveries=summaries if len(watches) > 1 else [])
    for watch in watches:
        result.problems += watch.problems(website)
    if not completed:
        result.problems.insert(0, f"the deliveries did not all end within {timeout:.0f} s")
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
        # each delivery's manifest and checksum file, in its own folder
        if blob.name not in expected and not folder_marker and \
                f"/{MANIFEST_FOLDER}/" not in blob.name[len(sink_folder):]:
            problems.append(f"unexpected blob at the destination: {blob.name}")
    return problems
