"""How history size drives replay cost in devhost: a fan-out of N trivial activities.

For N = 100, 1,000 and 5,000 it starts the sample app's ``fan_out`` orchestration through
devhost over HTTP and prints, per N: episodes, history events, orchestrator CPU seconds (the
dispatcher thread's CPU time inside episodes, summed from devhost's episode log lines) and
wall seconds from start to completion. The ratio columns compare each N with N = 100 in the
same run. Usage: ``python bench/devhost_overhead.py [N ...]``.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devhost.launcher import DevHostProcess  # noqa: E402

SAMPLE_APP = REPO / "tests" / "devhost" / "sample_app" / "function_app.py"
EPISODE = re.compile(r"episode fan_out instance=(\S+) .* wall=([\d.]+)ms cpu=([\d.]+)ms")


def run_one(host: DevHostProcess, count: int) -> dict:
    started = time.perf_counter()
    answer = requests.post(f"{host.base_url}/api/orchestrators/fan_out",
                           params={"code": host.function_key}, json=count, timeout=60)
    answer.raise_for_status()
    instance_id = answer.json()["id"]
    status = host.wait_for(instance_id, timeout=1800)
    wall = time.perf_counter() - started
    assert status["runtimeStatus"] == "Completed" and len(status["output"]) == count
    history = host.status(instance_id, history=True)["historyEvents"]
    episodes = [m for m in EPISODE.finditer(host.logs()) if m.group(1) == instance_id]
    return {
        "n": count,
        "episodes": len(episodes),
        "history_events": len(history),
        "orchestrator_cpu_s": sum(float(m.group(3)) for m in episodes) / 1000,
        "wall_s": wall,
    }


def main(counts: list[int]) -> None:
    with (tempfile.TemporaryDirectory() as state_dir,
          DevHostProcess(SAMPLE_APP, Path(state_dir), max_activities=8) as host):
        rows = [run_one(host, count) for count in counts]
    base = rows[0]
    print(f"{'N':>6} {'episodes':>9} {'history':>8} {'orch CPU s':>11} {'wall s':>8} "
          f"{'CPU x':>7} {'wall x':>7}")
    for row in rows:
        print(f"{row['n']:>6} {row['episodes']:>9} {row['history_events']:>8} "
              f"{row['orchestrator_cpu_s']:>11.2f} {row['wall_s']:>8.2f} "
              f"{row['orchestrator_cpu_s'] / base['orchestrator_cpu_s']:>7.1f} "
              f"{row['wall_s'] / base['wall_s']:>7.1f}")


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [100, 1000, 5000])
