"""Continue-as-new: the next execution runs in the same work item, so no status store ever
holds the instance between two executions.

The Durable docs call ``ContinuedAsNew`` "a transient state"
(https://learn.microsoft.com/en-us/javascript/api/durable-functions/orchestrationruntimestatus).
The source shows it is never observable through the status API with the Azure Storage
provider: DTFx's ``TaskOrchestrationDispatcher.OnProcessWorkItemAsync`` (durabletask
``src/DurableTask.Core/TaskOrchestrationDispatcher.cs``) loops ``do { ... } while
(continuedAsNew)``: on a ContinueAsNew decision it builds the next execution's runtime state
(OrchestratorStarted, ExecutionStarted with the new input), runs the orchestrator again in the
same work item, and commits once (``CompleteTaskOrchestrationWorkItemAsync`` with
``continuedAsNewMessage: null``). ``AzureTableTrackingStore.UpdateStateAsync`` then writes
the status from the committed events: the new ExecutionStarted makes it ``Running``. The
custom status carries over unless the new execution sets one (``runtimeState.Status =
workItem.OrchestrationRuntimeState.Status ?? carryOverStatus``).
"""

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.engine import DurableEngine
from devhost.functions import FunctionIndex, index_functions, load_app_object
from devhost.history import EventType
from devhost.store import Store

SAMPLE_APP = Path(__file__).parent / "sample_app" / "function_app.py"


@pytest.fixture
def sample_index(monkeypatch) -> Iterator[FunctionIndex]:
    """The sample app loaded in this process (as the worker loads it), unloaded afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "function_app", raising=False)
    index = index_functions(load_app_object(SAMPLE_APP))
    yield index
    sys.modules.pop("function_app", None)


def test_next_execution_runs_in_the_same_work_item(tmp_path, sample_index):
    store = Store(tmp_path / "state.sqlite3")
    engine = DurableEngine(sample_index, store)  # not started: this test runs each work item
    try:
        engine.start_new("restarts_then_waits", "can-1", json.dumps(0))
        engine.run_work_item("can-1")  # execution 0 continues as new at once

        after = engine.instance("can-1")
        assert after is not None
        assert after.runtime_status == "Running"
        assert after.input == "1"
        assert json.loads(after.custom_status or "null") == {"generation": 1}
        history = engine.history("can-1")
        # only the new execution's history, and it has already run up to its wait
        assert [EventType(e["EventType"]).name for e in history] == [
            "OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]
        assert history[1]["Input"] == "1"
        assert store.ready_instances(time.time()) == []  # nothing left between the two

        engine.raise_event("can-1", "go", json.dumps("now"))
        engine.run_work_item("can-1")
        done = engine.instance("can-1")
        assert done is not None and done.runtime_status == "Completed"
        assert json.loads(done.output or "null") == {"generation": 1, "went": "now"}
    finally:
        store.close()


def test_status_api_shows_the_new_execution_running(sample):
    started = sample.start("restarts_then_waits", 0)
    instance_id = started["id"]
    deadline = time.monotonic() + 30
    status = sample.host.status(instance_id)
    while status["customStatus"] != {"generation": 1} and time.monotonic() < deadline:
        time.sleep(0.05)
        status = sample.host.status(instance_id)
    assert status["runtimeStatus"] == "Running"
    assert status["input"] == 1
    history = sample.host.status(instance_id, history=True)["historyEvents"]
    assert [e["EventType"] for e in history] == [
        "OrchestratorStarted", "ExecutionStarted", "OrchestratorCompleted"]
    statuses = requests.get(sample.host.webhook("instances"),
                            params={"code": sample.host.system_key,
                                    "runtimeStatus": "ContinuedAsNew"}, timeout=10).json()
    assert instance_id not in [s["instanceId"] for s in statuses]
    sample.op("raise", id=instance_id, event="go", data="now")
    assert sample.host.wait_for(instance_id)["output"] == {"generation": 1, "went": "now"}


def test_a_terminate_sent_while_an_execution_continues_as_new_reaches_the_next_one(
        tmp_path, sample_index, monkeypatch):
    """A terminate names the instance, not an execution: DTFx sends it with no ExecutionId
    (durabletask ``AzureStorageOrchestrationService.ForceTerminateTaskOrchestrationAsync``) and
    ``OrchestrationSessionManager`` delivers such "management operations" to whatever execution
    is current. So a terminate that arrives while an execution continues as new stops the next
    one; it is not dropped as a message for the old execution."""
    import devhost.engine as engine_module

    store = Store(tmp_path / "state.sqlite3")
    engine = DurableEngine(sample_index, store)
    real_run_episode = engine_module.run_episode
    sent: list[str] = []

    def terminate_during_the_first_episode(*args, **kwargs):
        if not sent:
            sent.append("terminate")
            engine.terminate("can-2", "a newer attempt started")
        return real_run_episode(*args, **kwargs)

    monkeypatch.setattr(engine_module, "run_episode", terminate_during_the_first_episode)
    try:
        engine.start_new("restarts_then_waits", "can-2", json.dumps(0))
        engine.run_work_item("can-2")  # execution 0 continues as new; the terminate is waiting
        assert sent and engine.instance("can-2").generation == 1  # type: ignore[union-attr]
        engine.run_work_item("can-2")
        stopped = engine.instance("can-2")
        assert stopped is not None and stopped.runtime_status == "Terminated"
        assert json.loads(stopped.output or "null") == "a newer attempt started"
    finally:
        store.close()
