"""`ddd-transfer start --json demo/payload.json` and `status` against the local stack, as the
quick start runs them: each start a new attempt unless a UUID is given, and progress in units
of bytes with the files, on a terminal and off one."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.cli.stack_commands import CLI, REPO, CommandLine, ok

pytestmark = pytest.mark.slow
PAYLOAD = str(REPO / "demo" / "payload.json")
RAW_COUNTS = re.compile(r"\d{5,}/\d{5,}")  # "602112/1074356224", as click's bar showed them


def started_id(output: str) -> str:
    first = output.splitlines()[0]
    assert first.startswith("started delivery-4321-"), output
    return first.removeprefix("started ")


def test_the_shipped_payload_is_a_new_attempt_each_time_unless_given_a_uuid(
        running_stack: CommandLine, tmp_path):
    # one after the other (a new attempt stops the delivery's running one, as on Azure)
    first = started_id(ok(running_stack("start", "--json", PAYLOAD, "--wait")))
    second = started_id(ok(running_stack("start", "--json", PAYLOAD, "--wait")))  # delivered
    assert first != second
    for instance_id in (first, second):
        uuid.UUID(instance_id.removeprefix("delivery-4321-"))

    chosen = str(uuid.uuid4())
    given = started_id(ok(running_stack("start", "--json", PAYLOAD, "--transfer-uuid", chosen)))
    assert given == f"delivery-4321-{chosen}"
    # a file with a UUID: the same file again is the same attempt
    pinned = tmp_path / "pinned.json"
    pinned.write_text(json.dumps({**json.loads(Path(PAYLOAD).read_text()),
                                  "Webhook_TransferUUID": chosen}))
    assert started_id(ok(running_stack("start", "--json", str(pinned)))) == given


def test_status_off_a_terminal_prints_a_line_a_phase_in_units(running_stack: CommandLine):
    output = ok(running_stack("start", "--json", PAYLOAD, "--wait"))
    lines = output.splitlines()
    assert not RAW_COUNTS.search(output) and "left" not in output
    assert "delivered        64.2 MiB of 64.2 MiB (100%), 16 of 16 files" in lines
    assert "Completed: delivered; 16 of 16 files verified (64.2 MiB)" in lines
    phases = [line.split()[0] for line in lines[2:] if not line.startswith(("Completed", "All"))]
    assert len(phases) == len(set(phases)), f"one line a phase: {lines}"


def test_status_on_a_terminal_rewrites_one_line(running_stack: CommandLine):
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [str(CLI), "--state-dir", str(running_stack.state_dir), "start", "--json", PAYLOAD,
             "--wait"], stdout=terminal, stderr=subprocess.PIPE, cwd=running_stack.cwd,
            env={**os.environ, "COLUMNS": "120"}, timeout=300, check=False)
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert process.returncode == 0, process.stderr
    lines = shown.decode().replace("\r\n", "\n").split("\n")
    assert not RAW_COUNTS.search(shown.decode())
    (progress,) = [line for line in lines if line.startswith("\r")]  # one line, rewritten
    assert progress.split("\r")[-1].rstrip() == \
        "delivered        64.2 MiB of 64.2 MiB (100%), 16 of 16 files"
    assert "Completed: delivered; 16 of 16 files verified (64.2 MiB)" in lines


def test_a_run_completing_is_delivered_by_the_local_standing_rule(running_stack: CommandLine):
    output = ok(running_stack("local", "run-completes", "261206_NB551234_0001_AHTESTTEST"))
    lines = output.splitlines()
    assert lines[0] == ("seeded sequencingcore/runs/NextSeq/261206_NB551234_0001_AHTESTTEST, "
                        "RunCompletionStatus.xml last")
    assert lines[1].startswith("the standing rule starts "
                               "delivery-local-nextseq.261206_NB551234_0001_AHTESTTEST-")
    assert "Completed: delivered; 16 of 16 files verified (64.2 MiB)" in lines
    assert "The source folder was removed (16 files)." in lines
    tested = ok(running_stack("rules", "test", "sequencingcore", "runs",
                              "NextSeq/261206_NB551234_0001_AHTESTTEST/RunCompletionStatus.xml"))
    assert "Already started (Completed)" in tested
