"""Before and instead of a delivery: `dry-run`, `dry-run-status`, `summary` and `share`.

    ddd-transfer dry-run --json payload.json --wait   (or the flags of `start`)
    ddd-transfer dry-run-status dryrun-4321-9f1c...
    ddd-transfer summary --source-account sequencingcore --source-container deliveries \\
        --source-folder jdoe/mouse-rnaseq
    ddd-transfer share create --source-account ... --expires-in 3600 [--download-to DIR]
    ddd-transfer share status share-5f0c...
    ddd-transfer share revoke share-5f0c...

Each is one call of the app's HTTP API with a function key (POST /api/dry-runs, GET
/api/dry-runs/{id}, POST /api/summary, POST /api/shares, GET and DELETE /api/shares/{id}).
`share create --download-to DIR` then does what a recipient does: it fetches the share's
download script by its link and runs it with bash (`--data-download-path DIR`), passing on
`--dry-run`, `--skip-existing`, `--check-size-only` and `--print-summary`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import requests

from ddd_cli.api import ENDED, TIMEOUT_SECONDS, Api, ApiError
from ddd_cli.context import (
    POLL_SECONDS,
    api_of,
    fail,
    operator_options,
    payload_of,
    payload_options,
    show,
)

SCRIPT_FLAGS = ("dry_run", "skip_existing", "check_size_only", "print_summary")

output_option = click.option("--output", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="Lines for people, or the app's JSON.")


def _source_options(command: Any) -> Any:
    for name in ("--source-folder", "--source-container", "--source-account"):
        command = click.option(name, required=True)(command)
    return command


def _source(account: str, container: str, folder: str) -> dict[str, Any]:
    return {"Source_StorageAccount": account, "Source_FileSystem": container,
            "Source_TopLevelFolder": folder}


def _place(location: dict[str, str]) -> str:
    return f"{location['account']}/{location['container']}/{location['path']}".rstrip("/")


# ----- dry runs ----------------------------------------------------------------------------
@click.command(name="dry-run")
@payload_options
@operator_options
@click.option("--wait/--no-wait", default=False,
              help="When the folder is planned in the background, wait for its result.")
@output_option
@click.pass_context
def dry_run(ctx: click.Context, json_payload: dict[str, Any] | None, wait: bool,
            output: str, **flags: Any) -> None:
    """Plan a delivery without delivering it (nothing is written to the destination).

    Exits 1 when the delivery would not copy (refused, or the destination is taken).
    """
    api = api_of(ctx)
    try:
        answer = api.dry_run(payload_of(json_payload, flags))
        if "result" not in answer and wait:
            click.echo(f"planning in the background: {answer['id']}", err=True)
            answer = _wait_dry_run(api, answer["id"])
    except ApiError as error:
        fail(error)
    _report_dry_run(answer, output)


@click.command(name="dry-run-status")
@click.argument("run_id")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the dry run ends.")
@output_option
@click.pass_context
def dry_run_status(ctx: click.Context, run_id: str, wait: bool, output: str) -> None:
    """A background dry run's result, as `dry-run --no-wait` named it."""
    api = api_of(ctx)
    try:
        view = _wait_dry_run(api, run_id) if wait else api.dry_run_status(run_id)
    except ApiError as error:
        fail(error)
    _report_dry_run(view, output)


def _wait_dry_run(api: Api, run_id: str) -> dict[str, Any]:
    view = api.dry_run_status(run_id)
    while view["runtimeStatus"] not in ENDED:
        time.sleep(POLL_SECONDS)
        view = api.dry_run_status(run_id)
    return view


def _report_dry_run(answer: dict[str, Any], output: str) -> None:
    """Print a dry run's answer; exit 1 when it ended without a delivery that would copy."""
    result = answer.get("result")
    if output == "json":
        show(answer)
    elif "dryRunStatusUri" in answer:
        click.echo(f"planning in the background: {answer['id']}")
        click.echo(f"status: {answer['dryRunStatusUri']}")
        click.echo(f"its result: ddd-transfer dry-run-status {answer['id']}")
    elif result is None:
        click.echo(f"{answer['id']}: {answer['runtimeStatus']}")
        if answer.get("error"):
            click.echo(f"error: {answer['error']}")
    else:
        _echo_report(answer["id"], result)
    if answer.get("runtimeStatus") in ("Failed", "Terminated"):
        sys.exit(1)
    if result is not None and (result["refusal"] or not result["destination_outlook"]["free"]):
        sys.exit(1)


