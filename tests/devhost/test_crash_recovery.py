"""A devhost killed with SIGKILL mid-run resumes every instance from its history."""

import time

from devhost.launcher import DevHostProcess

COUNT = 40


def test_sigkill_mid_run_then_restart_finishes_with_each_result_once(
        tmp_path, sample_app_path, client_for):
    activity_log = tmp_path / "activity-log.txt"
    host = DevHostProcess(sample_app_path, tmp_path / "state", max_activities=4,
                          env={"SAMPLE_ACTIVITY_LOG": str(activity_log)})
    host.start()
    try:
        started = client_for(host).start("slow_fan_out", COUNT)
        # wait until some, but not all, activities have run
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = activity_log.read_text().split() if activity_log.exists() else []
            if len(done) >= 8:
                break
            time.sleep(0.05)
        host.kill()
        ran_before_kill = activity_log.read_text().split()
        assert 8 <= len(ran_before_kill) < COUNT
        assert host.process.returncode == -9

        host.start()  # same port, same state file
        status = host.wait_for(started["id"], timeout=60)
    finally:
        host.stop()

    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == list(range(COUNT))  # each activity's result used exactly once
    executions = [int(n) for n in activity_log.read_text().split()]
    assert set(executions) == set(range(COUNT))
    assert "resumed after restart" in host.logs()  # in-flight work ran again (at least once)
