"""devhost runs orchestrations as the Durable extension does, driven over HTTP."""

import requests


def test_fan_out_of_500_activities(sample):
    status = sample.run("fan_out", 500, timeout=120)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == [i * i for i in range(500)]
    history = sample.host.status(status["instanceId"], history=True)["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds.count("TaskScheduled") == 500
    assert kinds.count("TaskCompleted") == 500
    assert kinds[-1] == "ExecutionCompleted"


def test_flaky_activity_succeeds_on_third_try_under_retry_options(sample):
    status = sample.run("with_retry", "flaky-key-1")
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] == {"key": "flaky-key-1", "attempts": 3}
    history = sample.host.status(status["instanceId"], history=True)["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds.count("TaskFailed") == 2
    assert kinds.count("TaskScheduled") == 3
    assert kinds.count("TimerFired") == 2  # one retry timer between each attempt


def test_retries_exhausted_surface_the_failure_to_the_orchestrator(sample):
    status = sample.run("retry_exhausted")
    assert status["output"] == "gave up: True"


def test_timer_fires_at_its_time(sample):
    status = sample.run("with_timer", 1.5)
    assert status["runtimeStatus"] == "Completed"
    # the orchestrator's own clock (history timestamps) moved by at least the timer's delay
    assert 1.5 <= status["output"] < 10


def test_sub_orchestration(sample):
    status = sample.run("parent", 7)
    assert status["output"]["child_said"] == 98
    child_id = f"{status['instanceId']}:0000"
    assert sample.host.status(child_id)["output"] == 98


def test_external_event_and_custom_status(sample):
    started = sample.start("awaits_event")
    waiting = sample.host.wait_for(started["id"], until=("Running",))
    for _ in range(50):
        waiting = sample.host.status(started["id"])
        if waiting["customStatus"]:
            break
    assert waiting["customStatus"] == {"phase": "waiting for approval"}
    # the SDK's client, through the app, sees the same custom status
    assert sample.op("status", id=started["id"])["customStatus"] == {
        "phase": "waiting for approval"}
    assert sample.op("raise", id=started["id"], event="approval", data={"by": "pi"}) == "raised"
    done = sample.host.wait_for(started["id"])
    assert done["output"] == {"by": "pi"}
    assert done["customStatus"] == {"phase": "approved"}


def test_terminate_then_purge(sample):
    started = sample.start("awaits_event", instance_id="to-terminate")
    sample.host.wait_for("to-terminate", until=("Running",))
    assert sample.op("terminate", id="to-terminate", reason="operator said stop") == "terminated"
    status = sample.host.wait_for(started["id"])
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "operator said stop"
    assert sample.op("purge", id="to-terminate") == 1
    assert sample.host.status("to-terminate") is None
    assert sample.op("purge", id="to-terminate") == 0


def test_nondeterministic_orchestrator_is_failed(sample):
    status = sample.run("nondeterministic")
    assert status["runtimeStatus"] == "Failed"
    assert "Non-Deterministic workflow detected" in status["output"]
    assert "'square'" in status["output"] and "'slow_echo'" in status["output"]


def test_orchestrator_exception_fails_the_instance(sample):
    status = sample.run("fails")
    assert status["runtimeStatus"] == "Failed"
    assert "the orchestrator gave up" in status["output"]


def test_pydantic_models_cross_the_activity_boundary(sample):
    status = sample.run("typed")
    assert status["output"] == {"type": "Measure", "label": "reads", "value": 42}


def test_continue_as_new_keeps_history_to_the_last_generation(sample):
    status = sample.run("counting_down", 5)
    assert status["output"] == "done"
    history = sample.host.status(status["instanceId"], history=True)["historyEvents"]
    assert [e["EventType"] for e in history].count("TaskScheduled") == 1


def test_start_with_explicit_instance_id_and_query(sample):
    started = sample.start("fan_out", 3, instance_id="explicit-id-1")
    assert started["id"] == "explicit-id-1"
    sample.host.wait_for("explicit-id-1")
    assert "explicit-id-1" in sample.op("query", statuses=["Completed"])
    assert "explicit-id-1" not in sample.op("query", statuses=["Running"])


def test_check_status_urls_work_against_devhost(sample):
    started = sample.start("fan_out", 4)
    status_url = started["statusQueryGetUri"]
    assert status_url.startswith(sample.host.base_url.replace("127.0.0.1", "127.0.0.1"))
    sample.host.wait_for(started["id"])
    answer = requests.get(status_url, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["output"] == [0, 1, 4, 9]
    # the same URL without its system key is refused, as on Azure
    assert requests.get(status_url.split("?")[0], timeout=10).status_code == 401
    purge = requests.delete(started["purgeHistoryDeleteUri"], timeout=10)
    assert purge.json() == {"instancesDeleted": 1}


def test_start_of_a_running_instance_id_is_refused(sample):
    sample.start("awaits_event", instance_id="single-1")
    again = requests.post(f"{sample.host.base_url}/api/orchestrators/awaits_event",
                          params={"code": sample.host.function_key, "id": "single-1"}, timeout=10)
    assert again.status_code == 500  # the SDK client raises; the app did not handle it
    sample.op("terminate", id="single-1", reason="done")


def test_unsupported_action_fails_the_instance_with_a_clear_message(sample):
    status = sample.run("calls_http")
    assert status["runtimeStatus"] == "Failed"
    assert "devhost does not support action type 8" in status["output"]
    assert "Non-Deterministic" not in status["output"]
