"""The `cancel_delivery` orchestrator's steps, run by devhost with fake activities."""

import json
import re
from pathlib import Path

from devhost.launcher import DevHostProcess
from orchestrators.cancel_delivery import LATE_COPIES_GRACE
from shared.core.messages import CancelInput
from tests.orchestration.runs import sample_request, start_orchestration

CANCEL_APP = Path(__file__).parent / "cancel_app" / "function_app.py"
HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"


def test_the_grace_outlasts_any_activity_of_the_stopped_run():
    """Copy activities of a terminated run still finish: the final sweep waits past the
    host's functionTimeout (host.json), after which none can still be running."""
    hours, minutes, seconds = (int(part) for part in re.fullmatch(
        r"(\d+):(\d+):(\d+)", json.loads(HOST_JSON.read_text())["functionTimeout"]).groups())
    assert LATE_COPIES_GRACE.total_seconds() > hours * 3600 + minutes * 60 + seconds


def test_a_cancel_removes_the_copy_tells_the_website_and_mails_then_sweeps(tmp_path):
    events_file = tmp_path / "events.jsonl"
    request = sample_request(9)
    cancel = CancelInput(request=request, run_id="delivery-9-x", reason="wrong lab",
                         progress={"phase": "copying", "files_planned": 4})
    with DevHostProcess(CANCEL_APP, tmp_path / "host",
                        env={"CANCEL_EVENTS": str(events_file)}) as host:
        start_orchestration(host, "cancel_delivery", "cancel-run", cancel.to_json())
        status = host.wait_for("cancel-run", timeout=60)
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["kind"] for e in events] == [
        "discarded-keeping-claim", "reported", "notified", "discarded-all"]
    assert "cancelled by an operator: wrong lab" in events[1]["error_message"]
    assert events[2]["phase"] == "cancelled"
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["removed"] == 5 and status["output"]["phase"] == "done"