def _echo_report(run_id: str, result: dict[str, Any]) -> None:
    outlook = result["destination_outlook"]
    click.echo(f"dry run {run_id}: {_place(result['source'])} -> "
               f"{_place(result['destination'])}")
    click.echo(f"files:     {result['files']:,} ({result['bytes']:,} bytes), "
               f"{result['files_without_md5']:,} without a stored MD5 (hashed when copied)")
    click.echo(f"folders:   {result['folders']:,} created")
    if result["largest_file"]:
        largest = result["largest_file"]
        click.echo(f"largest:   {largest['path']} ({largest['size']:,} bytes)")
    click.echo(f"work:      {result['work_units']:,} work units in {result['chunks']:,} chunks")
    options = result.get("options") or {}
    if options.get("conflict_policy", "fail") != "fail":
        click.echo(f"policy:    {options['conflict_policy']}")
    policy = result.get("policy_outlook")
    if outlook["free"] and outlook.get("adds_to") and policy:
        click.echo(f"destination: adds to the folder: {policy['verified_there']:,} already "
                   f"there and verified (kept), {policy['missing']:,} to copy, "
                   f"{policy['differing']:,} differing, {policy['compared_when_copied']:,} "
                   f"compared when copied, {policy['present_not_delivered']:,} other files "
                   "(listed as present, not delivered)")
        if policy["differing"]:
            click.echo("  differing files: " + (
                "replaced (the manifest records what they were)"
                if options["conflict_policy"] == "replace-different" else
                "replaced where this service wrote them, else kept and named"))
    elif outlook["free"]:
        adopted, delivered = outlook.get("adopts_from"), outlook.get("delivered")
        if delivered:
            click.echo(f"destination: delivered before by {delivered['run_id']}: the delivery "
                       "would verify it against the source and report it again, copying nothing")
        else:
            click.echo("destination: free"
                       + (f" (takes over {adopted}'s folder)" if adopted else ""))
    elif outlook.get("conflict"):
        click.echo(f"destination: taken: {outlook['conflict']}")
    if result["refusal"]:
        click.echo(f"the delivery would be refused: {result['refusal']}")
    if result["file_list"]:
        click.echo(f"file list: {_place(result['file_list'])}")
    move = result.get("move")
    if move:
        click.echo(f"move:      then deletes {move['files']:,} files ({move['bytes']:,} bytes) "
                   f"from {_place(move['folder'])}, each only if unchanged, once the "
                   "receiver acknowledged the result")
    receiver = options.get("receiver") or {}
    if receiver.get("kind", "website") != "website":
        told = (receiver["webhook"]["url"] if receiver["kind"] == "webhook"
                else "the operators only (status and e-mail)")
        click.echo(f"told:      {told}")


# ----- the project summary -----------------------------------------------------------------
@click.command()
@_source_options
@output_option
@click.pass_context
def summary(ctx: click.Context, source_account: str, source_container: str,
            source_folder: str, output: str) -> None:
    """The website's project summary of a source folder; exits 1 when storage refused it."""
    try:
        counts = api_of(ctx).summary(_source(source_account, source_container, source_folder))
    except ApiError as error:
        fail(error)
    if output == "json":
        show(counts)
    elif not counts["error_msg"]:
        click.echo(f"{source_folder}: {counts['file_count']:,} files, "
                   f"{counts['total_size']:,} bytes; {counts['folder_count']:,} folders "
                   f"({counts['root_folder_count']:,} root, {counts['sub_folder_count']:,} sub)")
    if counts["error_msg"]:
        if output != "json":
            click.echo(counts["error_msg"], err=True)
        sys.exit(1)


# ----- pull-mode shares --------------------------------------------------------------------
@click.group()
def share() -> None:
    """Pull-mode shares: a download script's link for a recipient without storage."""


