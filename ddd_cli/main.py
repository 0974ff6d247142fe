"""`ddd-transfer`: the operators' command line over the app's HTTP API.

    ddd-transfer local up                 # Azurite, stand-ins and devhost, in the background
    ddd-transfer start --json demo/payload.json --wait   (or --source-account ... flags)
    ddd-transfer status <id>              # its progress until the delivery ends
    ddd-transfer list --status failed --since 2026-11-01
    ddd-transfer resend <id>
    ddd-transfer cancel <id> --reason "wrong lab"
    ddd-transfer dry-run --json payload.json --wait   # the plan, nothing delivered
    ddd-transfer start --json payload.json --conflict merge --move   # an operator's start
    ddd-transfer rules list / rules test <account> <container> <flag path>
    ddd-transfer summary --source-account ... --source-container ... --source-folder ...
    ddd-transfer share create --source-account ... --expires-in 3600 --download-to DIR
    ddd-transfer share status <id> / share revoke <id>
    ddd-transfer local down               # stops everything `local up` started

Where the app is and its keys: --url, --key (a function key), --admin-key (the master key), or
DDD_URL, DDD_KEY, DDD_ADMIN_KEY; without them, what `local up` wrote in .ddd-local/.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from ddd_cli import sharing
from ddd_cli.api import ENDED, Api, ApiError
from ddd_cli.context import (
    OPERATOR_FLAGS,
    POLL_SECONDS,
    api_of,
    fail,
    operator_options,
    payload_of,
    payload_options,
    show,
)
from ddd_cli.local_stack import (
    DEFAULT_STATE_DIR,
    RUN_FLAG,
    LocalPorts,
    StackError,
    complete_a_run,
    down,
    up,
)
from ddd_cli.progress import Sample, bytes_done, format_bytes, progress_line
from ddd_cli.rules import rules

PRINT_SECONDS = 10  # off a terminal: a progress line at most this often, but for phase changes


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="DDD_URL", help="The app's base URL (default: the local stack).")
@click.option("--key", envvar="DDD_KEY",
              help="A function key (every command but list, resend and cancel).")
@click.option("--admin-key", envvar="DDD_ADMIN_KEY",
              help="The master key (list, resend, cancel, rules, an operator's start).")
@click.option("--state-dir", envvar="DDD_LOCAL_DIR", type=click.Path(path_type=Path),
              default=DEFAULT_STATE_DIR, show_default=True,
              help="Where `local up` keeps its state.")
@click.pass_context
def cli(ctx: click.Context, url: str | None, key: str | None, admin_key: str | None,
        state_dir: Path) -> None:
    """Start and watch deliveries, act on them as an operator, plan them (dry-run), count a
    folder (summary) and share one (share)."""
    ctx.obj = {"url": url, "key": key, "admin_key": admin_key, "state_dir": state_dir}


# ----- deliveries --------------------------------------------------------------------------
@cli.command()
@payload_options
@operator_options
@click.option("--wait/--no-wait", default=False, help="Then show its progress until it ends.")
@click.pass_context
def start(ctx: click.Context, json_payload: dict[str, Any] | None, wait: bool,
          **flags: Any) -> None:
    """Start a delivery, as the website does; with an operator's choices (--conflict, --move,
    --report-to, or their keys in --json) as an operator (the master key)."""
    payload = payload_of(json_payload, flags)
    api = api_of(ctx)
    try:
        as_operator = any(key in payload for key in OPERATOR_FLAGS.values())
        answer = api.start_operator(payload) if as_operator else api.start(payload)
    except ApiError as error:
        fail(error)
    click.echo(f"started {answer['id']}")
    click.echo(f"status: {answer['deliveryStatusUri']}")
    if wait:
        ctx.invoke(status, instance_id=answer["id"], watch=True)


@cli.command()
@click.argument("instance_id")
@click.option("--watch/--once", default=True, show_default=True,
              help="Show its progress until the delivery ends, or print its status (JSON) "
                   "once.")
@click.pass_context
def status(ctx: click.Context, instance_id: str, watch: bool) -> None:
    """A delivery's status; exits 1 unless it was delivered.

    Watching, one line shows the phase, the bytes (those of files being copied included) and
    files done of the planned ones, and, once the copy has run a while at a steady rate, the
    rate and the time left. On a terminal the line is rewritten in place; otherwise a line is
    printed when the phase changes, and at most every 10 s in between."""
    api = api_of(ctx)
    try:
        view = api.status(instance_id)
        if watch and view["runtimeStatus"] not in ENDED:
            view = _watch(api, instance_id, view)
    except ApiError as error:
        fail(error)
    if not watch:
        show(view)
        return
    verified = view["verified"]
    click.echo(f"{view['runtimeStatus']}: {view['phase']}; {verified['files'] or 0} of "
               f"{view['planned']['files'] or 0} files verified "
               f"({format_bytes(verified['bytes'] or 0)})")
    if view.get("message"):
        click.echo(view["message"])
    if view["phase"] != "delivered":
        sys.exit(1)


def _watch(api: Api, instance_id: str, view: dict[str, Any]) -> dict[str, Any]:
    """Poll until the delivery ends, showing `progress_line`: rewritten in place on a terminal,
    else printed when the phase changes and at most every `PRINT_SECONDS` in between."""
    on_terminal = sys.stdout.isatty()
    samples: list[Sample] = []
    shown, shown_phase, shown_at = "", None, -math.inf
    while True:
        now = time.monotonic()
        if view["phase"] == "copying":  # the rate is the copy's
            samples.append(Sample(now, bytes_done(view)))
        line = progress_line(view, samples)
        ended = view["runtimeStatus"] in ENDED
        if on_terminal:  # within the terminal's width, or \r would not go back to its start
            line = line[:shutil.get_terminal_size().columns - 1]
            click.echo("\r" + line.ljust(len(shown)), nl=ended)
            shown = line
        elif line != shown and (view["phase"] != shown_phase or ended
                                or now - shown_at >= PRINT_SECONDS):
            click.echo(line)
            shown, shown_phase, shown_at = line, view["phase"], now
        if ended:
            return view
        time.sleep(POLL_SECONDS)
        view = api.status(instance_id)


@cli.command(name="list")
@click.option("--status", "statuses", help="Comma-separated: pending, running, completed, "
              "failed, terminated.")
@click.option("--since", help="Created at or after (ISO 8601, e.g. 2026-11-01).")
@click.option("--top", type=click.IntRange(1, 100), default=50, show_default=True,
              help="Deliveries a page.")
@click.option("--all", "all_pages", is_flag=True, help="Follow every page.")
@click.option("--json", "as_json", is_flag=True, help="Print the pages as JSON.")
@click.pass_context
def list_deliveries(ctx: click.Context, statuses: str | None, since: str | None, top: int,
                    all_pages: bool, as_json: bool) -> None:
    """List deliveries (admin key)."""
    api = api_of(ctx)
    params = {name: value for name, value in
              (("status", statuses), ("since", since), ("top", str(top))) if value}
    try:
        while True:
            page = api.list(params)
            if as_json:
                show(page)
            else:
                for item in page["deliveries"]:
                    click.echo(f"{item['id']}  {item['runtimeStatus']:<10} "
                               f"{item['phase'] or '-':<16} {item['createdTime']}  "
                               f"{item['verified']['files'] or 0}/"
                               f"{item['planned']['files'] or 0} files")
            if not all_pages or not page["continuationToken"]:
                if page["continuationToken"] and not as_json:
                    click.echo("(more: --all)")
                return
            params["continuationToken"] = page["continuationToken"]
    except ApiError as error:
        fail(error)


@cli.command()
@click.argument("instance_id")
@click.pass_context
def resend(ctx: click.Context, instance_id: str) -> None:
    """Send a delivery's stored result to the website again (admin key)."""
    try:
        answer = api_of(ctx).resend(instance_id)
    except ApiError as error:
        fail(error)
    click.echo(f"re-sending ({answer['actionId']}); see {answer['deliveryStatusUri']}")


