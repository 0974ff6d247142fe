"""Event Grid for the standing rules: one system topic per source account with rules, made at
provision; one subscription per rule, made by azure.yaml's postdeploy hook once the code is
deployed, whose filter is the app's own `shared.core.rules.event_filter` for that rule and whose
destination is the app's Event Grid-triggered function. Computed on sample parameters; the hook
run with a stand-in for the Azure CLI."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from bicep import BicepFile
from bicep_eval import Scope, Unknown
from deployment import REPO_ROOT, account_id, main_scope

from shared.core.rules import StandingRule, event_filter, event_subscriptions

EVENTS = REPO_ROOT / "infra" / "modules" / "events.bicep"
HOOK = REPO_ROOT / "infra" / "hooks" / "event_subscriptions.py"
TOPICS = "Microsoft.EventGrid/systemTopics"
SUBSCRIPTIONS = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
TRIGGER = REPO_ROOT / "endpoints" / "run_completed.py"

# Three accounts with rules (one in another subscription), one without; prefixes as an operator
# may type them (a trailing slash, none, nested folders), one rule with two flags.
RULES: list[dict[str, Any]] = [
    {"name": "smith-miseq", "source": {"account": "sequencingcore", "container": "runs",
                                       "prefix": "MiSeq/"},
     "flags": ["RTAComplete.txt"],
     "sink": {"account": "labsmith", "container": "incoming", "folder": "miseq/{run}"}},
    {"name": "smith-nextseq", "source": {"account": "sequencingcore", "container": "runs",
                                         "prefix": "NextSeq/2026"},
     "flags": ["RunCompletionStatus.xml", "CopyComplete.txt"],
     "sink": {"account": "labsmith", "container": "incoming"}},
    {"name": "archive", "source": {"account": "archive2", "container": "runs"},
     "flags": [".complete"], "sink": {"account": "otherlab", "container": "mirror"},
     "conflict_policy": "merge", "notify": {"kind": "operators"}},
    {"name": "top", "source": {"account": "novaseq", "container": "output", "prefix": "/"},
     "flags": ["CopyComplete.txt"], "sink": {"account": "otherlab", "container": "mirror"}},
]


@pytest.fixture
def rules_given(given) -> dict[str, object]:
    return {
        **given,
        "sourceStorageAccountIds": ",".join([
            account_id("sequencingcore"), account_id("spare"),
            account_id("archive2", container="runs", group="rg-archive", subscription="sub-2"),
            account_id("novaseq", container="output", group="rg-nova")]),
        "standingRules": RULES,
    }


def _bodies(scope: Scope, resource_type: str) -> list[dict[str, object]]:
    return [body for declared in scope.file.resources_of_type(resource_type)
            for body in scope.resource_bodies(declared)]


def _hook_deployments(given: dict[str, object]) -> list[dict[str, Any]]:
    main = main_scope(REPO_ROOT, given)
    found = main.evaluate(main.file.outputs["EVENT_GRID_DEPLOYMENTS"])
    assert isinstance(found, list)
    return found


def _subscriptions(entry: dict[str, Any]) -> list[dict[str, object]]:
    """The subscriptions the hook's deployment of events.bicep makes for one output entry."""
    return _bodies(Scope(BicepFile.read(EVENTS), given={**entry["parameters"]}), SUBSCRIPTIONS)


# ---------------------------------------------------------------- at provision: the topics


def test_one_system_topic_per_rule_account_in_its_group_and_region(rules_given):
    deployed = main_scope(REPO_ROOT, rules_given).module_deployments("events")
    topics = [(module.scope.deployment.subscription_id, module.scope.deployment.resource_group,
               body) for module in deployed for body in _bodies(module.scope, TOPICS)]
    assert [(subscription, group, body["name"]) for subscription, group, body in topics] == [
        ("sub-1", "rg", "evgt-sequencingcore"),
        ("sub-2", "rg-archive", "evgt-archive2"),
        ("sub-1", "rg-nova", "evgt-novaseq"),
    ]
    for position, (_, _, body) in enumerate(topics):
        # the account's own region, read from the account (a system topic must be there)
        assert body["location"] == Unknown(f"eventSourceAccounts[{position}].location")
        assert body["properties"] == {"source": Unknown("account.id"),
                                      "topicType": "Microsoft.Storage.StorageAccounts"}
    # The topic's source is the rule account, in the group the module is deployed to.
    for module in deployed:
        (account,) = [declared for declared in module.scope.file.resources if declared.existing]
        assert module.scope.evaluate(account.body["name"]) == module.scope.lookup("accountName")


