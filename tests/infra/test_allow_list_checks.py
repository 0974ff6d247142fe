"""The allow-list cross-checks themselves, on small synthetic trees: a tree whose allow-lists
are built from the lists its role modules loop over (in main.bicep or in a module it deploys)
passes both checks, and each way of setting them apart fails them (`test_allow_lists.py` runs
the checks on the real tree)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from bicep import BicepFile, BicepSyntaxError
from deployment import (
    FUNCTION_APP_MODULE,
    MAIN_BICEP,
    ROLE_MODULE,
    account_ids,
    function_app_setting,
)
from grants import (
    allow_list_mismatches,
    allow_list_wiring_problems,
    role_deployments,
    role_loops,
)

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
    "srcIdsText": account_ids("sequencingcore"),
    "sinkIdsText": account_ids("labsmith", "otherlab"),
    "sinkAclIdsText": account_ids("acllab"),
    "otherIdsText": account_ids("stranger"),
}


def _wired_tree(tmp_path: Path, templates: dict[Path, str] | None = None,
                **changes: str) -> Path:
    values = {**WIRED, **changes}
    files = {}
    templates = templates or {MAIN_BICEP: WIRED_MAIN, FUNCTION_APP_MODULE: WIRED_FUNCTION_APP,
                              ROLES: WIRED_ROLES}
    for path, template in templates.items():
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


NESTED_MAIN = """\
param srcIdsText string
param sinkIdsText string
param otherIdsText string = ''
var srcIds = split(srcIdsText, ',')
var sinkIds = split(sinkIdsText, ',')
var otherIds = split(otherIdsText, ',')
module storage 'modules/storage.bicep' = {
  name: 'storage'
}
module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    workAccount: storage.outputs.name
    sourceAccounts: join(map(srcIds, id => toLower(split(id, '/')[8])), ',')
    sinkAccounts: join(map(sinkIds, id => toLower(split(id, '/')[8])), ',')
  }
}
module access 'modules/access.bicep' = {
  name: 'access'
  scope: resourceGroup('sub-9', 'rg-app')
  params: {
    sourceIds: @PASSED_SOURCES@
    sinkIds: sinkIds
  }
}
"""
NESTED_ACCESS = """\
param sourceIds array
param sinkIds array
param spareIds array = []
var readIds = @READ_IDS@
module srcRoles 'roles.bicep' = [for id in readIds: {
  name: 'roles-src'
  scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])
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
module sinkRoles 'roles.bicep' = [for (id, i) in sinkIds: {
  name: 'roles-sink-${i}'
  params: {
    storageRoles: [
      {
        account: split(id, '/')[8]
        role: 'StorageBlobDataContributor'
        why: 'write'
      }
    ]
  }
}]
"""
NESTED = {
    MAIN_BICEP: NESTED_MAIN, MAIN_BICEP.parent / "modules/access.bicep": NESTED_ACCESS,
    FUNCTION_APP_MODULE: WIRED_FUNCTION_APP, ROLES: WIRED_ROLES,
}
NESTED_WIRED = {"PASSED_SOURCES": "srcIds", "READ_IDS": "filter(sourceIds, id => !empty(id))"}


def test_role_modules_in_a_module_are_followed_to_main_biceps_lists(tmp_path):
    root = _wired_tree(tmp_path, NESTED, **NESTED_WIRED)
    assert allow_list_wiring_problems(root) == []
    loops = {loop.module: set(loop.collection)
             for loop in role_loops(BicepFile.read(root / MAIN_BICEP))}
    assert loops == {"srcRoles": {"srcIds"}, "sinkRoles": {"sinkIds"}}
    given = {name: value for name, value in WIRED_GIVEN.items() if name != "sinkAclIdsText"}
    assert allow_list_mismatches(root, given) == []
    # Deployed where each level's scope says: the source's own group, else the module's.
    where = sorted((symbol, scope.deployment.subscription_id, scope.deployment.resource_group)
                   for symbol, scope in role_deployments(root, given))
    assert where == [("sinkRoles", "sub-9", "rg-app"), ("sinkRoles", "sub-9", "rg-app"),
                     ("srcRoles", "sub-1", "rg")]


@pytest.mark.parametrize(("change", "wiring_problem", "mismatch"), [
    pytest.param(
        {"PASSED_SOURCES": "otherIds"},
        "DDD_SOURCE_ACCOUNTS is built from ['srcIdsText'], but the source role assignments "
        "from ['otherIds']",
        "allowed without source roles: ['sequencingcore']; with source roles but not allowed: "
        "['stranger']",
        id="main-passes-the-module-another-list"),
    pytest.param(
        {"READ_IDS": "spareIds"},
        "DDD_SOURCE_ACCOUNTS is built from ['srcIdsText'], but the source role assignments "
        "from ['access.bicep:spareIds']",
        "allowed without source roles: ['sequencingcore']; with source roles but not allowed: []",
        id="the-module-loops-over-its-own-default"),
])
def test_role_modules_in_a_module_apart_from_the_allow_lists_fail_the_checks(
        tmp_path, change, wiring_problem, mismatch):
    root = _wired_tree(tmp_path, NESTED, **{**NESTED_WIRED, **change})
    given = {name: value for name, value in WIRED_GIVEN.items() if name != "sinkAclIdsText"}
    problems = allow_list_wiring_problems(root)
    assert len(problems) == 1 and wiring_problem in problems[0], problems
    mismatches = allow_list_mismatches(root, given)
    assert len(mismatches) == 1 and mismatch in mismatches[0], mismatches


def test_role_modules_of_one_name_in_two_files_are_refused(tmp_path):
    """The checks tell role modules apart by symbol (the move module by its name): one name
    used in main.bicep and in a module below it would merge their grants."""
    twice = NESTED_MAIN + WIRED_MAIN[WIRED_MAIN.index("module sinkRoles"):
                                     WIRED_MAIN.index("module sinkAclRoles")]
    root = _wired_tree(tmp_path, {**NESTED, MAIN_BICEP: twice}, **NESTED_WIRED)
    with pytest.raises(BicepSyntaxError, match=r"same name in two files: \['sinkRoles'\]"):
        role_loops(BicepFile.read(root / MAIN_BICEP))
