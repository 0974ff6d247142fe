"""azd postdeploy hook (azure.yaml): the standing rules' Event Grid subscriptions.

A subscription whose destination is an Azure Function is refused ("Destination endpoint not
found") until that function exists, and azd provisions before it deploys the code. So
main.bicep makes each rule account's system topic at provision, and this hook, once the code is
deployed, deploys infra/modules/events.bicep again with the subscriptions on: once per entry
of main.bicep's output EVENT_GRID_DEPLOYMENTS, which azd hands hooks as an environment
variable. It then deletes this environment's subscriptions on that topic that no rule names any
more (they start with the environment's prefix; others are left alone).

It needs the Azure CLI (`az`), signed in to the tenant (`az login`). With no rules it does
nothing and needs nothing. Run it alone with `azd hooks run postdeploy`. docs/deploy.md, Event
Grid, says more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

OUTPUT = "EVENT_GRID_DEPLOYMENTS"
TEMPLATE = Path(__file__).resolve().parents[1] / "modules" / "events.bicep"
PARAMETERS_SCHEMA = ("https://schema.management.azure.com/schemas/2019-04-01/"
                     "deploymentParameters.json#")
# Just after a deployment the function may not be indexed yet, and Event Grid does not find it
# ("Endpoint validation": "Destination endpoint not found."): try again for about three minutes.
ATTEMPTS = 7
WAIT_SECONDS = 30
NOT_YET = "endpoint"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class HookError(Exception):
    pass


def deployments(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """main.bicep's EVENT_GRID_DEPLOYMENTS: one entry per source account with rules."""
    raw = environ.get(OUTPUT, "").strip()
    if not raw:
        return []
    try:
        found = json.loads(raw)
    except ValueError as error:
        raise HookError(f"{OUTPUT} is not JSON ({error}); run `azd provision` again") from None
    if not isinstance(found, list) or not all(isinstance(entry, dict) for entry in found):
        raise HookError(f"{OUTPUT} is not a list of deployments; run `azd provision` again")
    return found


def parameters_file(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """An ARM parameters file holding `parameters` (what main.bicep passed the module, with the
    subscriptions on)."""
    return {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {name: {"value": value} for name, value in parameters.items()}}


def _where(entry: Mapping[str, Any]) -> list[str]:
    return ["--subscription", str(entry["subscriptionId"]),
            "--resource-group", str(entry["resourceGroup"])]


def deploy_command(entry: Mapping[str, Any], parameters_path: Path) -> list[str]:
    return ["az", "deployment", "group", "create", *_where(entry), "--name", str(entry["name"]),
            "--template-file", str(TEMPLATE), "--parameters", f"@{parameters_path}",
            "--query", "properties.outputs", "--output", "json", "--only-show-errors"]


def list_command(entry: Mapping[str, Any], topic: str) -> list[str]:
    return ["az", "eventgrid", "system-topic", "event-subscription", "list", *_where(entry),
            "--system-topic-name", topic, "--query", "[].name", "--output", "json",
            "--only-show-errors"]


def delete_command(entry: Mapping[str, Any], topic: str, name: str) -> list[str]:
    return ["az", "eventgrid", "system-topic", "event-subscription", "delete", *_where(entry),
            "--system-topic-name", topic, "--name", name, "--yes", "--only-show-errors"]


def stale(existing: Sequence[str], wanted: Sequence[str], prefix: str) -> list[str]:
    """This environment's subscriptions that no rule names any more."""
    return sorted(name for name in existing if name.startswith(prefix) and name not in wanted)


def _run(runner: Runner, command: Sequence[str]) -> str:
    done = runner(command)
    if done.returncode != 0:
        raise HookError(f"{' '.join(command[:4])} failed:\n{done.stderr.strip()}")
    return done.stdout


def _deploy(entry: Mapping[str, Any], runner: Runner, sleep: Callable[[float], None],
            folder: Path) -> dict[str, Any]:
    path = folder / f"{entry['name']}.parameters.json"
    path.write_text(json.dumps(parameters_file({**entry["parameters"], "subscriptions": True})))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            outputs = json.loads(_run(runner, deploy_command(entry, path)) or "{}")
            return {name: value["value"] for name, value in (outputs or {}).items()}
        except HookError as error:
            if attempt == ATTEMPTS or NOT_YET not in str(error).lower():
                raise
            print(f"  attempt {attempt} of {ATTEMPTS}: {error}\n  trying again in "
                  f"{WAIT_SECONDS} s (the function may not be indexed yet)", flush=True)
            sleep(WAIT_SECONDS)
    raise AssertionError("unreachable")


def subscribe(entries: Sequence[Mapping[str, Any]], runner: Runner,
              sleep: Callable[[float], None] = time.sleep) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for entry in entries:
            account = entry["parameters"]["accountName"]
            print(f"Event Grid: the standing rules of {account}", flush=True)
            outputs = _deploy(entry, runner, sleep, Path(folder))
            topic, wanted = outputs["topicName"], outputs["subscriptionNames"]
            existing = json.loads(_run(runner, list_command(entry, topic)) or "[]")
            for name in stale(existing, wanted, entry["parameters"]["subscriptionPrefix"]):
                print(f"  deleting {name}: no rule names it any more", flush=True)
                _run(runner, delete_command(entry, topic, name))
            print(f"  {topic}: {', '.join(wanted)}", flush=True)


def _run_az(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    # the full path: on Windows `az` is az.cmd, which a bare name does not start
    executable = shutil.which(command[0]) or command[0]
    return subprocess.run([executable, *command[1:]], capture_output=True, text=True,
                          check=False)


def main(environ: Mapping[str, str] = os.environ, runner: Runner = _run_az) -> int:
    try:
        entries = deployments(environ)
        if not entries:
            print("Event Grid: no standing rules, no subscriptions to make")
            return 0
        if runner is _run_az and shutil.which("az") is None:
            raise HookError("the Azure CLI (az) is needed to subscribe the standing rules' "
                            "run_completed function to Event Grid: install it, `az login`, then "
                            "`azd hooks run postdeploy`")
        subscribe(entries, runner)
    except HookError as error:
        print(f"Event Grid: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