def test_no_subscription_is_made_at_provision(rules_given):
    """run_completed does not exist before the code is deployed: a subscription naming it now
    would fail the provision ("Destination endpoint not found")."""
    for module in main_scope(REPO_ROOT, rules_given).module_deployments("events"):
        assert module.scope.lookup("subscriptions") is False
        assert _bodies(module.scope, SUBSCRIPTIONS) == []


def test_no_rules_no_event_grid(given):
    main = main_scope(REPO_ROOT, given)
    assert main.module_deployments("events") == []
    assert main.evaluate(main.file.outputs["EVENT_GRID_DEPLOYMENTS"]) == []


# ---------------------------------------------------------------- after deploy: the subscriptions


def test_each_rule_gets_one_subscription_whose_filter_is_the_apps(rules_given):
    made: dict[str, dict[str, object]] = {}
    where: list[tuple[str, str]] = []
    for entry in _hook_deployments(rules_given):
        for body in _subscriptions(entry):
            made[str(body["name"])] = body
            where.append((entry["parameters"]["accountName"], str(body["name"])))
    prefix = f"ddd-{main_scope(REPO_ROOT, rules_given).lookup('resourceToken')}-"
    # each rule once, on its own account's topic
    assert sorted(where) == sorted((rule["source"]["account"], prefix + rule["name"])
                                   for rule in RULES)
    for rule in RULES:
        properties = made[prefix + rule["name"]]["properties"]
        assert isinstance(properties, dict)
        assert properties["filter"] == event_filter(StandingRule.model_validate(rule)), rule
        assert properties["eventDeliverySchema"] == "EventGridSchema"
        assert properties["retryPolicy"] == {"maxDeliveryAttempts": 30,
                                             "eventTimeToLiveInMinutes": 1440}
        assert "deadLetterDestination" not in properties


def test_the_subscriptions_are_the_ones_the_app_describes(rules_given):
    """shared.core.rules.event_subscriptions: what the deployment creates (and devhost's local
    Event Grid takes): per rule, on its source account, to the function, with its filter."""
    prefix = f"ddd-{main_scope(REPO_ROOT, rules_given).lookup('resourceToken')}-"
    made = []
    for entry in _hook_deployments(rules_given):
        for body in _subscriptions(entry):
            properties = body["properties"]
            assert isinstance(properties, dict)
            resource_id = properties["destination"]["properties"]["resourceId"]
            assert isinstance(resource_id, Unknown)  # the app's id, known once deployed
            function = resource_id.path.rpartition("/functions/")[2]
            made.append({"name": str(body["name"]).removeprefix(prefix), "function": function,
                         "account": entry["parameters"]["accountName"],
                         "filter": properties["filter"]})
    rules = [StandingRule.model_validate(rule) for rule in RULES]
    key = lambda subscription: subscription["name"]  # noqa: E731
    assert sorted(made, key=key) == sorted(event_subscriptions(rules, "run_completed"), key=key)


