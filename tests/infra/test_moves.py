"""Moves and standing rules as the deployment sets them: the write role (Storage Blob Data
Contributor) on the move sources only, at the entry's own scope; DDD_MOVE_SOURCES,
DDD_MOVE_ALWAYS and DDD_STANDING_RULES as the app loads them; and the deployment refusing what
the app would refuse to start with. Computed on sample parameters."""

from __future__ import annotations

import json

import pytest
from bicep_eval import DeploymentFailure, Unknown
from deployment import REPO_ROOT, account_id, function_app_setting, main_scope
from grants import allow_list_mismatches, role_deployments, storage_grants

from shared.core.config import SettingsError, load_settings

CONTRIBUTOR = "StorageBlobDataContributor"
CONTRIBUTOR_ID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
SETTINGS = ("DDD_SOURCE_ACCOUNTS", "DDD_SINK_ACCOUNTS", "DDD_MOVE_SOURCES", "DDD_MOVE_ALWAYS",
            "DDD_STANDING_RULES")


def _rule(name: str, account: str, container: str, **more: object) -> dict[str, object]:
    return {"name": name, "source": {"account": account, "container": container},
            "flags": ["RTAComplete.txt"],
            "sink": {"account": "labsmith", "container": "incoming"}, **more}


@pytest.fixture
def moves(given) -> dict[str, object]:
    """Sources: a whole account, two containers of another account in another subscription, a
    third account; moves: a container of the whole account, one of the two containers (asked
    and always: granted once), and the third account whole."""
    return {
        **given,
        "sourceStorageAccountIds": ",".join([
            account_id("sequencingcore"),
            account_id("archive2", container="runs", group="rg-archive", subscription="sub-2"),
            account_id("archive2", container="old", group="rg-archive", subscription="sub-2"),
            account_id("novaseq")]),
        "moveSourceIds": ",".join([
            account_id("sequencingcore", container="miseq"),
            account_id("archive2", container="runs", group="rg-archive", subscription="sub-2")]),
        "moveAlwaysIds": " " + account_id("novaseq") + ", " + account_id(
            "archive2", container="runs", group="rg-archive", subscription="sub-2") + ",",
        "standingRules": [_rule("smith-miseq", "sequencingcore", "miseq", move=True),
                          _rule("archive", "archive2", "runs", move=True),
                          _rule("nova", "novaseq", "runs")],
    }


def _app_environment(given: dict[str, object]) -> dict[str, str]:
    """The settings the Bicep computes for the allow-lists, the moves and the rules, beside the
    few a loading app needs that only a deployment knows."""
    environ = {"DDD_WORK_ACCOUNT": "stdddwork", "DDD_WEBSITE_URL": "https://ddd.example.edu",
               "DDD_KEY_VAULT_URL": "https://kv-ddd.vault.azure.net/"}
    for name in SETTINGS:
        value = function_app_setting(REPO_ROOT, name, given)
        assert isinstance(value, str), (name, value)
        environ[name] = value
    return environ


def test_the_write_role_goes_to_the_move_sources_only(moves):
    grants = storage_grants(REPO_ROOT, moves)
    writes = sorted((grant.module, str(grant.place)) for grant in grants
                    if grant.role == CONTRIBUTOR)
    assert writes == [
        ("moveRoles", "archive2/runs"),
        ("moveRoles", "novaseq"),
        ("moveRoles", "sequencingcore/miseq"),
        ("sinkRoles", "labsmith"),
        ("sinkRoles", "otherlab"),
    ]
    # The sources keep their read role; the write role is added where they move, only.
    reads = sorted(str(grant.place) for grant in grants if grant.role == "StorageBlobDataReader")
    assert reads == ["archive2/old", "archive2/runs", "novaseq", "sequencingcore"]
    assert allow_list_mismatches(REPO_ROOT, moves) == []


def test_a_container_entry_gets_the_write_role_on_that_container_in_its_own_group(moves):
    deployed = [(scope.deployment, scope) for symbol, scope in role_deployments(REPO_ROOT, moves)
                if symbol == "moveRoles"]
    where = sorted((deployment.subscription_id, deployment.resource_group)
                   for deployment, _ in deployed)
    assert where == [("sub-1", "rg"), ("sub-1", "rg"), ("sub-2", "rg-archive")]
    assigned = []
    for _, roles in deployed:
        for assignment in roles.file.resources_of_type("Microsoft.Authorization/roleAssignments"):
            for body in roles.resource_bodies(assignment):
                properties = body["properties"]
                assert isinstance(properties, dict)
                assert str(properties["roleDefinitionId"]).endswith(f"/{CONTRIBUTOR_ID}")
                assigned.append(str(body["scope"]))
        for container in roles.file.resources_of_type(
                "Microsoft.Storage/storageAccounts/blobServices/containers"):
            assigned += [str(body["name"]) for body in roles.resource_bodies(container)]
    # Two containers, each by its own name; one account; never the account of a container.
    assert sorted(assigned) == sorted([
        "archive2/default/runs", "sequencingcore/default/miseq",
        str(Unknown("containers[0]")), str(Unknown("containers[0]")),
        str(Unknown("storageAccounts[0]"))])


