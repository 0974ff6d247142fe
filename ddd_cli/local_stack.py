"""`ddd-transfer local up` / `local down`: the whole local stack as background processes.

Up starts, each in its own process group, and waits until each answers: Azurite (the app's,
the core's and a lab's accounts, with Azurite's published development key), the website
stand-in, the Key Vault stand-in (holding the website token) and the e-mail stand-in (HTTPS,
one self-signed certificate), then devhost with the app. It seeds a sequencing run (unless told
not to) and writes what it started, the ports, URLs and keys to `<state dir>/stack.json`
(owner-only), which the other commands read. Down stops every process recorded there (SIGTERM,
then SIGKILL after 10 s) and removes the file. Ports come from `LocalPorts`, shifted together
by `--port-offset`.

Up is idempotent: on a stack that is up it changes nothing and answers with its state; over
what an earlier stack left in the state directory (Azurite's data, devhost's state, a
stack.json whose processes are gone) it starts again, keeping the data. Right after `down` the
ports are free for it although the last connections still sit in TIME-WAIT: its port check
binds as the servers do (`port_is_free`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from shared.core.rules import StandingRule, event_subscriptions

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

REPO = Path(__file__).resolve().parent.parent
STATE_FILE = "stack.json"
DEFAULT_STATE_DIR = Path(".ddd-local")
SOURCE_ACCOUNT, SINK_ACCOUNT, WORK_ACCOUNT = "sequencingcore", "labsmith", "devstoreaccount1"
SINK_CONTAINER = "incoming"
RULE_CONTAINER = "runs"  # the local standing rule's source container
RUN_COMPLETED = "run_completed"  # the app's Event Grid function
RUN_FLAG = "RunCompletionStatus.xml"  # a NextSeq's completion flag
# a standing rule to try locally: a run folder under runs/NextSeq whose flag lands is delivered
# to incoming/nextseq/<run>, the source removed once it verified, the operators told
LOCAL_RULES: list[dict[str, Any]] = [{
    "name": "local-nextseq",
    "source": {"account": SOURCE_ACCOUNT, "container": RULE_CONTAINER, "prefix": "NextSeq"},
    "flags": [RUN_FLAG],
    "sink": {"account": SINK_ACCOUNT, "container": SINK_CONTAINER, "folder": "nextseq/{run}"},
    "move": True, "notify": {"kind": "operators"}}]
WEBSITE_TOKEN_SECRET = "d4s2-api-token"
MAIL_SENDER = "DoNotReply@ddd-local.azurecomm.net"
OPERATORS = "ops@example.edu"
READY_SECONDS = 60
STOP_SECONDS = 10


@dataclass(frozen=True)
class LocalPorts:
    """Every port of the local stack, in one place."""

    devhost: int = 7071
    website: int = 8000
    keyvault: int = 8443
    email: int = 8444
    azurite_blob: int = 10000
    azurite_queue: int = 10001
    azurite_table: int = 10002

    def shifted(self, offset: int) -> LocalPorts:
        return replace(self, **{f.name: getattr(self, f.name) + offset for f in fields(self)})


class StackError(RuntimeError):
    """The stack could not be started or stopped; the message says why."""


def state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_path(state_dir)
    if not path.is_file():
        return None
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def _write_state(state_dir: Path, state: dict[str, Any]) -> None:
    """stack.json, created owner-only (it holds the keys)."""
    path = state_path(state_dir)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as state_file:
        state_file.write(json.dumps(state, indent=2))


def port_is_free(port: int) -> bool:
    """Whether the stack's servers can listen on 127.0.0.1:`port` now.

    The probe binds as they do: with SO_REUSEADDR on POSIX. aiohttp (devhost) listens through
    asyncio's `create_server`, whose `reuse_address` defaults to true on POSIX; the stand-ins
    are `http.server.ThreadingHTTPServer`s (`allow_reuse_address = 1`); Azurite is Node, whose
    libuv sets SO_REUSEADDR on every TCP socket it binds on Unix. So connections of the last
    stack that sit in TIME-WAIT on a port (for a minute after `local down`) do not keep it from
    them, while a socket listening on it (or on 0.0.0.0 at that port) still does. A probe
    without the option would refuse a port they could use. Windows' SO_REUSEADDR would let a
    probe bind over a listener: there, as asyncio does, the probe does not set it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{process.args!r} exited at start:\n{_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise StackError(f"nothing answered on port {port} within {READY_SECONDS} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _spawn(name: str, command: list[str], state_dir: Path, env: dict[str, str] | None = None,
           ) -> tuple[subprocess.Popen[bytes], Path]:
    log = state_dir / f"{name}.log"
    with log.open("ab") as log_file:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **(env or {})},
                                   stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


