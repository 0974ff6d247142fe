"""`ddd-transfer rules list|test`: the standing rules the app runs with, and what a completion
flag at a given path would start (the app answers; nothing starts)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ddd_cli.api import ApiError
from ddd_cli.context import api_of, fail, show


@click.group()
def rules() -> None:
    """Standing rules: deliveries that start when a run's completion flag lands."""


@rules.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
@click.pass_context
def list_rules(ctx: click.Context, as_json: bool) -> None:
    """The rules the app loaded (DDD_STANDING_RULES), with the Event Grid filter each needs."""
    try:
        answer = api_of(ctx).rules()
    except ApiError as error:
        fail(error)
    if as_json:
        show(answer)
        return
    if not answer["rules"]:
        click.echo("no standing rules (DDD_STANDING_RULES is empty)")
    for rule in answer["rules"]:
        click.echo(_rule_line(rule))


def _rule_line(rule: dict[str, Any]) -> str:
    source, sink, notify = rule["source"], rule["sink"], rule["notify"]
    prefix = f"{source['prefix']}/" if source["prefix"] else ""
    told = notify["webhook"]["url"] if notify["kind"] == "webhook" else "operators only"
    return (f"{rule['name']}: {source['account']}/{source['container']}/{prefix}<run>/"
            f"{{{','.join(rule['flags'])}}} -> {sink['account']}/{sink['container']}/"
            f"{sink['folder']}; conflict {rule['conflict_policy']}"
            f"{', moves the source' if rule['move'] else ''}; told: {told}")


@rules.command(name="test")
@click.argument("account")
@click.argument("container")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.pass_context
def test_rule(ctx: click.Context, account: str, container: str, path: str,
              as_json: bool) -> None:
    """What a flag blob at ACCOUNT/CONTAINER/PATH would start. Exits 1 when no rule takes it."""
    try:
        answer = api_of(ctx).test_rule(account, container, path)
    except ApiError as error:
        fail(error)
    starts = answer["starts"]
    if as_json:
        show(answer)
    elif starts is None:
        click.echo(answer["message"])
    else:
        request = starts["request"]
        click.echo(f"rule {starts['rule']}: run folder {starts['run_folder']}")
        click.echo(f"delivers to {request['sink_account']}/{request['sink_container']}/"
                   f"{request['sink_folder']} as {starts['instance_id']}")
        click.echo(starts["message"])
    if starts is None:
        sys.exit(1)
