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


JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "number",
                   float: "number", bool: "true or false", type(None): "null"}


class JsonObjectFile(click.ParamType):
    """A file (or '-' for stdin) holding one JSON object: its contents, as a dict. A file that
    cannot be read, is not UTF-8 JSON or holds anything but an object is a usage error naming
    the file and the problem (click exits 2), not a traceback."""

    name = "json object file"

    def __init__(self) -> None:
        self._file = click.File("r", encoding="utf-8")

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dict[str, Any]:
        if isinstance(value, dict):  # converted already
            return value
        opened = self._file.convert(value, param, ctx)  # click's errors: missing, a folder...
        shown = "stdin" if value == "-" else click.format_filename(value)
        try:
            with opened:
                document = json.load(opened)
        except json.JSONDecodeError as error:
            self.fail(f"{shown} is not valid JSON: {error.msg} at line {error.lineno}, column "
                      f"{error.colno}", param, ctx)
        except UnicodeDecodeError:
            self.fail(f"{shown} is not UTF-8 text", param, ctx)
        if not isinstance(document, dict):
            self.fail(f"{shown} holds a JSON {JSON_TYPE_NAMES[type(document)]}, not an object "
                      "with the website's keys", param, ctx)
        return document

    def shell_complete(self, ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[click.shell_completion.CompletionItem]:
        return self._file.shell_complete(ctx, param, incomplete)


def payload_options(command: Command) -> Command:
    """The website's start payload as options: --json, then one flag per key over it."""
    flags = [
        click.option("--json", "json_payload", type=JsonObjectFile(), metavar="FILE",
                     help="The website's start payload: a JSON object with its keys "
                          "(Source_StorageAccount, ..., Webhook_DeliveryID; see "
                          "demo/payload.json), from a file or '-' for stdin. Flags override "
                          "its keys. A file without Webhook_TransferUUID (as demo/payload.json) "
                          "gets a new one each time: a new attempt, as the website's retry "
                          "sends; with one, the same file again is the same attempt."),
        click.option("--source-account"), click.option("--source-container"),
        click.option("--source-folder"), click.option("--sink-account"),
        click.option("--sink-container"), click.option("--sink-folder"),
        click.option("--delivery-id", help="The website's delivery id (a number or a short "
                                           "token)."),
        click.option("--transfer-uuid",
                     help="This attempt's UUID, over the file's (default: the file's, else a "
                          "new one)."),
    ]
    for flag in reversed(flags):
        command = flag(command)
    return command


OPERATOR_FLAGS = {  # option name -> the operators' key
    "conflict": "Conflict_Policy", "move": "Move_Source", "report_to": "Report_To",
    "report_token_secret": "Report_Token_Secret",
}


def operator_options(command: Command) -> Command:
    """An operator's choices over the website's payload (`POST /api/operator/deliveries`)."""
    flags = [
        click.option("--conflict", type=click.Choice(["fail", "merge", "replace-different"]),
                     help="A destination folder that holds files: refuse it (fail, as the "
                          "website's calls), add to it keeping what verifies and never "
                          "replacing what the service did not write (merge), or replace files "
                          "whose MD5 differs (replace-different)."),
        click.option("--move/--no-move", default=None,
                     help="Delete the source folder's delivered files once the receiver "
                          "acknowledged the result (only where DDD_MOVE_SOURCES allows it; "
                          "default: as DDD_MOVE_ALWAYS says for the source container)."),
        click.option("--report-to", metavar="website|operators|URL",
                     help="Who hears the result: the website (default), the operators only "
                          "(status and e-mail), or a webhook's https URL that takes the "
                          "website's callback body."),
        click.option("--report-token-secret", metavar="NAME",
                     help="The Key Vault secret holding the webhook's token."),
    ]
    for flag in reversed(flags):
        command = flag(command)
    return command


def operator_choices(flags: dict[str, Any]) -> dict[str, Any]:
    """The operators' keys the flags give (empty: the website's call is enough)."""
    return {key: flags.pop(name) for name, key in OPERATOR_FLAGS.items()
            if flags.get(name) is not None}


def payload_of(json_payload: dict[str, Any] | None, flags: dict[str, Any]) -> dict[str, Any]:
    """The payload from --json and the flags (see `payload_options`), with a transfer UUID: the
    flag's, else the file's, else a new one."""
    payload: dict[str, Any] = dict(json_payload or {})
    payload.update(operator_choices(flags))
    for name, key in PAYLOAD_FLAGS.items():
        if flags.get(name) is not None:
            value: Any = flags[name]
            payload[key] = int(value) if name == "delivery_id" and value.isdigit() else value
    payload.setdefault("Webhook_TransferUUID", str(uuid.uuid4()))
    return payload
