"""The copy window keeps handling unit ends while its progress measurement waits.

`measure_progress` is an activity like the copy units: when more units are in flight than the
host has activity slots (`DDD_PARALLEL_CHUNKS` 16 against host.json's 8), the measurement
queues behind them. Here 2 slots and 4 units in flight: the first unit's end must reach the
status while the measurement started before it is still waiting, and a measurement of a unit
that has ended since must not count that unit's bytes twice.
"""

import json
import time
from pathlib import Path

from devhost.launcher import DevHostProcess
from shared.progress import DeliveryRun
from tests.orchestration.runs import sample_request, start_orchestration

WINDOW_APP = Path(__file__).parent / "window_app" / "function_app.py"


def test_a_unit_end_reaches_the_status_while_the_measurement_waits_for_a_slot(tmp_path):
    events_file = tmp_path / "events.jsonl"
    events_file.touch()
    request = sample_request(9)
    run = DeliveryRun(request=request, run_id="window-run", parallel_chunks=4,
                      progress_seconds=1)
    statuses: list[tuple[float, dict]] = []
    with DevHostProcess(WINDOW_APP, tmp_path / "host", max_activities=2,
                        env={"WINDOW_EVENTS": str(events_file)}) as host:
        start_orchestration(host, "delivery", "window-run", run.to_json())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = host.status("window-run") or {}
            statuses.append((time.time(), status.get("customStatus") or {}))
            if status.get("runtimeStatus") not in (None, "Pending", "Running"):
                break
            time.sleep(0.1)
        final = host.status("window-run")
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert final and final["runtimeStatus"] == "Failed", final

    first_end = next(e["at"] for e in events if e["kind"] == "chunk-copied")
    first_measured = next(e for e in events if e["kind"] == "measured")
    # the measurement queued behind chunks 2 and 3 ran after chunk 0 had ended...
    assert first_measured["at"] > first_end, events
    # ...and chunk 0's end was in the status before it ran: nothing waited for it
    shown_done = next(at for at, custom in statuses if (custom.get("units_done") or 0) >= 1)
    assert shown_done < first_measured["at"], (shown_done, events)
    # the status names the units in flight from their start, before any has ended (the
    # status endpoint reads the progress of the units it names; a unit can run for minutes)
    named = next(at for at, custom in statuses if custom.get("units_in_flight"))
    assert named < first_end, (named, first_end)
    # bytes never exceed what was planned: a measured unit that had ended is not counted twice
    assert all((custom.get("bytes_copied") or 0) <= (custom.get("bytes_planned") or 0)
               for _, custom in statuses), statuses
