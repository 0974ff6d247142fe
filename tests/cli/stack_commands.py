"""The `ddd-transfer` console script as a newcomer runs it, and what the tests read around it:
free port ranges for a local stack, and the sockets the kernel keeps in TIME-WAIT."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ddd_cli.local_stack import LocalPorts

CLI = Path(sys.executable).parent / "ddd-transfer"
REPO = Path(__file__).resolve().parents[2]
TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "0A": "LISTEN"}


@dataclass(frozen=True)
class CommandLine:
    """`ddd-transfer --state-dir <state_dir> ...` run in `cwd` (the state directory may be
    relative to it, as the default `.ddd-local` is)."""

    cwd: Path
    state_dir: Path

    def __call__(self, *args: str, timeout: float = 300,
                 stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), "--state-dir", str(self.state_dir), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=self.cwd,
                              input=stdin)

    def state(self) -> dict[str, Any]:
        """What `local up` wrote to stack.json."""
        state: dict[str, Any] = json.loads((self.cwd / self.state_dir / "stack.json").read_text())
        return state


def ok(answer: subprocess.CompletedProcess[str]) -> str:
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


def plain_bind_works(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound without SO_REUSEADDR (TIME-WAIT blocks that)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_offset() -> int:
    """A --port-offset at which every port of the stack is free (no socket at all on it)."""
    for _ in range(50):
        # below the ephemeral range (32768 and up), where client sockets could take a port
        offset = random.randrange(12000, 22000, 100)
        if all(plain_bind_works(port) for port in asdict(LocalPorts().shifted(offset)).values()):
            return offset
    raise RuntimeError("no free port range")


def unused_port() -> int:
    """A port no socket uses, below the ephemeral range (where another process's client
    socket could take it any time)."""
    for _ in range(100):
        port = random.randrange(12000, 32000)
        if not tcp_states(port) and plain_bind_works(port):
            return port
    raise RuntimeError("no unused port")


def tcp_states(port: int) -> list[str]:
    """The states of the IPv4 TCP sockets whose local port is `port` (Linux: /proc/net/tcp)."""
    states = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            states.append(TCP_STATES.get(fields[3], fields[3]))
    return states


def leave_in_time_wait(port: int) -> None:
    """A connection to 127.0.0.1:`port` that the server's side closes first, as an HTTP/1.0
    server or a stopped one does: its socket stays in TIME-WAIT on `port` for a minute."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        with socket.create_connection(("127.0.0.1", port)) as client:
            served, _ = listener.accept()
            served.close()  # the server's side first: TIME-WAIT is on its side, on `port`
            assert client.recv(1) == b""