class StackUp(NamedTuple):
    """What `up` leaves: the stack's state (as in stack.json), and whether it was up already."""

    state: dict[str, Any]
    already_up: bool


def _not_running(state: dict[str, Any]) -> list[str]:
    """The recorded processes that have gone, and the recorded ports nothing answers on."""
    gone = [name for name, pid in state["processes"].items() if not _alive(int(pid))]
    silent = [f"port {port}" for port in state["ports"].values() if not _port_answers(port)]
    return gone + silent


def _take_over_earlier_stack(state_dir: Path, ports: LocalPorts,
                             say: Callable[[str], None]) -> dict[str, Any] | None:
    """The recorded stack when it is up on these ports; otherwise what is left of it is
    stopped and its stack.json removed (its data stays), and None."""
    existing = read_state(state_dir)
    if existing is None:
        return None
    missing = _not_running(existing)
    if not missing:
        if existing["ports"] != asdict(ports):
            raise StackError(f"a local stack is already up on other ports (devhost "
                             f"{existing['ports']['devhost']}; {state_path(state_dir)}): run "
                             "`ddd-transfer local down` first to move it")
        return existing
    survivors = [name for name, pid in existing["processes"].items() if _alive(int(pid))]
    if survivors:
        say(f"the last local stack is partly down ({', '.join(missing)}): stopping "
            f"{', '.join(survivors)} and starting it again")
        stop_processes({name: int(pid) for name, pid in existing["processes"].items()})
    state_path(state_dir).unlink(missing_ok=True)
    return None



def standing_rule_settings() -> dict[str, str]:
    """The local standing rule (`LOCAL_RULES`), moves allowed from its container, and devhost's
    local Event Grid subscription for it."""
    loaded = [StandingRule.model_validate(rule) for rule in LOCAL_RULES]
    return {"DDD_STANDING_RULES": json.dumps(LOCAL_RULES),
            "DDD_MOVE_SOURCES": f"{SOURCE_ACCOUNT}/{RULE_CONTAINER}",
            "DEVHOST_EVENT_SUBSCRIPTIONS": json.dumps(event_subscriptions(loaded,
                                                                         RUN_COMPLETED))}


def standin_commands(python: str, ports: LocalPorts, tls_dir: Path, state_dir: Path,
                     token: str) -> dict[str, tuple[list[str], int]]:
    """Each stand-in's command line and port. Values go as `--name=value`: a random token may
    start with '-', which argparse would take for an option."""
    return {
        "website": ([python, "-m", "devhost.website_standin", f"--port={ports.website}",
                     f"--token={token}"], ports.website),
        "keyvault": ([python, "-m", "devhost.keyvault_standin", f"--port={ports.keyvault}",
                      f"--tls-dir={tls_dir}", f"--secret={WEBSITE_TOKEN_SECRET}={token}"],
                     ports.keyvault),
        "email": ([python, "-m", "devhost.email_standin", f"--port={ports.email}",
                   f"--tls-dir={tls_dir}", f"--sender={MAIL_SENDER}",
                   f"--outbox={state_dir / 'mail'}"], ports.email),
    }