@share.command(name="create")
@_source_options
@click.option("--expires-in", type=click.IntRange(min=1), required=True, metavar="SECONDS",
              help="How long the links work (at most the app's DDD_SHARE_MAX_HOURS).")
@click.option("--download-to", type=click.Path(file_okay=False, path_type=Path),
              help="Then fetch the download script and run it into this folder (made if "
                   "missing).")
@click.option("--dry-run", is_flag=True, help="For the script: download nothing, say what.")
@click.option("--skip-existing", is_flag=True, help="For the script: skip files that exist.")
@click.option("--check-size-only", is_flag=True,
              help="For the script: skip files that exist with the expected size.")
@click.option("--print-summary", is_flag=True,
              help="For the script: print what it would download and skip, then stop.")
@click.pass_context
def share_create(ctx: click.Context, source_account: str, source_container: str,
                 source_folder: str, expires_in: int, download_to: Path | None,
                 **script_flags: bool) -> None:
    """Share a source folder: print the download script's link (and run it: --download-to).

    Exits with the script's exit code when it runs it (1: a file did not download or verify).
    """
    passed = [f"--{name.replace('_', '-')}" for name in SCRIPT_FLAGS if script_flags[name]]
    if passed and download_to is None:
        raise click.UsageError(f"{', '.join(passed)} only with --download-to")
    request = {**_source(source_account, source_container, source_folder),
               "Share_ExpiresInSeconds": expires_in}
    try:
        created = api_of(ctx).create_share(request)
    except ApiError as error:
        fail(error)
    record = created["share"]
    click.echo(f"share {created['id']}: {record['files']:,} files, {record['bytes']:,} bytes "
               f"of {_place(record['source'])}")
    click.echo(f"links valid until {created['expires']}; anyone with the script link can "
               "download the folder until then")
    click.echo(f"script:   {created['script_url']}")
    click.echo(f"manifest: {created['manifest_url']}")
    if download_to is not None:
        code = _download(created["script_url"], download_to, passed)
        if code:
            click.echo(f"the download script exited {code}", err=True)
            sys.exit(code)


def _download(script_url: str, target: Path, script_flags: list[str]) -> int:
    """Fetch the share's script and run it into `target`; its exit code."""
    bash = shutil.which("bash")
    if bash is None:
        raise click.ClickException("--download-to runs the download script with bash; "
                                   "no bash on PATH")
    try:  # the link is a credential: no error message here repeats it
        answer = requests.get(script_url, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise click.ClickException(f"the script link cannot be reached "
                                   f"({type(error).__name__})") from None
    if answer.status_code != 200:
        raise click.ClickException(f"the script link answered HTTP {answer.status_code}")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ddd-share-") as folder:
        script = Path(folder) / "download.sh"
        script.write_bytes(answer.content)
        return subprocess.run([bash, str(script), "--data-download-path", str(target),
                               *script_flags], stdin=subprocess.DEVNULL, check=False).returncode


@share.command(name="status")
@click.argument("share_id")
@output_option
@click.pass_context
def share_status(ctx: click.Context, share_id: str, output: str) -> None:
    """A share's record: source, files, bytes, expiry, state (no link)."""
    try:
        record = api_of(ctx).share_status(share_id)
    except ApiError as error:
        fail(error)
    if output == "json":
        show(record)
        return
    click.echo(f"share {record['id']}: {record['state']}, {record['files']:,} files, "
               f"{record['bytes']:,} bytes of {_place(record['source'])}")
    click.echo(f"created {record['created']}, links valid until {record['expires']} "
               f"(signed with: {record['signed_with']})")
    if record["revoked"]:
        click.echo(f"revoked {record['revoked']}")


@share.command(name="revoke")
@click.argument("share_id")
@click.pass_context
def share_revoke(ctx: click.Context, share_id: str) -> None:
    """Revoke a share: its script and manifest are deleted; what stays valid is said."""
    try:
        answer = api_of(ctx).revoke_share(share_id)
    except ApiError as error:
        fail(error)
    click.echo(f"revoked {answer['share']['id']}")
    click.echo(f"script and manifest: {answer['script_and_manifest']}")
    click.echo(f"file links: {answer['file_links']}")


COMMANDS = (dry_run, dry_run_status, summary, share)