def test_the_destination_is_the_apps_event_grid_function(rules_given):
    """AzureFunction, naming the function the app declares in endpoints/run_completed.py (its
    NAME, with @event_grid_trigger), of the Function App main.bicep deploys."""
    trigger = ast.parse(TRIGGER.read_text(encoding="utf-8"))
    (name,) = [node.value.value for node in trigger.body if isinstance(node, ast.Assign)
               and [ast.unparse(target) for target in node.targets] == ["NAME"]
               and isinstance(node.value, ast.Constant)]
    assert "event_grid_trigger" in TRIGGER.read_text(encoding="utf-8")
    for entry in _hook_deployments(rules_given):
        for body in _subscriptions(entry):
            properties = body["properties"]
            assert isinstance(properties, dict)
            assert properties["destination"] == {
                "endpointType": "AzureFunction",
                "properties": {"resourceId": Unknown(f"functionApp.outputs.id/functions/{name}"),
                               "maxEventsPerBatch": 1, "preferredBatchSizeInKilobytes": 64}}


def test_the_app_registers_the_function_the_subscriptions_name():
    """Without it Azure has no run_completed function, and the hook's subscriptions are
    refused ("Destination endpoint not found")."""
    app = ast.parse((REPO_ROOT / "function_app.py").read_text(encoding="utf-8"))
    registered = {ast.unparse(node.args[0]) for node in ast.walk(app)
                  if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(
                      "register_functions")}
    assert "run_completed.bp" in registered


def test_the_hook_deploys_what_provision_deployed_with_the_subscriptions_on(rules_given):
    main = main_scope(REPO_ROOT, rules_given)
    provisioned = main.module_deployments("events")
    entries = _hook_deployments(rules_given)
    assert len(entries) == len(provisioned) == 3
    for module, entry in zip(provisioned, entries, strict=True):
        passed = {name: module.scope.lookup(name) for name in module.scope.file.params}
        assert entry["parameters"] == {**passed, "subscriptions": True}
        assert (entry["subscriptionId"], entry["resourceGroup"]) == (
            module.scope.deployment.subscription_id, module.scope.deployment.resource_group)
        assert len(str(entry["name"])) <= 64


def test_a_rule_names_its_subscription_within_event_grids_limits(rules_given):
    """Rule names are 1 to 32 lowercase letters, digits and '-' (shared/core/rules.py);
    Event Grid takes 3 to 64 letters, digits and '-'."""
    longest = {**RULES[0], "name": "r" * 32}
    (entry,) = _hook_deployments({**rules_given, "standingRules": [longest]})
    (body,) = _subscriptions(entry)
    assert re.fullmatch(r"[A-Za-z0-9-]{3,64}", str(body["name"]))


# ---------------------------------------------------------------- the hook


