"""Sync functions share the Python worker's one thread pool, as on Azure.

Source: azure-functions-python-worker ``azure_functions_worker/dispatcher.py`` (4.34, the
worker of Python 3.11 apps): ``_handle__invocation_request`` runs every sync function with
``loop.run_in_executor(self._sync_call_tp, ...)``; ``_get_sync_tp_max_workers`` takes
``PYTHON_THREADPOOL_THREAD_COUNT`` when it is an integer of at least 1 and otherwise passes
``None`` (Python 3.9 and later), which ``concurrent.futures.ThreadPoolExecutor`` makes
``min(32, os.cpu_count() + 4)``: 5 threads on a one-core Flex Consumption instance. The Durable
extension's slots (host.json ``maxConcurrentActivityFunctions`` 9 and
``maxConcurrentOrchestratorFunctions`` 4 in this app, as in the real one) are the host's; an
orchestrator episode is a sync invocation too (the Durable SDK's orchestrator handle), so with
fewer threads than activities holding them it waits in the pool's queue.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from devhost.launcher import DevHostProcess
from devhost.worker_pool import WorkerPool, worker_pool_size

FLEX_APP = Path(__file__).parent / "flex_app" / "function_app.py"


def test_the_pool_size_is_the_workers():
    assert worker_pool_size(None, cpu_count=1) == 5   # a 2,048 MB Flex instance: one core
    assert worker_pool_size(None, cpu_count=2) == 6
    assert worker_pool_size(None, cpu_count=64) == 32
    assert worker_pool_size("13", cpu_count=1) == 13
    assert worker_pool_size("0", cpu_count=1) == 5     # below 1: the default, with a warning
    assert worker_pool_size("many", cpu_count=1) == 5  # not an integer: likewise


def test_invocations_wait_their_turn_and_a_restart_drops_queued_activities():
    pool = WorkerPool(1)
    gate = threading.Event()
    order: list[str] = []
    blocker = pool.submit(gate.wait)
    episode = pool.submit(order.append, "episode")
    activity = pool.submit_invocation(lambda: order.append("activity"), sent_again=False)
    time.sleep(0.2)
    assert order == [] and pool.busy == 1  # both wait behind the one busy thread
    pool.restart()  # the queued episode moves to the new pool; the activity is dropped
    assert episode.result(timeout=5) is None and order == ["episode"]
    assert activity.cancelled()
    gate.set()
    assert blocker.result(timeout=5) is True
    pool.shutdown()


def start(host: DevHostProcess, orchestrator: str, payload) -> str:
    answer = requests.post(f"{host.base_url}/api/orchestrators/{orchestrator}",
                           params={"code": host.function_key}, json=payload, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def wait_until(condition, timeout: float, what: str, host: DevHostProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen in {timeout}s:\n{host.logs()[-3000:]}")


@pytest.mark.parametrize("threads", [13, 5])
def test_copy_units_holding_the_pool_and_the_orchestrator_episodes(tmp_path, threads):
    """Eight copy units (the app's DDD_PARALLEL_CHUNKS) hold their threads and eight of the
    nine activity slots. With 13 threads (9 activity + 4 orchestrator slots, as the Bicep sets
    PYTHON_THREADPOOL_THREAD_COUNT) another orchestration's episodes and its activity (in the
    ninth slot, as measure_progress) still run. With 5 (the default on one core) only five
    units run, the other three wait in the pool, and the other orchestration's first episode
    waits behind them: it stays Pending until the units finish."""
    units, gate = tmp_path / "units", tmp_path / "gate"
    units.mkdir()
    host = DevHostProcess(FLEX_APP, tmp_path / "host",
                          env={"PYTHON_THREADPOOL_THREAD_COUNT": str(threads)}).start()
    try:
        assert f"9 activity slots, {threads} worker threads" in host.logs()
        copying = start(host, "copy_units", {"dir": str(units), "gate": str(gate), "units": 8})
        running = min(8, threads)
        wait_until(lambda: len(list(units.glob("*.started"))) == running, 30,
                   f"{running} units running", host)
        beating = start(host, "heartbeat", None)
        if threads == 13:
            status = host.wait_for(beating, timeout=30)
            assert status["runtimeStatus"] == "Completed" and status["output"] == [0, 1, 2]
            assert not gate.exists()
        else:
            time.sleep(3)
            assert host.status(beating)["runtimeStatus"] == "Pending"
            assert len(list(units.glob("*.started"))) == 5  # three more wait for a thread
        gate.touch()
        assert host.wait_for(copying, timeout=60)["output"] == list(range(8))
        assert host.wait_for(beating, timeout=60)["output"] == [0, 1, 2]
    finally:
        gate.touch()
        host.stop()