@cli.command()
@click.argument("instance_id")
@click.option("--reason", default="", help="Why; the website and the operators' mail say it.")
@click.pass_context
def cancel(ctx: click.Context, instance_id: str, reason: str) -> None:
    """Stop a delivery that is planning or copying (admin key)."""
    try:
        answer = api_of(ctx).cancel(instance_id, reason)
    except ApiError as error:
        fail(error)
    click.echo(f"cancelling ({answer['actionId']}); see {answer['deliveryStatusUri']}")


# ----- the local stack ---------------------------------------------------------------------
@cli.group()
def local() -> None:
    """Run the whole app on this machine (Azurite, devhost, the stand-ins)."""


@local.command(name="up")
@click.option("--port-offset", type=int, default=0, show_default=True,
              help="Added to every port (devhost 7071, website 8000, Key Vault 8443, e-mail "
                   "8444, Azurite 10000-10002).")
@click.option("--seed/--no-seed", default=True, show_default=True,
              help="Seed a sequencing run under sequencingcore/deliveries/jdoe/mouse-rnaseq "
                   "(unless an earlier stack did: that run is kept).")
@click.pass_context
def local_up(ctx: click.Context, port_offset: int, seed: bool) -> None:
    """Start the local stack in the background and print its URLs and keys.

    Run again, it changes nothing while the stack is up (and prints the same); after `local
    down` it starts the stack again over the data the last one left in the state directory
    (Azurite's storage, devhost's deliveries), with new keys."""
    state_dir: Path = ctx.obj["state_dir"]
    try:
        state, already_up = up(state_dir, LocalPorts().shifted(port_offset), seed=seed,
                               say=click.echo)
    except StackError as error:
        raise click.ClickException(str(error)) from None
    urls, keys = state["urls"], state["keys"]
    if already_up:
        click.echo(f"the local stack is already up ({state['logs']}); nothing changed")
    click.echo("")
    click.echo(f"app (devhost):   {urls['app']}/api/deliveries")
    click.echo(f"website:         {urls['website']}/api/v2/az-transfers/")
    click.echo(f"Key Vault:       {urls['keyVault']}  (holds the website token)")
    click.echo(f"e-mail:          {urls['email']}  (mail kept in {state['mailDir']})")
    click.echo(f"storage:         {urls['blob']}")
    click.echo(f"function key:    {keys['functionKey']}")
    click.echo(f"master key:      {keys['masterKey']}  (list, resend, cancel, rules, "
               "operator starts)")
    click.echo(f"system key:      {keys['systemKey']}  (Durable HTTP API)")
    click.echo("standing rule:   local-nextseq: sequencingcore/runs/NextSeq/<run> -> "
               "labsmith/incoming/nextseq/<run>, moved (try: ddd-transfer local run-completes)")
    click.echo(f"logs and state:  {state['logs']}")
    click.echo("stop everything: ddd-transfer local down")


