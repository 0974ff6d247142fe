"""The delivery orchestrator's failure paths, run by devhost with fake activities."""

import json
from pathlib import Path

from devhost.launcher import DevHostProcess
from shared.core.run import DeliveryRun
from tests.orchestration.runs import sample_request, start_orchestration

FAULT_APP = Path(__file__).parent / "fault_app" / "function_app.py"


def test_a_failed_unit_lets_those_in_flight_finish_before_cleaning_up(tmp_path):
    events_file = tmp_path / "events.jsonl"
    request = sample_request(7)
    run = DeliveryRun(request=request, run_id="fault-run", parallel_chunks=3,
                      outage_wait_seconds=1)
    with DevHostProcess(FAULT_APP, tmp_path / "host", max_activities=4,
                        env={"FAULT_EVENTS": str(events_file)}) as host:
        start_orchestration(host, "delivery", "fault-run", run.to_json())
        status = host.wait_for("fault-run", timeout=60)

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    # the failing unit is tried again after a durable timer until its outage window (1 s here)
    # is over; meanwhile the others copy, and they finish before the clean-up
    assert kinds[:2] == ["chunk-failed", "chunk-failed"]
    assert sorted(kinds[2:4]) == ["chunk-copied", "chunk-copied"]
    # the operators are mailed once, after the website was told; that mail failing changes
    # nothing of the outcome below
    assert kinds[4:] == ["discarded", "reported", "notified"]
    assert events[-1]["phase"] == "failed"
    last_copy = max(e["at"] for e in events if e["kind"] == "chunk-copied")
    assert next(e["at"] for e in events if e["kind"] == "discarded") >= last_copy
    reported = events[-2]["error_message"]
    assert "still failed after 2 tries" in reported
    assert "storage unavailable for chunk 0" in reported
    assert "Nothing of this attempt is left in the destination" in reported
    assert status["runtimeStatus"] == "Failed"
    assert status["customStatus"]["phase"] == "failed"
    assert "restart of the delivery starts it again" in status["output"]