def test_the_app_loads_what_the_deployment_sets(moves):
    settings = load_settings(_app_environment(moves))
    assert settings.moves_allowed("sequencingcore", "miseq")
    assert not settings.moves_allowed("sequencingcore", "hiseq")
    assert settings.moves_always("archive2", "runs") and settings.moves_always("novaseq", "x")
    assert not settings.moves_always("sequencingcore", "miseq")
    assert [rule.name for rule in settings.standing_rules] == ["smith-miseq", "archive", "nova"]
    assert settings.standing_rules[0].move


def test_without_moves_or_rules_nothing_is_written_and_the_settings_are_empty(given):
    assert [grant for grant in storage_grants(REPO_ROOT, given)
            if grant.module == "moveRoles"] == []
    assert function_app_setting(REPO_ROOT, "DDD_MOVE_SOURCES", given) == ""
    assert function_app_setting(REPO_ROOT, "DDD_MOVE_ALWAYS", given) == ""
    assert function_app_setting(REPO_ROOT, "DDD_STANDING_RULES", given) == "[]"
    settings = load_settings(_app_environment(given))
    assert settings.move_sources is None and settings.standing_rules == []


def _refusal(change: dict[str, object], refusal: str, app: dict[str, str] | None = None,
             **marks: str) -> object:
    """A change to the sample parameters, what the deployment says, and the same change to the
    app's settings (for rules: the rules as JSON)."""
    rules = change.get("standingRules")
    app = app if app is not None else {"DDD_STANDING_RULES": json.dumps(rules)}
    return pytest.param(change, refusal, app, **marks)


@pytest.mark.parametrize(("change", "refusal", "app"), [
    _refusal({"moveSourceIds": account_id("labsmith")}, "moveSourceIds: labsmith is not a source",
             {"DDD_MOVE_SOURCES": "labsmith"}, id="move-from-a-sink"),
    _refusal({"moveAlwaysIds": account_id("archive2", container="new", group="rg-archive",
                                          subscription="sub-2")},
             "moveAlwaysIds: archive2/new is not a source", {"DDD_MOVE_ALWAYS": "archive2/new"},
             id="container-not-a-source"),
    _refusal({"standingRules": [_rule("stray", "elsewhere", "runs")]},
             "rule stray reads elsewhere/runs, not a source", id="rule-reads-no-source"),
    _refusal({"standingRules": [_rule("stray", "archive2", "new")]},
             "rule stray reads archive2/new, not a source", id="rule-reads-other-container"),
    _refusal({"standingRules": [{**_rule("stray", "novaseq", "runs"),
                                 "sink": {"account": "stranger", "container": "in"}}]},
             "rule stray writes stranger/in, not a sink", id="rule-writes-no-sink"),
    _refusal({"standingRules": [_rule("stray", "sequencingcore", "hiseq", move=True)]},
             "rule stray moves from sequencingcore/hiseq, not in moveSourceIds",
             id="rule-moves-where-moving-is-not-allowed"),
    _refusal({"standingRules": [_rule("twice", "novaseq", "a"), _rule("twice", "novaseq", "b")]},
             "two rules are named twice", id="rule-names-twice"),
])
def test_the_deployment_refuses_what_the_app_would_not_start_with(moves, change, refusal, app):
    """Each refusal names the entry. It is in main.bicep's variables, which Azure Resource
    Manager evaluates when it validates the template, before it deploys anything; and in what
    uses them: the move roles, the app settings, the rules' topics. The app, given the same
    entries, would not start."""
    refused = {**moves, **change}
    main = main_scope(REPO_ROOT, refused)
    with pytest.raises(DeploymentFailure, match=refusal):
        for name in main.file.variables:
            main.lookup(name)
    uses = ([lambda: storage_grants(REPO_ROOT, refused)] if "standingRules" not in change
            else [lambda: main.module_deployments("events")])
    uses.append(lambda: function_app_setting(REPO_ROOT, "DDD_STANDING_RULES", refused))
    for use in uses:
        with pytest.raises(DeploymentFailure, match=refusal):
            use()
    with pytest.raises(SettingsError):
        load_settings({**_app_environment(moves), **app})


def test_a_whole_account_moves_only_where_the_whole_account_is_a_source(moves):
    """Stricter than the app, which lets an account-wide move entry stand over sources that
    are containers of it: the write role on the whole account would let the app delete in
    containers no delivery reads."""
    whole = account_id("archive2", group="rg-archive", subscription="sub-2")
    with pytest.raises(DeploymentFailure, match="moveSourceIds: archive2 is not a source"):
        storage_grants(REPO_ROOT, {**moves, "moveSourceIds": whole})
    load_settings({**_app_environment(moves), "DDD_MOVE_SOURCES": "archive2",
                   "DDD_STANDING_RULES": "[]"})