@local.command(name="run-completes")
@click.argument("run", default=lambda: time.strftime("%y%m%d_NB551234_%H%M_AHXXXXXXXX"))
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Then show the delivery the standing rule starts until it ends.")
@click.pass_context
def local_run_completes(ctx: click.Context, run: str, wait: bool) -> None:
    """Seed a NextSeq run folder RUN into sequencingcore/runs/NextSeq/, its completion flag
    last: the local standing rule (local-nextseq) delivers it to labsmith/incoming/nextseq/RUN
    and then removes the source."""
    try:
        folder, instance_id = complete_a_run(ctx.obj["state_dir"], run)
    except StackError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"seeded {folder}, {RUN_FLAG} last")
    click.echo(f"the standing rule starts {instance_id}")
    if not wait:
        return
    api = api_of(ctx)
    deadline = time.monotonic() + 60
    while True:  # the local Event Grid sees the flag within a second or two
        try:
            api.status(instance_id)
            break
        except ApiError as error:
            if error.status_code != 404 or time.monotonic() > deadline:
                fail(error)
            time.sleep(POLL_SECONDS)
    ctx.invoke(status, instance_id=instance_id, watch=True)


@local.command(name="down")
@click.pass_context
def local_down(ctx: click.Context) -> None:
    """Stop everything `local up` started; its data stays for the next `local up`."""
    state_dir: Path = ctx.obj["state_dir"]
    stopped = down(state_dir)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    if stopped:
        click.echo(f"kept: storage and deliveries in {state_dir.resolve()} (`local up` starts "
                   "over them; delete the folder to start afresh)")


for command in sharing.COMMANDS:
    cli.add_command(command)
cli.add_command(rules)


if __name__ == "__main__":
    cli()
