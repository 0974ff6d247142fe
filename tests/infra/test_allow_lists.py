"""DDD_SOURCE_ACCOUNTS and DDD_SINK_ACCOUNTS name exactly the accounts (and containers) the
deployment grants source and sink roles on. Shown twice: by following the Bicep text from each
app setting back to the lists the role modules loop over, and by computing both on sample
resource ids."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from bicep import BicepFile
from bicep_eval import Unknown
from deployment import (
    FUNCTION_APP_MODULE,
    MAIN_BICEP,
    REPO_ROOT,
    ROLE_MODULE,
    account_id,
    allow_list_mismatches,
    allow_list_wiring_problems,
    function_app_setting,
    role_deployments,
    role_loops,
    setting_inputs,
    storage_grants,
)


def _ids(*accounts: str) -> str:
    return ",".join(account_id(account) for account in accounts)


def test_allow_lists_are_built_from_the_lists_the_role_modules_loop_over():
    assert allow_list_wiring_problems(REPO_ROOT) == []
    loops = {loop.module: (loop.side, set(loop.collection))
             for loop in role_loops(BicepFile.read(REPO_ROOT / MAIN_BICEP))}
    assert loops == {
        "sourceRoles": ("source", {"sourceIds"}),
        "sinkRoles": ("sink", {"sinkIds"}),
        "moveRoles": ("move", {"moveIdList"}),
    }
    stop = {"sourceIds", "sinkIds"}
    assert setting_inputs(REPO_ROOT, "DDD_SOURCE_ACCOUNTS", stop) == {"sourceIds"}
    assert setting_inputs(REPO_ROOT, "DDD_SINK_ACCOUNTS", stop) == {"sinkIds"}
    # Followed one step further, they are the deployment parameters (docs/deploy.md).
    assert setting_inputs(REPO_ROOT, "DDD_SINK_ACCOUNTS", set()) == {"sinkStorageAccountIds"}
    # A move list: its own parameter, and the sources (each entry must be one).
    assert setting_inputs(REPO_ROOT, "DDD_MOVE_ALWAYS", set()) == {
        "moveAlwaysIds", "sourceStorageAccountIds"}


@pytest.mark.parametrize(("ids", "sources", "sinks"), [
    pytest.param({"sourceStorageAccountIds": _ids("sequencingcore"),
                  "sinkStorageAccountIds": _ids("labsmith")},
                 "sequencingcore", "labsmith", id="one-each"),
    pytest.param({"sourceStorageAccountIds": _ids("sequencingcore") + " , " + _ids("archive2"),
                  "sinkStorageAccountIds": _ids("labsmith", "OtherLab")},
                 "sequencingcore,archive2", "labsmith,otherlab",
                 id="spaces-and-capitals"),
])
def test_allow_lists_evaluate_to_exactly_the_accounts_with_roles(given, ids, sources, sinks):
    given = {**given, **ids}
    assert function_app_setting(REPO_ROOT, "DDD_SOURCE_ACCOUNTS", given) == sources
    assert function_app_setting(REPO_ROOT, "DDD_SINK_ACCOUNTS", given) == sinks
    assert allow_list_mismatches(REPO_ROOT, given) == []


# A small main.bicep and functionapp.bicep with the same wiring as infra/; each @NAME@ is
# replaced with WIRED[NAME] or with a test's change to it.
WIRED_MAIN = """\
param srcIdsText string
param sinkIdsText string
param sinkAclIdsText string = ''
param otherIdsText string = ''
var srcIds = split(srcIdsText, ',')
var sinkIds = split(sinkIdsText, ',')
var sinkAclIds = empty(sinkAclIdsText) ? [] : split(sinkAclIdsText, ',')
var otherIds = split(otherIdsText, ',')
var sourceNames = @SOURCE_NAMES@
var sinkNames = @SINK_NAMES@
module storage 'modules/storage.bicep' = {
  name: 'storage'
}
module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    workAccount: storage.outputs.name
    sourceAccounts: sourceNames
    sinkAccounts: sinkNames
  }
}
module appRoles 'modules/roles.bicep' = {
  name: 'roles-app'
  params: {
    storageRoles: [
      {
        account: storage.outputs.name
        role: 'StorageBlobDataOwner'
        why: 'host'
      }
    ]
  }
}
module srcRoles 'modules/roles.bicep' = [for id in srcIds: {
  name: 'roles-src'
  params: {
    storageRoles: [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDataReader'
        why: 'read'
      }
    ]
  }
}]
module sinkRoles 'modules/roles.bicep' = [for (id, i) in sinkIds: {
  name: 'roles-sink-${i}'
  params: {
    storageRoles: [
      {
        account: @SINK_ROLE_ACCOUNT@
        role: 'StorageBlobDataContributor'
        why: 'write'
      }
    ]
  }
}]
module sinkAclRoles 'modules/roles.bicep' = [for (id, i) in sinkAclIds: {
  name: 'roles-sink-acl-${i}'
  params: {
    storageRoles: [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDataOwner'
        why: 'acl'
      }
    ]
  }
}]
"""
WIRED_FUNCTION_APP = """\
param workAccount string
param sourceAccounts string
param sinkAccounts string
param fixedAccounts string = 'labsmith'
var appSettings = {
  DDD_WORK_ACCOUNT: workAccount
  DDD_SOURCE_ACCOUNTS: @APP_SOURCE@
  DDD_SINK_ACCOUNTS: sinkAccounts
}
resource siteSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  name: 'appsettings'
  properties: appSettings
}
"""
WIRED_ROLES = """\
param storageRoles array = []
"""
ROLES = MAIN_BICEP.parent / ROLE_MODULE
WIRED = {
    "SOURCE_NAMES": "join(map(srcIds, id => toLower(split(id, '/')[8])), ',')",
    "SINK_NAMES": "join(map(union(sinkIds, sinkAclIds), id => toLower(split(id, '/')[8])), ',')",
    "SINK_ROLE_ACCOUNT": "split(id, '/')[8]",
    "APP_SOURCE": "sourceAccounts",
}
WIRED_GIVEN: dict[str, object] = {
    "srcIdsText": _ids("sequencingcore"),
    "sinkIdsText": _ids("labsmith", "otherlab"),
    "sinkAclIdsText": _ids("acllab"),
    "otherIdsText": _ids("stranger"),
}


def _wired_tree(tmp_path: Path, **changes: str) -> Path:
    values = {**WIRED, **changes}
    files = {}
    for path, template in ((MAIN_BICEP, WIRED_MAIN), (FUNCTION_APP_MODULE, WIRED_FUNCTION_APP),
                           (ROLES, WIRED_ROLES)):
        for name, value in values.items():
            template = template.replace(f"@{name}@", value)
        files[path.as_posix()] = template
    for relative, content in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return tmp_path


def test_the_wired_tree_passes_both_checks(tmp_path):
    root = _wired_tree(tmp_path)
    assert allow_list_wiring_problems(root) == []
    assert allow_list_mismatches(root, WIRED_GIVEN) == []
    assert function_app_setting(root, "DDD_SINK_ACCOUNTS", WIRED_GIVEN) == \
        "labsmith,otherlab,acllab"


@pytest.mark.parametrize(("change", "wiring_problem", "mismatch"), [
    pytest.param(
        {"SOURCE_NAMES": "join(map(otherIds, id => toLower(split(id, '/')[8])), ',')"},
        "DDD_SOURCE_ACCOUNTS is built from ['otherIdsText'], but the source role assignments "
        "from ['srcIds']",
        "allowed without source roles: ['stranger']; with source roles but not allowed: "
        "['sequencingcore']",
        id="source-list-from-another-parameter"),
    pytest.param(
        {"SINK_NAMES": "join(map(sinkIds, id => toLower(split(id, '/')[8])), ',')"},
        "DDD_SINK_ACCOUNTS is built from ['sinkIds'], but the sink role assignments from "
        "['sinkAclIds', 'sinkIds']",
        "with sink roles but not allowed: ['acllab']",
        id="sink-list-without-the-acl-sinks"),
    pytest.param(
        {"SOURCE_NAMES": "join(map(split(srcIdsText, ','), id => split(id, '/')[8]), ',')"},
        "DDD_SOURCE_ACCOUNTS is built from ['srcIdsText'], but the source role assignments "
        "from ['srcIds']",
        None,  # the same accounts today; the next change to srcIds would part them
        id="source-list-from-the-raw-parameter-not-the-role-loop-list"),
    pytest.param(
        {"APP_SOURCE": "fixedAccounts"},
        "DDD_SOURCE_ACCOUNTS is built from ['functionapp.bicep:fixedAccounts']",
        "allowed without source roles: ['labsmith']",
        id="app-setting-from-a-module-default"),
    pytest.param(
        {"SINK_ROLE_ACCOUNT": "split(otherIds[0], '/')[8]"},
        "sinkRoles: its accounts are not built from its loop item alone (also from "
        "['otherIds'])",
        "with sink roles but not allowed: ['stranger']",
        id="role-on-an-account-not-from-the-loop-item"),
    pytest.param(
        {"SOURCE_NAMES": "join(map(srcIds, id => split(id, '/')[4]), ',')"},
        None,  # built from the right list, but the wrong segment: only evaluation sees it
        "allowed without source roles: ['rg']; with source roles but not allowed: "
        "['sequencingcore']",
        id="resource-group-segment-instead-of-the-account-name"),
])
def test_allow_lists_apart_from_the_roles_fail_the_checks(tmp_path, change, wiring_problem,
                                                         mismatch):
    root = _wired_tree(tmp_path, **change)
    problems = allow_list_wiring_problems(root)
    mismatches = allow_list_mismatches(root, WIRED_GIVEN)
    if wiring_problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and wiring_problem in problems[0], problems
    if mismatch is None:
        assert mismatches == []
    else:
        assert len(mismatches) == 1 and mismatch in mismatches[0], mismatches


@pytest.mark.parametrize(("sources", "sinks"), [
    pytest.param(_ids("sequencingcore") + ",", _ids("labsmith"), id="trailing-comma"),
    pytest.param("," + _ids("sequencingcore"), _ids("labsmith") + ",,", id="leading-and-double"),
    pytest.param(_ids("sequencingcore") + " , ", " ," + _ids("labsmith") + ", ,",
                 id="commas-and-spaces"),
])
def test_empty_entries_in_an_id_list_are_harmless(given, sources, sinks):
    """A list typed with a stray comma deploys as the same list without it: no role module
    for an empty entry (its split(id, '/')[8] would fail the deployment), nothing allowed."""
    given = {**given, "sourceStorageAccountIds": sources, "sinkStorageAccountIds": sinks}
    assert function_app_setting(REPO_ROOT, "DDD_SOURCE_ACCOUNTS", given) == "sequencingcore"
    assert function_app_setting(REPO_ROOT, "DDD_SINK_ACCOUNTS", given) == "labsmith"
    assert allow_list_mismatches(REPO_ROOT, given) == []
    deployed = [symbol for symbol, _ in role_deployments(REPO_ROOT, given)]
    assert deployed.count("sourceRoles") == 1 and deployed.count("sinkRoles") == 1


def test_a_container_id_gets_its_roles_on_that_container_only(given):
    """An entry naming a container (<account id>/blobServices/default/containers/<name>) is
    allowed and granted as that container; an account id as the whole account. The user
    delegation key is an account-wide operation: one Storage Blob Delegator per source
    account, however many of its containers are listed (a SAS signed with it can read no more
    than the container roles allow)."""
    given = {
        **given,
        "sourceStorageAccountIds": ",".join([
            account_id("sequencingcore", container="runs"),
            account_id("sequencingcore", container="archive"), account_id("archive2")]),
        "sinkStorageAccountIds": ",".join([
            account_id("labsmith", container="incoming"), account_id("otherlab")]),
    }
    assert function_app_setting(REPO_ROOT, "DDD_SOURCE_ACCOUNTS", given) == \
        "sequencingcore/runs,sequencingcore/archive,archive2"
    assert function_app_setting(REPO_ROOT, "DDD_SINK_ACCOUNTS", given) == \
        "labsmith/incoming,otherlab"
    grants = [grant for grant in storage_grants(REPO_ROOT, given)
              if not isinstance(grant.account, Unknown)]
    assert sorted((grant.role, str(grant.place)) for grant in grants) == [
        ("StorageBlobDataContributor", "labsmith/incoming"),
        ("StorageBlobDataContributor", "otherlab"),
        ("StorageBlobDataReader", "archive2"),
        ("StorageBlobDataReader", "sequencingcore/archive"),
        ("StorageBlobDataReader", "sequencingcore/runs"),
        ("StorageBlobDelegator", "archive2"),
        ("StorageBlobDelegator", "sequencingcore"),
    ]
    assert allow_list_mismatches(REPO_ROOT, given) == []
