"""Run devhost as a child process (for tests, the demo and benchmarks)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DevHostProcess:
    """A devhost child process with its own port, state file and log file.

    Its keys are attributes: ``function_key``, ``master_key``, ``system_key`` (the Durable
    extension's ``durabletask_extension``) and ``eventgrid_key`` (the Event Grid extension's
    ``eventgrid_extension``; ``eventgrid_webhook(name)`` is the URL Event Grid delivers to).
    ``split_instances`` runs the Durable functions in a second process; ``queue_polling`` finds
    orchestration work as the Azure Storage queues are polled.
    """

    def __init__(self, app_path: Path, state_dir: Path, env: dict[str, str] | None = None,
                 port: int | None = None, max_activities: int | None = None,
                 function_key: str = "local-function-key", system_key: str = "local-system-key",
                 function_timeout: str | None = None, master_key: str = "local-master-key",
                 eventgrid_key: str = "local-eventgrid-key", split_instances: bool = False,
                 queue_polling: bool = False):
        self.app_path = app_path
        self.state_dir = state_dir
        self.port = port or free_port()
        self.function_key = function_key
        self.system_key = system_key
        self.master_key = master_key
        # the eventgrid_extension system key: what Event Grid's webhook URL carries as code=
        self.eventgrid_key = eventgrid_key
        self.max_activities = max_activities
        self.function_timeout = function_timeout
        # HTTP triggers and Durable functions in two processes (devhost --split-instances)
        self.split_instances = split_instances
        # orchestration work found as the Azure Storage queues are polled (--queue-polling)
        self.queue_polling = queue_polling
        self.log_path = state_dir / "devhost.log"
        self.env = {**os.environ, **(env or {}),
                    "DEVHOST_FUNCTION_KEY": function_key, "DEVHOST_SYSTEM_KEY": system_key,
                    "DEVHOST_MASTER_KEY": master_key, "DEVHOST_EVENTGRID_KEY": eventgrid_key,
                    "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> DevHostProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "devhost", "--app", str(self.app_path),
                   "--port", str(self.port), "--state", str(self.state_dir / "state.sqlite3")]
        if self.max_activities:
            command += ["--max-activities", str(self.max_activities)]
        if self.function_timeout:
            command += ["--function-timeout", self.function_timeout]
        if self.split_instances:
            command.append("--split-instances")
        if self.queue_polling:
            command.append("--queue-polling")
        repo_root = Path(__file__).resolve().parent.parent
        env = {**self.env, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(repo_root), self.env.get("PYTHONPATH")]))}
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(command, cwd=self.app_path.parent, env=env,
                                            stdout=log_file, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"devhost exited at start:\n{self.logs()[-3000:]}")
            try:
                if requests.get(self.base_url + "/", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"devhost did not answer on {self.base_url}:\n{self.logs()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a host machine dies."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> DevHostProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def eventgrid_webhook(self, function_name: str) -> str:
        """The URL an Event Grid subscription delivers to, with its key, as on Azure."""
        return (f"{self.base_url}/runtime/webhooks/eventgrid?functionName={function_name}"
                f"&code={self.eventgrid_key}")

    # the Durable HTTP API, as a client of the public webhook URLs ----------------------------
    def webhook(self, path: str) -> str:
        return f"{self.base_url}/runtime/webhooks/durabletask/{path.lstrip('/')}"

    def status(self, instance_id: str, history: bool = False) -> dict | None:
        params = {"code": self.system_key}
        if history:
            params.update(showHistory="true", showHistoryOutput="true")
        answer = requests.get(self.webhook(f"instances/{instance_id}"), params=params, timeout=30)
        if answer.status_code == 404:
            return None
        return answer.json()

    def wait_for(self, instance_id: str, timeout: float = 60,
                 until: tuple[str, ...] = ("Completed", "Failed", "Terminated")) -> dict:
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.status(instance_id)
            if status and status["runtimeStatus"] in until:
                return status
            time.sleep(0.1)
        raise TimeoutError(f"{instance_id} still {status and status['runtimeStatus']} after "
                           f"{timeout}s:\n{self.logs()[-3000:]}")
