"""What a run costs the machine: CPU per process, the host's memory, other load, the host's
sockets (no bypass of the counting proxy), and what devhost's log says about the orchestration.

Peak memory of devhost is ``VmHWM`` in ``/proc/<pid>/status`` (the kernel's RSS high-water mark
over the process's life: devhost is started fresh for each run) plus a 50 ms RSS sampler.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import KIB

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (every core)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def load_average() -> float:
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])


def status_fields(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)


def kib_field(fields: dict[str, str], name: str) -> int:
    return int(fields[name].split()[0]) * KIB


def child_pids(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as children:
            found += [int(child) for child in children.read().split()]
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def remote_ports_of(inodes: set[str]) -> list[int]:
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows, None)
            for row in rows:
                columns = row.split()
                if len(columns) > 9 and columns[9] in inodes:
                    ports.append(int(columns[2].rsplit(":", 1)[1], 16))
    return ports


class HostSampler:
    """Samples devhost's RSS and threads every 50 ms, and its sockets every 0.5 s (to see that
    none goes to Azurite's port directly, around the counting proxy)."""

    def __init__(self, pid: int, azurite_port: int) -> None:
        self.pid = pid
        self.azurite_port = azurite_port
        self.peak_rss = 0
        self.peak_rss_at = 0.0
        self.peak_threads = 0
        self.direct_connections = 0
        self.samples = 0
        self.trace: list[tuple[float, int]] = []  # (seconds, RSS bytes) every 0.5 s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = 0.0

    def __enter__(self) -> HostSampler:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        next_socket_check = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError, ValueError):
                fields = status_fields(self.pid)
                rss = kib_field(fields, "VmRSS")
                for child in child_pids(self.pid):
                    rss += kib_field(status_fields(child), "VmRSS")
                at = time.perf_counter() - self._started
                if rss > self.peak_rss:
                    self.peak_rss, self.peak_rss_at = rss, at
                if not self.trace or at - self.trace[-1][0] >= 0.5:
                    self.trace.append((round(at, 2), rss))
                self.peak_threads = max(self.peak_threads, int(fields["Threads"]))
                self.samples += 1
                if time.monotonic() >= next_socket_check:
                    next_socket_check = time.monotonic() + 0.5
                    ports = remote_ports_of(socket_inodes(self.pid))
                    self.direct_connections += ports.count(self.azurite_port)
            self._stop.wait(0.05)


@dataclass
class CpuMeter:
    """CPU seconds used by named processes between start() and stop(), and by every other
    process of the machine (the work that shares the CPU with the benchmark)."""

    pids: dict[str, int]
    used: dict[str, float] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and stop
    _start: dict[str, float] = field(default_factory=dict)
    _machine: float = 0.0

    def start(self) -> CpuMeter:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy_seconds()
        self.load = (load_average(), 0.0)
        return self

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        machine = machine_busy_seconds() - self._machine
        self.used["others"] = max(0.0, machine - sum(self.used.values()))
        self.load = (self.load[0], load_average())
        return self.used


# ----- devhost's log ---------------------------------------------------------------------------
EPISODE = re.compile(r"episode (\S+) instance=(\S+) events_in=(\d+) history=(\d+) scheduled=(\d+) "
                     r"status=(\S+) generations=(\d+) wall=([\d.]+)ms cpu=([\d.]+)ms")
ACTIVITY = re.compile(r"activity (\S+) instance=(\S+) task=(\d+) (.+?) (\d+)ms$")


@dataclass
class HostLog:
    """The orchestration as devhost logged it: history sizes, episodes, activity durations."""

    largest_history: int = 0  # events in the largest history an episode replayed
    episodes: int = 0
    generations: int = 1  # executions: 1 + continue-as-new count
    orchestrator_cpu_seconds: float = 0.0
    longest: dict[str, float] = field(default_factory=dict)  # activity -> longest seconds
    activities: dict[str, int] = field(default_factory=dict)  # activity -> count
    failed_activities: int = 0

    @classmethod
    def merged(cls, logs: list[HostLog]) -> HostLog:
        """Several instances' figures as one: the largest history and the longest activities
        of any, the counts added up (generations: the most of any one instance)."""
        found = cls(generations=max((log.generations for log in logs), default=1))
        for log in logs:
            found.largest_history = max(found.largest_history, log.largest_history)
            found.episodes += log.episodes
            found.orchestrator_cpu_seconds += log.orchestrator_cpu_seconds
            found.failed_activities += log.failed_activities
            for name, seconds in log.longest.items():
                found.longest[name] = max(found.longest.get(name, 0.0), seconds)
            for name, count in log.activities.items():
                found.activities[name] = found.activities.get(name, 0) + count
        return found

    @classmethod
    def read(cls, path: Path, instance_id: str) -> HostLog:
        parsed = cls()
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            episode = EPISODE.search(line)
            if episode and episode.group(2) == instance_id:
                parsed.episodes += 1
                parsed.largest_history = max(parsed.largest_history, int(episode.group(4)))
                parsed.orchestrator_cpu_seconds += float(episode.group(9)) / 1000
                # an episode runs the generations after a continue-as-new inline
                parsed.generations += int(episode.group(7)) - 1 + (
                    episode.group(6) == "ContinuedAsNew")
                continue
            activity = ACTIVITY.search(line)
            if activity and activity.group(2) == instance_id:
                name, seconds = activity.group(1), int(activity.group(5)) / 1000
                parsed.longest[name] = max(parsed.longest.get(name, 0.0), seconds)
                parsed.activities[name] = parsed.activities.get(name, 0) + 1
                if activity.group(4) != "completed":
                    parsed.failed_activities += 1
        return parsed
