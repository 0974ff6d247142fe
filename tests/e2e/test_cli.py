"""The `ddd-transfer` command line as the README shows it: `local up`, `start`, `status` to the
end, `list`, `local down`, and nothing left running afterwards."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ddd_cli.local_stack import _alive
from tests.cli.stack_commands import CLI, CommandLine, free_port_offset

pytestmark = pytest.mark.slow


def run(state_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return CommandLine(cwd=state_dir.parent, state_dir=state_dir)(*args, timeout=timeout)


def test_local_up_start_status_list_and_down_leave_nothing_running(tmp_path):
    assert CLI.exists(), "make setup installs the ddd-transfer console script"
    state_dir = tmp_path / "stack"
    up = run(state_dir, "local", "up", "--port-offset", str(free_port_offset()))
    state = json.loads((state_dir / "stack.json").read_text()) if up.returncode == 0 else None
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert state["keys"]["functionKey"] in up.stdout
        assert state["urls"]["app"] in up.stdout
        payload = tmp_path / "payload.json"
        payload.write_text(json.dumps({
            "Source_StorageAccount": "sequencingcore", "Source_FileSystem": "deliveries",
            "Source_TopLevelFolder": "jdoe/mouse-rnaseq", "Sink_StorageAccount": "labsmith",
            "Sink_FileSystem": "incoming", "Sink_TopLevelFolder": "jdoe/mouse-rnaseq",
            "Webhook_DeliveryID": 4321}))
        started = run(state_dir, "start", "--json", str(payload))
        assert started.returncode == 0, started.stdout + started.stderr
        instance_id = started.stdout.split()[1]
        assert instance_id.startswith("delivery-4321-")
        status = run(state_dir, "status", instance_id)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Completed: delivered; 16 of 16 files verified" in status.stdout
        listed = run(state_dir, "list", "--status", "completed")
        assert instance_id in listed.stdout
        mails = list(Path(state["mailDir"]).glob("*.json"))
        assert len(mails) == 1 and "4321 was delivered" in mails[0].read_text()
    finally:
        down = run(state_dir, "local", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "devhost" in down.stdout and "azurite" in down.stdout
    assert not (state_dir / "stack.json").exists()
    assert not [name for name, pid in state["processes"].items() if _alive(pid)]
    survivors = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(state_dir) not in survivors


def test_commands_without_a_stack_or_url_say_what_to_do(tmp_path):
    answer = run(tmp_path / "none", "list")
    assert answer.returncode != 0
    assert "ddd-transfer local up" in answer.stderr
