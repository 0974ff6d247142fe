"""Settings for devhost: ``local.settings.json`` Values, host.json and the environment."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from .limits import DEFAULT_FUNCTION_TIMEOUT, function_timeout


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
) -> HostOptions:
    """Resolve options: command line first, then host.json, then the settings, then defaults.

    ``functionTimeout`` comes from ``timeout`` (``--function-timeout``), else the environment
    variable ``DEVHOST_FUNCTION_TIMEOUT`` (for tests), else host.json; a TimeSpan text either
    way, checked as the host checks it.
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
        **{name: value for name, value in keys.items() if value},
    )
