"""What the commands share: the app's address and keys, printing, and the website's payload.

The address and keys come from the group's options (--url, --key, --admin-key, or DDD_URL,
DDD_KEY, DDD_ADMIN_KEY); without --url, from what `ddd-transfer local up` wrote in its state
directory. `start` and `dry-run` take the same payload: the website's JSON (--json) with flags
over it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ddd_cli.api import Api, ApiError
from ddd_cli.local_stack import read_state

POLL_SECONDS = 0.5
PAYLOAD_FLAGS = {  # option name -> the website's key
    "source_account": "Source_StorageAccount", "source_container": "Source_FileSystem",
    "source_folder": "Source_TopLevelFolder", "sink_account": "Sink_StorageAccount",
    "sink_container": "Sink_FileSystem", "sink_folder": "Sink_TopLevelFolder",
    "delivery_id": "Webhook_DeliveryID", "transfer_uuid": "Webhook_TransferUUID",
}
Command = TypeVar("Command", bound=Callable[..., Any])


def api_of(ctx: click.Context) -> Api:
    """The app the group's options name, or the local stack's."""
    options = ctx.find_root().obj
    url, key, admin_key = options["url"], options["key"], options["admin_key"]
    if url is None:
        state = read_state(options["state_dir"])
        if state is None:
            raise click.UsageError("no --url (or DDD_URL) and no local stack: run "
                                   "`ddd-transfer local up` or give --url and --key")
        url = state["urls"]["app"]
        key = key or state["keys"]["functionKey"]
        admin_key = admin_key or state["keys"]["masterKey"]
    return Api(base_url=url, key=key, admin_key=admin_key)


def fail(error: ApiError) -> NoReturn:
    raise click.ClickException(str(error))


def show(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def payload_options(command: Command) -> Command:
    """The website's start payload as options: --json, then one flag per key over it."""
    flags = [
        click.option("--json", "json_file", type=click.File("r"),
                     help="The website's start payload (a JSON file, '-' for stdin); flags "
                          "override it."),
        click.option("--source-account"), click.option("--source-container"),
        click.option("--source-folder"), click.option("--sink-account"),
        click.option("--sink-container"), click.option("--sink-folder"),
        click.option("--delivery-id", help="The website's delivery id (a number or a short "
                                           "token)."),
        click.option("--transfer-uuid", help="This attempt's UUID (default: a new one)."),
    ]
    for flag in reversed(flags):
        command = flag(command)
    return command


def payload_of(json_file: Any, flags: dict[str, Any]) -> dict[str, Any]:
    """The payload from --json and the flags (see `payload_options`), with a transfer UUID."""
    payload: dict[str, Any] = json.load(json_file) if json_file else {}
    if not isinstance(payload, dict):
        raise click.UsageError("--json must hold a JSON object")
    for name, key in PAYLOAD_FLAGS.items():
        if flags.get(name) is not None:
            value: Any = flags[name]
            payload[key] = int(value) if name == "delivery_id" and value.isdigit() else value
    payload.setdefault("Webhook_TransferUUID", str(uuid.uuid4()))
    return payload
