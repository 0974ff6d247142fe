"""functionTimeout: a timed-out activity fails with the host's text and its retry policy runs it
again; the worker restart that follows orphans the other activities it was running.

Sources:
- azure-webjobs-sdk ``src/Microsoft.Azure.WebJobs.Host/Executors/FunctionExecutor.cs``,
  ``TryHandleTimeoutAsync``: "Timeout value of {0} was exceeded by function: {1}" with the
  function's short name, "Functions.<name>" on the Functions host (``ScriptHost``
  ``GeneratedTypeName = "Functions"``).
- azure-functions-durable-extension ``Listener/TaskActivityShim.cs``, ``RunAsync``: a
  FunctionTimeoutError is reported as "Activity function '<name>' failed: <message>".
- azure-functions-host ``src/WebJobs.Script.WebHost/WebScriptHostExceptionHandler.cs``,
  ``OnTimeoutExceptionAsync``: after the grace period (2 s, ``TimeoutAttribute``) the worker
  running the invocation is restarted; ``JobHostRpcWorkerChannelManager.
  ShutdownChannelIfExistsAsync`` calls ``TryFailExecutions(null)``, which fails nothing, so the
  other invocations of that worker never get their result and fail at their own timeout.
- azure-functions-host ``src/WebJobs.Script/Config/ScriptJobHostOptionsSetup.cs``:
  a functionTimeout under 00:00:01 is refused; "-1" means no limit.
"""

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from devhost.launcher import DevHostProcess
from devhost.limits import TimeoutConfigError, format_timespan, function_timeout, parse_timespan

SAMPLE_APP = Path(__file__).parent / "sample_app" / "function_app.py"


def wait_until(condition, timeout: float, what: str, host: DevHostProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not seen in {timeout}s:\n{host.logs()[-3000:]}")


def history_of(host: DevHostProcess, instance_id: str) -> list[dict]:
    return host.status(instance_id, history=True)["historyEvents"]


def host_start(host: DevHostProcess, orchestrator: str, payload: dict) -> str:
    answer = requests.post(host.webhook(f"orchestrators/{orchestrator}"),
                           params={"code": host.system_key}, json=payload, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def test_timed_out_activity_fails_with_the_hosts_text_and_is_retried(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    with DevHostProcess(SAMPLE_APP, tmp_path / "host", function_timeout="00:00:02") as host:
        started = host_start(host, "times_out", {"dir": str(files), "key": "a", "sleep": 5})
        status = host.wait_for(started, timeout=30)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == {"key": "a", "attempt": 2}  # the retry's result
        failed = [e for e in history_of(host, started) if e["EventType"] == "TaskFailed"]
        assert [e["Reason"] for e in failed] == [
            "Activity function 'held' failed: Timeout value of 00:00:02 was exceeded by "
            "function: Functions.held"]
        # the first attempt returns at 5 s: its result is discarded, nothing changes
        wait_until(lambda: "returned after it timed out; its result is discarded"
                   in host.logs(), 20, "the late result discarded", host)
        assert (files / "a.returned").exists()
        assert host.status(started)["output"] == {"key": "a", "attempt": 2}
        kinds = [e["EventType"] for e in history_of(host, started)]
        assert kinds.count("TaskCompleted") == 1 and kinds.count("TaskScheduled") == 2


def test_worker_restart_orphans_the_activities_it_was_running(tmp_path):
    """"stuck" is still running 2 s after its timeout: the worker restarts. "second" started
    after a 4 s durable timer, so it was running then; what it returns afterwards is
    discarded, it fails at its own timeout (6 s after it started) and its retry runs it."""
    files = tmp_path / "files"
    files.mkdir()
    gate, stuck_gate = tmp_path / "open-second", tmp_path / "open-stuck"
    host = DevHostProcess(SAMPLE_APP, tmp_path / "host", function_timeout="00:00:06")
    host.start()
    try:
        started = host_start(host, "loses_its_worker", {
            "dir": str(files), "delay": 4, "gate": str(gate), "stuck_gate": str(stuck_gate)})
        wait_until(lambda: "Restarting worker process" in host.logs(), 30, "a restart", host)
        assert (files / "second.started").exists()  # running when its worker went away
        assert not (files / "second.returned").exists()
        assert re.search(r"activity held instance=\S+ task=\d+ lost its worker", host.logs())
        gate.touch()  # "second" returns now, before its own timeout: too late, worker is gone
        wait_until(lambda: (files / "second.returned").exists(), 10, "second returned", host)
        status = host.wait_for(started, timeout=30)
    finally:
        stuck_gate.touch()
        host.stop()
    timed_out = ("Activity function 'held' failed: Timeout value of 00:00:06 was exceeded by "
                 "function: Functions.held")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == [timed_out, {"key": "second", "attempt": 2}]
    assert "returned after its worker was restarted; its result is discarded" in host.logs()
    assert (files / "second.attempts").read_text().split() == ["1", "2"]


def test_function_timeout_is_read_and_checked_as_the_host_does():
    assert function_timeout(None) == timedelta(minutes=30)  # the default outside Consumption
    assert function_timeout("01:00:00") == timedelta(hours=1)
    assert function_timeout("-1") is None
    assert function_timeout("00:00:01") == timedelta(seconds=1)
    with pytest.raises(TimeoutConfigError, match="FunctionTimeout must be greater than "
                                                 "00:00:01 and less than "):
        function_timeout("00:00:00.5")
    assert parse_timespan("1.02:03:04.5") == timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert format_timespan(timedelta(seconds=2)) == "00:00:02"
    assert format_timespan(timedelta(days=1, seconds=4.5)) == "1.00:00:04.5000000"


def test_host_json_function_timeout_is_used_and_a_bad_one_stops_devhost(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(SAMPLE_APP.read_text())
    (app_dir / "host.json").write_text('{"version": "2.0", "functionTimeout": "00:00:00.5"}')
    host = DevHostProcess(app_dir / "function_app.py", tmp_path / "state")
    try:
        with pytest.raises(RuntimeError, match="devhost exited at start"):
            host.start(timeout=30)
    finally:
        host.stop()  # in case it did start
    assert "FunctionTimeout must be greater than 00:00:01" in host.logs()
    assert host.process is not None and host.process.returncode == 1
    (app_dir / "host.json").write_text('{"version": "2.0", "functionTimeout": "00:07:00"}')
    with DevHostProcess(app_dir / "function_app.py", tmp_path / "state") as running:
        assert "functionTimeout 00:07:00" in running.logs()
