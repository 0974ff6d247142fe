"""The copy window and its progress measurement, with and without an activity slot to spare.

`measure_progress` is an activity like the copy units. By default the window leaves it a slot
(`DDD_PARALLEL_CHUNKS` 8 against host.json's 9), so the status moves at every tick even while
no unit ends. When an operator sets more units in flight than the host has slots, the
measurement queues behind them: here 2 slots and 4 units in flight, the first unit's end must
reach the status while the measurement started before it is still waiting, and a measurement
of a unit that has ended since must not count that unit's bytes twice.
"""

import json
import time
from pathlib import Path

from devhost.launcher import DevHostProcess
from shared.core.run import DeliveryRun
from tests.orchestration.runs import sample_request, start_orchestration

WINDOW_APP = Path(__file__).parent / "window_app" / "function_app.py"


def run_window(tmp_path: Path, units_in_flight: int,
               slots: int) -> tuple[list[dict], list[tuple[float, dict]]]:
    """Run the window app to its end; its activities' events and the custom statuses seen."""
    events_file = tmp_path / "events.jsonl"
    events_file.touch()
    request = sample_request(9)
    run = DeliveryRun(request=request, run_id="window-run", parallel_chunks=units_in_flight,
                      progress_seconds=1)
    statuses: list[tuple[float, dict]] = []
    with DevHostProcess(WINDOW_APP, tmp_path / "host", max_activities=slots,
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
    assert final and final["runtimeStatus"] == "Failed", final
    return [json.loads(line) for line in events_file.read_text().splitlines()], statuses


def test_with_a_slot_to_spare_the_status_moves_before_any_unit_ends(tmp_path):
    events, statuses = run_window(tmp_path, units_in_flight=2, slots=3)
    first_end = next(e["at"] for e in events if e["kind"] == "chunk-copied")
    first_measured = next(e["at"] for e in events if e["kind"] == "measured")
    # the first tick's measurement ran while both units were copying...
    assert first_measured < first_end, events
    # ...and their bytes reached the status before either ended
    shown = next(at for at, custom in statuses if custom.get("bytes_in_flight"))
    assert shown < first_end, (shown, events)


def test_a_unit_end_reaches_the_status_while_the_measurement_waits_for_a_slot(tmp_path):
    events, statuses = run_window(tmp_path, units_in_flight=4, slots=2)
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
