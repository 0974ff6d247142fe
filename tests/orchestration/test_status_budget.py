"""The custom status fits Azure's 16 KB limit by construction, whatever the failures.

The Durable extension refuses a custom status whose JSON is over 16 KB of UTF-16 and fails the
orchestration before that episode's actions run (azure-functions-durable-extension,
`DurableOrchestrationContext.SetCustomStatus`); devhost enforces the same limit. Twenty files
that failed with long paths and reasons: with the budget the website is told and the instance
ends Failed with the delivery's message; with the budget lifted the instance fails on its
status, as on Azure, and the website never hears.
"""

import json
from pathlib import Path

import pytest

from devhost.launcher import DevHostProcess
from shared.core.run import DeliveryRun
from shared.core.status import STATUS_BUDGET_CHARS
from tests.orchestration.runs import sample_request, start_orchestration

STATUS_APP = Path(__file__).parent / "status_app" / "function_app.py"


def run_delivery(tmp_path: Path, budget: str) -> tuple[dict, list[dict]]:
    events_file = tmp_path / f"events-{budget}.jsonl"
    events_file.touch()
    request = sample_request(8)
    run = DeliveryRun(request=request, run_id="status-run", parallel_chunks=1)
    with DevHostProcess(STATUS_APP, tmp_path / f"host-{budget}", max_activities=2,
                        env={"STATUS_EVENTS": str(events_file),
                             "STATUS_BUDGET": budget}) as host:
        start_orchestration(host, "delivery", "status-run", run.to_json())
        status = host.wait_for("status-run", timeout=60)
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    return status, events


@pytest.mark.slow
def test_the_status_stays_within_its_budget_and_the_website_is_told(tmp_path):
    status, events = run_delivery(tmp_path, "on")
    assert status["runtimeStatus"] == "Failed"
    assert [event["kind"] for event in events] == ["failures-recorded", "discarded", "reported",
                                                   "notified"]
    assert "20 of 20 files were not delivered" in events[-2]["error_message"]
    assert "20 of 20 files" in status["output"]
    assert len(json.dumps(status["customStatus"])) <= STATUS_BUDGET_CHARS
    assert status["customStatus"]["files_failed"] == 20


@pytest.mark.slow
def test_without_the_budget_the_instance_fails_on_its_status_as_on_azure(tmp_path):
    status, events = run_delivery(tmp_path, "off")
    assert status["runtimeStatus"] == "Failed"
    assert "reported" not in [event["kind"] for event in events]  # the website is never told
    assert "must not exceed 16 KB" in status["output"]