def up(state_dir: Path, ports: LocalPorts, *, seed: bool = True,
       say: Callable[[str], None] = print) -> StackUp:
    """Start the stack (unless it is up already: then nothing changes) and write its state to
    stack.json. Keeps the data an earlier stack left in `state_dir`; stops what it started on
    failure."""
    from devhost.azurite import DEFAULT_ACCOUNT_KEY, AzuriteServer
    from devhost.launcher import DevHostProcess
    from devhost.standin_http import TlsFiles

    # absolute: the processes run in the checkout, whatever the caller's working directory
    state_dir = state_dir.resolve()
    running = _take_over_earlier_stack(state_dir, ports, say)
    if running is not None:
        return StackUp(running, already_up=True)
    busy = [f"{name} {port}" for name, port in asdict(ports).items() if not port_is_free(port)]
    if busy:
        raise StackError(f"ports in use: {', '.join(busy)}; stop what holds them or choose "
                         "other ports with --port-offset")
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    keys = {"functionKey": secrets.token_urlsafe(24), "masterKey": secrets.token_urlsafe(24),
            "systemKey": secrets.token_urlsafe(24)}
    processes: dict[str, int] = {}
    python = sys.executable
    try:
        say(f"Azurite: blob {ports.azurite_blob}, queue {ports.azurite_queue}, "
            f"table {ports.azurite_table}")
        azurite = AzuriteServer(accounts=[WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT],
                                location=state_dir / "azurite", start_timeout_seconds=READY_SECONDS,
                                ports=(ports.azurite_blob, ports.azurite_queue,
                                       ports.azurite_table))
        for account in azurite.account_keys:  # the published development key, as documented
            azurite.account_keys[account] = DEFAULT_ACCOUNT_KEY
        azurite.start()
        assert azurite.pid is not None
        processes["azurite"] = azurite.pid
        sink = azurite.blob_service(SINK_ACCOUNT).get_container_client(SINK_CONTAINER)
        if not sink.exists():  # an earlier stack's data may hold it already
            sink.create_container()
        runs = azurite.blob_service(SOURCE_ACCOUNT).get_container_client(RULE_CONTAINER)
        if not runs.exists():
            runs.create_container()
        if seed:
            _seed_once(azurite.blob_service(SOURCE_ACCOUNT), say)

        tls = TlsFiles.create(state_dir / "tls")
        standins = standin_commands(python, ports, tls.cert_path.parent, state_dir, token)
        for name, (command, port) in standins.items():
            process, log = _spawn(name, command, state_dir)
            processes[name] = process.pid
            _wait_for_port(port, process, log)
            say(f"{name} stand-in: port {port}")

        urls = {"app": f"http://127.0.0.1:{ports.devhost}",
                "website": f"http://127.0.0.1:{ports.website}",
                "keyVault": f"https://127.0.0.1:{ports.keyvault}/",
                "email": f"https://127.0.0.1:{ports.email}",
                "blob": azurite.endpoint_template}
        settings = {**azurite.storage_environ(work_account=WORK_ACCOUNT),
                    "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT, "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
                    "DDD_WEBSITE_URL": urls["website"], "DDD_WEBSITE_TOKEN": "",
                    "DDD_KEY_VAULT_URL": urls["keyVault"],
                    "REQUESTS_CA_BUNDLE": str(tls.cert_path),
                    "DDD_NOTIFY_EMAIL_ENDPOINT": urls["email"], "DDD_NOTIFY_SENDER": MAIL_SENDER,
                    "DDD_NOTIFY_TO": OPERATORS, "DDD_NOTIFY_ON_SUCCESS": "true",
                    "DDD_BLOCK_SIZE_BYTES": str(8 * 2**20), "DDD_CHUNK_MAX_FILES": "8",
                    **standing_rule_settings()}
        host = DevHostProcess(REPO / "function_app.py", state_dir / "devhost", env=settings,
                              port=ports.devhost, function_key=keys["functionKey"],
                              system_key=keys["systemKey"], master_key=keys["masterKey"])
        try:
            host.start(timeout=READY_SECONDS)
        finally:
            if host.process is not None:
                processes["devhost"] = host.process.pid
        say(f"devhost: port {ports.devhost}")
    except BaseException:
        stop_processes(processes)
        raise
    state = {"processes": processes, "ports": asdict(ports), "urls": urls, "keys": keys,
             "mailDir": str(state_dir / "mail"), "logs": str(state_dir)}
    _write_state(state_dir, state)
    return StackUp(state, already_up=False)


