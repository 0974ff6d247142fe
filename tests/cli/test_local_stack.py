"""`ddd-transfer local up` as a newcomer runs it: from any folder, twice, and again at once
after `local down`, over the data the last stack left."""

from __future__ import annotations

import os
import signal
from dataclasses import asdict

import pytest
import requests

from ddd_cli.local_stack import LocalPorts, _alive
from tests.cli.stack_commands import REPO, CommandLine, ok, plain_bind_works, tcp_states

pytestmark = pytest.mark.slow
PAYLOAD = str(REPO / "demo" / "payload.json")


def test_local_up_again_on_a_running_stack_changes_nothing(command_line: CommandLine,
                                                           port_offset: int):
    # a relative state directory, in a folder that is not the checkout
    assert not command_line.state_dir.is_absolute() and command_line.cwd != REPO
    try:
        first = ok(command_line("local", "up", "--port-offset", str(port_offset)))
        state = command_line.state()
        assert state["logs"] == str(command_line.cwd / command_line.state_dir)
        assert "already up" not in first

        again = ok(command_line("local", "up", "--port-offset", str(port_offset)))
        assert "the local stack is already up" in again and "nothing changed" in again
        assert command_line.state() == state  # the same processes, ports and keys
        assert state["keys"]["functionKey"] in again and state["urls"]["app"] in again
        assert all(_alive(pid) for pid in state["processes"].values())

        elsewhere = command_line("local", "up", "--port-offset", str(port_offset + 50))
        assert elsewhere.returncode == 1
        assert "already up on other ports" in elsewhere.stderr

        # devhost dies (its process group, as a crash would): up stops the rest and starts over
        os.killpg(state["processes"]["devhost"], signal.SIGKILL)
        restarted = ok(command_line("local", "up", "--port-offset", str(port_offset)))
        assert "the last local stack is partly down (devhost" in restarted
        assert "stopping azurite, website, keyvault, email and starting it again" in restarted
        renewed = command_line.state()
        assert not set(renewed["processes"].values()) & set(state["processes"].values())
        assert all(_alive(pid) for pid in renewed["processes"].values())
        assert not [pid for pid in state["processes"].values() if _alive(pid)]
    finally:
        down = ok(command_line("local", "down"))
    assert "devhost" in down and "azurite" in down
    assert f"kept: storage and deliveries in {command_line.cwd / command_line.state_dir}" in down


def test_local_up_right_after_down_starts_again_over_the_kept_data(command_line: CommandLine,
                                                                   port_offset: int):
    ports = list(asdict(LocalPorts().shifted(port_offset)).values())
    try:
        seeded = ok(command_line("local", "up", "--port-offset", str(port_offset)))
        assert "seeded 16 files under sequencingcore/deliveries/jdoe/mouse-rnaseq" in seeded
        delivered = ok(command_line("start", "--json", PAYLOAD, "--wait"))
        assert "Completed: delivered; 16 of 16 files verified" in delivered
        # the website stand-in speaks HTTP/1.0: it closes first, so its side of the
        # connection waits in TIME-WAIT on its port (as the app's report to it does)
        requests.get(command_line.state()["urls"]["website"], timeout=10)
    finally:
        ok(command_line("local", "down"))
    assert any("TIME_WAIT" in tcp_states(port) for port in ports)
    assert not all(plain_bind_works(port) for port in ports), \
        "a port check without SO_REUSEADDR would refuse the stack's ports now"
    try:
        again = ok(command_line("local", "up", "--port-offset", str(port_offset)))
        assert "kept the run seeded under sequencingcore/deliveries/jdoe/mouse-rnaseq" in again
        # the same folder again, a new attempt: the earlier delivery is verified and reported
        redelivered = ok(command_line("start", "--json", PAYLOAD, "--wait"))
        assert "Completed: delivered; 16 of 16 files verified" in redelivered
        assert "Already delivered" in redelivered
        listed = ok(command_line("list", "--status", "completed"))
        assert len(listed.splitlines()) == 2  # devhost kept the first stack's delivery
    finally:
        ok(command_line("local", "down"))
