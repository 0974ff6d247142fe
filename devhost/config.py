"""Settings for devhost: ``local.settings.json`` Values, host.json and the environment."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from .front_end import front_end_seconds
from .limits import DEFAULT_FUNCTION_TIMEOUT, function_timeout, parse_timespan
from .queue_polling import DEFAULT_MAX_POLLING_INTERVAL, POLLING_SETTING
from .worker_pool import THREAD_COUNT_SETTING, worker_pool_size

# how the processes of a devhost share the work: "single" runs everything; with
# --split-instances the "http" process serves HTTP (and Event Grid) triggers and the
# "durable" one runs orchestrations and activities, as Flex Consumption's per-function scaling
# puts them on different instances
ROLES = ("single", "http", "durable")


class HostConfigError(ValueError):
    """A setting the host (or the Durable extension) refuses at start."""


@dataclass(frozen=True)
class HostOptions:
    """How one devhost process runs (the command-line options, resolved)."""

    app_path: Path
    state_path: Path
    host: str = "127.0.0.1"
    port: int = 7071
    max_activities: int = 8
    task_hub: str = "devhost"
    # host.json overridableExistingInstanceStates: the extension's default AnyState lets a
    # start with the id of a running instance replace it; NonRunningStates refuses that
    replace_running: bool = True
    # host.json functionTimeout (None: no limit); the host's default is 30 minutes
    function_timeout: timedelta | None = DEFAULT_FUNCTION_TIMEOUT
    function_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    master_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    system_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # the system key the host creates for the Event Grid extension's webhook
    eventgrid_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # the Python worker's thread pool for sync functions (PYTHON_THREADPOOL_THREAD_COUNT)
    worker_threads: int = 5
    # look for orchestration work as the Azure Storage provider polls its queues
    queue_polling: bool = False
    max_queue_polling_interval: timedelta = DEFAULT_MAX_POLLING_INTERVAL
    # the front end's limit on an HTTP response (None: no limit)
    front_end_seconds: float | None = 230.0
    role: str = "single"

    @property
    def serves_http(self) -> bool:
        return self.role in ("single", "http")

    @property
    def runs_durable(self) -> bool:
        return self.role in ("single", "durable")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def read_local_settings(app_dir: Path, settings_file: Path | None = None) -> dict[str, str]:
    """The ``Values`` of local.settings.json, as ``func start`` reads them (missing file: none)."""
    path = settings_file or app_dir / "local.settings.json"
    if not path.is_file():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    values = document.get("Values") or {}
    return {str(name): "" if value is None else str(value) for name, value in values.items()}


def apply_settings(values: dict[str, str]) -> None:
    """Export settings to the environment; a variable already set in the environment wins."""
    for name, value in values.items():
        os.environ.setdefault(name, value)


def read_host_json(app_dir: Path) -> dict[str, Any]:
    path = app_dir / "host.json"
    if not path.is_file():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    return document if isinstance(document, dict) else {}


def durable_settings(host_json: dict[str, Any]) -> dict[str, Any]:
    return (host_json.get("extensions") or {}).get("durableTask") or {}


def build_options(
    app_path: Path,
    state_path: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 7071,
    max_activities: int | None = None,
    task_hub: str | None = None,
    timeout: str | None = None,
    queue_polling: bool = False,
    role: str = "single",
) -> HostOptions:
    """Resolve options: command line first, then host.json, then the settings, then defaults.

    ``functionTimeout`` comes from ``timeout`` (``--function-timeout``), else the environment
    variable ``DEVHOST_FUNCTION_TIMEOUT`` (for tests), else host.json; a TimeSpan text either
    way, checked as the host checks it. Queue polling is on with ``queue_polling``
    (``--queue-polling``) or ``DEVHOST_QUEUE_POLLING``; its ceiling is host.json
    ``extensions.durableTask.storageProvider.maxQueuePollingInterval``.
    """
    app_dir = app_path.parent
    host_json = read_host_json(app_dir)
    durable = durable_settings(host_json)
    configured_timeout = (timeout or os.environ.get("DEVHOST_FUNCTION_TIMEOUT")
                          or host_json.get("functionTimeout"))
    keys = {
        "function_key": os.environ.get("DEVHOST_FUNCTION_KEY"),
        "master_key": os.environ.get("DEVHOST_MASTER_KEY"),
        "system_key": os.environ.get("DEVHOST_SYSTEM_KEY"),
        "eventgrid_key": os.environ.get("DEVHOST_EVENTGRID_KEY"),
    }
    return HostOptions(
        app_path=app_path,
        state_path=state_path or app_dir / ".devhost" / "state.sqlite3",
        host=host,
        port=port,
        max_activities=max_activities or int(durable.get("maxConcurrentActivityFunctions", 8)),
        task_hub=task_hub or str(durable.get("hubName", "devhost")),
        replace_running=str(durable.get("overridableExistingInstanceStates", "AnyState"))
        .lower() != "nonrunningstates",
        function_timeout=function_timeout(
            None if configured_timeout is None else str(configured_timeout)),
        worker_threads=worker_pool_size(os.environ.get(THREAD_COUNT_SETTING)),
        queue_polling=queue_polling or _flag(os.environ.get(POLLING_SETTING)),
        max_queue_polling_interval=max_polling_interval(durable),
        front_end_seconds=front_end_seconds(),
        role=role,
        **{name: value for name, value in keys.items() if value},
    )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def max_polling_interval(durable: dict[str, Any]) -> timedelta:
    """host.json ``storageProvider.maxQueuePollingInterval``; the extension refuses zero or
    less at start ("MaxQueuePollingInterval must be non-negative.",
    ``Options/AzureStorageOptions.cs``)."""
    configured = (durable.get("storageProvider") or {}).get("maxQueuePollingInterval")
    if configured is None:
        return DEFAULT_MAX_POLLING_INTERVAL
    try:
        value = parse_timespan(str(configured))
    except ValueError as exc:
        raise HostConfigError(f"maxQueuePollingInterval: {exc}") from exc
    if value <= timedelta(0):
        raise HostConfigError("MaxQueuePollingInterval must be non-negative.")
    return value
