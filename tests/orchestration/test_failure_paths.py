"""The delivery orchestrator's failure paths, run by devhost with fake activities."""

import json
import uuid
from pathlib import Path

import requests

from devhost.launcher import DevHostProcess
from shared.models import DeliveryRequest
from shared.progress import DeliveryRun

FAULT_APP = Path(__file__).parent / "fault_app" / "function_app.py"


def test_a_failed_unit_lets_those_in_flight_finish_before_cleaning_up(tmp_path):
    events_file = tmp_path / "events.jsonl"
    request = DeliveryRequest.model_validate({
        "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
        "Source_TopLevelFolder": "jdoe/mouse-rnaseq", "Sink_StorageAccount": "labsmith",
        "Sink_FileSystem": "incoming", "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
        "Webhook_DeliveryID": 7, "Webhook_TransferUUID": str(uuid.uuid4())})
    run = DeliveryRun(request=request, run_id="fault-run", parallel_chunks=3)
    with DevHostProcess(FAULT_APP, tmp_path / "host", max_activities=4,
                        env={"FAULT_EVENTS": str(events_file)}) as host:
        started = requests.post(host.webhook("orchestrators/delivery/fault-run"),
                                params={"code": host.system_key}, json=run.to_json(),
                                timeout=30)
        assert started.status_code == 202, started.text
        status = host.wait_for("fault-run", timeout=60)

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "chunk-failed"
    assert sorted(kinds[1:3]) == ["chunk-copied", "chunk-copied"]  # those in flight finished first
    # the operators are mailed once, after the website was told; that mail failing changes
    # nothing of the outcome below
    assert kinds[3:] == ["discarded", "reported", "notified"]
    assert events[-1]["phase"] == "failed"
    last_copy = max(e["at"] for e in events if e["kind"] == "chunk-copied")
    assert next(e["at"] for e in events if e["kind"] == "discarded") >= last_copy
    reported = events[-2]["error_message"]
    assert "storage unavailable for chunk 0" in reported
    assert "can be retried" in reported
    assert status["runtimeStatus"] == "Failed"
    assert status["customStatus"]["phase"] == "failed"
    assert "can be retried" in status["output"]
