"""Fixtures of the command line's tests.

- `command_line`: `ddd-transfer` run in a fresh folder with a relative `--state-dir` (as the
  default `.ddd-local` is), no stack up.
- `port_offset`: a `--port-offset` at which every port of the local stack is free.
- `running_stack`: one local stack for a test module (`local up` in a fresh folder, `local
  down` after the module's tests), as a `CommandLine` of that folder.
- `port_in_time_wait`: a port with a socket in TIME-WAIT on it and nothing listening, as the
  ports of a stack are for a minute after `local down`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.stack_commands import (
    CommandLine,
    free_port_offset,
    leave_in_time_wait,
    ok,
    plain_bind_works,
    tcp_states,
    unused_port,
)


@pytest.fixture
def command_line(tmp_path: Path) -> CommandLine:
    return CommandLine(cwd=tmp_path, state_dir=Path("stack"))


@pytest.fixture
def port_offset() -> int:
    return free_port_offset()


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CommandLine]:
    stack = CommandLine(cwd=tmp_path_factory.mktemp("stack"), state_dir=Path(".ddd-local"))
    try:
        ok(stack("local", "up", "--port-offset", str(free_port_offset())))
        yield stack
    finally:
        stack("local", "down")


@pytest.fixture
def port_in_time_wait() -> int:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("reads the sockets' states from Linux's /proc/net/tcp")
    port = unused_port()
    leave_in_time_wait(port)
    assert "TIME_WAIT" in tcp_states(port) and "LISTEN" not in tcp_states(port)
    assert not plain_bind_works(port), "TIME-WAIT keeps a bind without SO_REUSEADDR off it"
    return port