def _hook() -> Any:
    spec = importlib.util.spec_from_file_location("event_subscriptions", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeAz:
    """Answers the hook's az commands: deployments (failing first `not_ready` times with
    Event Grid's answer before the function is indexed), listing and deleting subscriptions."""

    def __init__(self, existing: dict[str, Sequence[str]] | None = None, not_ready: int = 0,
                 error: str = "") -> None:
        self.commands: list[list[str]] = []
        self.parameters: list[dict[str, Any]] = []
        self.existing, self.not_ready, self.error = existing or {}, not_ready, error

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        command = list(command)
        self.commands.append(command)
        if command[1:4] == ["deployment", "group", "create"]:
            if self.error:
                return subprocess.CompletedProcess(command, 1, "", self.error)
            if self.not_ready:
                self.not_ready -= 1
                return subprocess.CompletedProcess(
                    command, 1, "", '{"code":"Endpoint validation","message":"Destination '
                    'endpoint not found."}')
            path = Path(command[command.index("--parameters") + 1].removeprefix("@"))
            parameters = json.loads(path.read_text())["parameters"]
            self.parameters.append(parameters)
            scope = Scope(BicepFile.read(EVENTS), given={name: value["value"]
                                                         for name, value in parameters.items()})
            (topic,) = _bodies(scope, TOPICS)
            outputs = {name: {"value": topic["name"] if name == "topicName"
                              else scope.evaluate(node)}
                       for name, node in scope.file.outputs.items()}
            return subprocess.CompletedProcess(command, 0, json.dumps(outputs), "")
        if command[4] == "list":
            topic = command[command.index("--system-topic-name") + 1]
            return subprocess.CompletedProcess(
                command, 0, json.dumps(list(self.existing.get(topic, ()))), "")
        return subprocess.CompletedProcess(command, 0, "", "")


def _environment(given: dict[str, object]) -> dict[str, str]:
    """What azd hands the hook: main.bicep's outputs, as text (the deployment-time values
    filled in as a deployment would)."""
    def known(value: object) -> object:
        if isinstance(value, Unknown):
            return {"functionApp.outputs.id": "/subscriptions/s/resourceGroups/rg-ddd-test/"
                    "providers/Microsoft.Web/sites/func-ddd"}.get(value.path, "eastus2")
        if isinstance(value, dict):
            return {key: known(item) for key, item in value.items()}
        if isinstance(value, list):
            return [known(item) for item in value]
        return value
    return {"EVENT_GRID_DEPLOYMENTS": json.dumps(known(_hook_deployments(given)))}


def test_the_hook_makes_each_accounts_subscriptions_and_removes_only_its_own_stale_ones(
        rules_given):
    hook = _hook()
    prefix = f"ddd-{main_scope(REPO_ROOT, rules_given).lookup('resourceToken')}-"
    az = FakeAz(existing={
        "evgt-sequencingcore": [f"{prefix}smith-miseq", f"{prefix}retired", "ddd-otherenv-smith",
                                "someone-elses"],
        "evgt-archive2": [f"{prefix}archive"]})
    assert hook.main(_environment(rules_given), runner=az) == 0
    deploys = [command for command in az.commands if command[1] == "deployment"]
    assert [(c[c.index("--subscription") + 1], c[c.index("--resource-group") + 1])
            for c in deploys] == [("sub-1", "rg"), ("sub-2", "rg-archive"), ("sub-1", "rg-nova")]
    for command in deploys:
        assert Path(command[command.index("--template-file") + 1]) == EVENTS
    assert all(parameters["subscriptions"]["value"] is True for parameters in az.parameters)
    deleted = [(command[command.index("--system-topic-name") + 1],
                command[command.index("--name") + 1]) for command in az.commands
               if command[1] == "eventgrid" and command[4] == "delete"]
    # the one of this environment that no rule names; other environments' and others' stay
    assert deleted == [("evgt-sequencingcore", f"{prefix}retired")]


def test_the_hook_waits_for_the_function_to_be_indexed(rules_given):
    hook = _hook()
    az = FakeAz(not_ready=2)
    waited: list[float] = []
    entries = hook.deployments(_environment(rules_given))
    hook.subscribe(entries[:1], az, sleep=waited.append)
    assert waited == [hook.WAIT_SECONDS] * 2 and len(az.parameters) == 1


def test_the_hook_stops_at_another_error_and_says_so(rules_given, capsys):
    hook = _hook()
    az = FakeAz(error="AuthorizationFailed: does not have authorization")
    assert hook.main(_environment(rules_given), runner=az) == 1
    assert len(az.commands) == 1
    assert "AuthorizationFailed" in capsys.readouterr().err


def test_with_no_rules_the_hook_does_nothing(given):
    hook = _hook()
    az = FakeAz()
    assert hook.main(_environment(given), runner=az) == 0
    assert hook.main({}, runner=az) == 0
    assert az.commands == []


def test_azure_yaml_runs_the_hook_after_deploy():
    text = (REPO_ROOT / "azure.yaml").read_text(encoding="utf-8")
    hooks = re.search(r"^hooks:\n((?:  .*\n)+)", text, re.MULTILINE)
    assert hooks, "azure.yaml has no hooks"
    assert re.match(r"  postdeploy:\n", hooks.group(1))
    runs = re.findall(r"run: (.*)", hooks.group(1))
    assert runs and all(run.split()[-1] == HOOK.relative_to(REPO_ROOT).as_posix()
                        for run in runs)
    # array parameters from azd's environment (STANDING_RULES) need azd 1.23.4; `azd down`
    # leaves the groups it did not create (the topics' groups) from 1.24.0
    assert re.search(r'^requiredVersions:\n  azd: ">= 1\.24\.0"$', text, re.MULTILINE)