def _seed_once(source: BlobServiceClient, say: Callable[[str], None]) -> None:
    """Seed the sequencing run, unless an earlier stack did: seeding it again would make its
    files new ones (new random bytes, new times), and a delivery of it that an earlier
    delivery sealed would then be refused as a changed source."""
    from demo.seed import SOURCE_CONTAINER, SOURCE_FOLDER, seed_run

    place = f"{SOURCE_ACCOUNT}/{SOURCE_CONTAINER}/{SOURCE_FOLDER}"
    container = source.get_container_client(SOURCE_CONTAINER)
    if container.exists() and next(iter(container.list_blobs(
            name_starts_with=f"{SOURCE_FOLDER}/", results_per_page=1)), None) is not None:
        say(f"kept the run seeded under {place} by an earlier stack")
        return
    seeded = seed_run(source)
    say(f"seeded {len(seeded)} files under {place}")


def complete_a_run(state_dir: Path, run: str) -> tuple[str, str]:
    """Seed a NextSeq run into the local rule's source (its completion flag last, as the
    instrument writes it); the run folder and the id of the delivery the rule will start."""
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobServiceClient

    from demo.seed import seed_run
    from devhost.azurite import DEFAULT_ACCOUNT_KEY
    from shared.core.instances import instance_id_for
    from shared.core.rules import match, run_delivery

    state = read_state(state_dir)
    if state is None:
        raise StackError("no local stack: run `ddd-transfer local up` first")
    source = BlobServiceClient(state["urls"]["blob"].format(account=SOURCE_ACCOUNT),
                               credential=AzureNamedKeyCredential(SOURCE_ACCOUNT,
                                                                  DEFAULT_ACCOUNT_KEY))
    rules = [StandingRule.model_validate(rule) for rule in LOCAL_RULES]
    matched = match(rules, SOURCE_ACCOUNT, RULE_CONTAINER, f"NextSeq/{run}/{RUN_FLAG}")
    if matched is None:
        raise StackError(f"'{run}' is not a run folder name (one path segment)")
    seed_run(source, RULE_CONTAINER, matched[1].run_folder, flags_last=(RUN_FLAG,))
    request, _ = run_delivery(*matched)
    return f"{SOURCE_ACCOUNT}/{RULE_CONTAINER}/{matched[1].run_folder}", instance_id_for(request)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def stop_processes(processes: dict[str, int]) -> list[str]:
    """SIGTERM each recorded process group (the last started first), SIGKILL what is left after
    STOP_SECONDS; the names of those that were running."""
    stopped = []
    for name, pid in reversed(list(processes.items())):
        if not _alive(pid):
            continue
        stopped.append(name)
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + STOP_SECONDS
    while time.monotonic() < deadline and any(_alive(pid) for pid in processes.values()):
        time.sleep(0.1)
    for pid in processes.values():
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    return stopped


def down(state_dir: Path) -> list[str]:
    """Stop every process `up` recorded; the names of those that were running."""
    state = read_state(state_dir)
    if state is None:
        return []
    stopped = stop_processes({name: int(pid) for name, pid in state["processes"].items()})
    state_path(state_dir).unlink(missing_ok=True)
    return stopped
