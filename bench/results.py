"""What one measured run and one scenario produced (plain data, saved as JSON)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# a run's kind beside "app", "alone" and the baselines' names: the tuned script of a concurrent
# scenario's smallest delivery, alone
SCRIPT_ALONE = "script-alone"


@dataclass
class RunResult:
    kind: str  # "app" or a baseline's name
    label: str
    seconds: float  # POST to Completed for the app; listing to last commit for a baseline
    completed: bool = True
    files_done: int = 0
    bytes_done: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process, "others"
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    traffic: dict[str, Any] | None = None  # accounting.split_traffic
    verify_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    # the app only
    vm_hwm: int = 0
    peak_rss: int = 0
    peak_rss_at: float = 0.0
    idle_rss: int = 0
    peak_threads: int = 0
    rss_trace: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)
    direct_connections: int = 0
    phases: list[tuple[str, float]] = field(default_factory=list)
    copying_seconds: float = 0.0
    longest_status_interval: float = 0.0  # while bytes moved, as the poller saw it
    longest_status_interval_at: float = 0.0
    status_changes: int = 0
    # the orchestrator's custom status, as the Durable API (and the portal) shows it
    longest_custom_status_interval: float = 0.0
    longest_custom_status_interval_at: float = 0.0
    custom_status_changes: int = 0
    polls: int = 0
    host_log: dict[str, Any] = field(default_factory=dict)  # sampling.HostLog
    unit_bytes: int = 0  # the largest work unit's bytes (for the activity figure)
    # several deliveries at once: each one's figures (`bench.watch.Watch.summary`; for a
    # baseline, its script's seconds)
    deliveries: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ScenarioResult:
    name: str
    about: str
    machine: str
    date: str
    command: str
    files: int
    bytes: int
    classes: dict[str, dict[str, int]]  # class -> files, bytes
    app_settings: dict[str, str]
    order: list[str]
    targets: dict[str, float]
    seed_seconds: float
    runs: list[RunResult]
    wall_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> ScenarioResult:
        runs = [RunResult(**run) for run in saved.pop("runs")]
        return cls(**saved, runs=runs)
