"""``--split-instances``: HTTP triggers and Durable functions in separate processes.

On Flex Consumption, per-function scaling puts all HTTP triggers on one group of instances
and all Durable triggers (orchestrations, activities, entities) on another; every other
function scales on its own ("Per-function scaling",
https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#per-function-scaling).
The instances share only storage: a module global or a cache filled by an HTTP function is not
there for an activity.

devhost plays that with two processes of the same app: this one (role ``http``) serves the
HTTP triggers, the Durable HTTP API, the Event Grid webhook and the event source; a child
(role ``durable``) runs orchestrations and activities. They share only the SQLite state file
(the task hub) and Azurite. The child listens on a private port for its status only, and its
log lines say ``devhost[durable]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger("devhost")

REPO_ROOT = Path(__file__).resolve().parent.parent


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def durable_command(args: argparse.Namespace, state_path: Path, port: int) -> list[str]:
    """The command line of the durable instance: the same app, settings and state."""
    command = [sys.executable, "-m", "devhost", "--role", "durable", "--app", str(args.app),
               "--host", args.host, "--port", str(port), "--state", str(state_path)]
    for option, value in (("--settings", args.settings), ("--max-activities", args.max_activities),
                          ("--task-hub", args.task_hub),
                          ("--function-timeout", args.function_timeout)):
        if value is not None:
            command += [option, str(value)]
    if args.queue_polling:
        command.append("--queue-polling")
    return command


class DurableInstance:
    """The child process that runs orchestrations and activities."""

    def __init__(self, args: argparse.Namespace, state_path: Path):
        self.port = _free_port(args.host)
        self.host = args.host
        self.command = durable_command(args, state_path, self.port)
        self.process: subprocess.Popen | None = None

    async def start(self, timeout: float = 60) -> DurableInstance:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(self.command, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the durable instance exited at start "
                                   f"({self.process.returncode})")
            if _answers(self.host, self.port):
                log.info("durable instance running (pid %d, port %d)", self.process.pid,
                         self.port)
                return self
            await asyncio.sleep(0.1)
        self.stop()
        raise TimeoutError("the durable instance did not start")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
