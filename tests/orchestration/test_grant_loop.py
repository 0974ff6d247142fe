"""The end of a delivery that succeeded, run by devhost with fake activities: folders are made
after copying, read access is granted after the manifest and before the folder is sealed and the
website told, in as many calls as the service's continuation asks for; a grant that still fails
after its outage window is a failed delivery."""

import json
from pathlib import Path

import pytest

from devhost.launcher import DevHostProcess
from shared.core.run import DeliveryRun
from tests.orchestration.runs import sample_request, start_orchestration

GRANT_APP = Path(__file__).parent / "grant_app" / "function_app.py"


def run_delivery(tmp_path: Path, **env: str) -> tuple[list[dict], dict]:
    events_file = tmp_path / "events.jsonl"
    request = sample_request(8)
    run = DeliveryRun(request=request, run_id="grant-run", outage_wait_seconds=1)
    with DevHostProcess(GRANT_APP, tmp_path / "host", max_activities=4,
                        env={"GRANT_EVENTS": str(events_file), **env}) as host:
        start_orchestration(host, "delivery", "grant-run", run.to_json())
        status = host.wait_for("grant-run", timeout=60)
    return [json.loads(line) for line in events_file.read_text().splitlines()], status


@pytest.mark.slow
def test_grants_follow_the_services_continuation_before_the_website_is_told(tmp_path):
    events, status = run_delivery(tmp_path)
    assert [(e["kind"], e.get("continuation")) for e in events] == [
        ("folders-created", None), ("manifest-written", None), ("granted", None),
        ("granted", "part-2"), ("granted", "part-3"), ("sealed", None), ("reported", None)]
    assert events[-1]["error_message"] is None
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["phase"] == "delivered"


@pytest.mark.slow
def test_a_grant_that_fails_fails_the_delivery_and_leaves_nothing(tmp_path):
    events, status = run_delivery(tmp_path, GRANT_FAILS="1")
    # tried again once within the (1 s) outage window, then the delivery fails: no seal
    assert [e["kind"] for e in events] == [
        "folders-created", "manifest-written", "granted", "granted", "discarded", "reported"]
    assert "AuthorizationPermissionMismatch" in events[-1]["error_message"]
    assert status["runtimeStatus"] == "Failed"
    assert status["customStatus"]["phase"] == "failed"
