"""DDD_SOURCE_ACCOUNTS and DDD_SINK_ACCOUNTS name exactly the accounts (and containers) the
deployment grants source and sink roles on. Shown twice: by following the Bicep text from each
app setting back to the lists the role modules loop over, and by computing both on sample
resource ids."""

from __future__ import annotations

import pytest
from bicep import BicepFile
from bicep_eval import Unknown
from deployment import (
    MAIN_BICEP,
    REPO_ROOT,
    account_id,
    account_ids,
    function_app_setting,
)
from grants import (
    allow_list_mismatches,
    allow_list_wiring_problems,
    role_deployments,
    role_loops,
    setting_inputs,
    storage_grants,
)


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
    pytest.param({"sourceStorageAccountIds": account_ids("sequencingcore"),
                  "sinkStorageAccountIds": account_ids("labsmith")},
                 "sequencingcore", "labsmith", id="one-each"),
    pytest.param({"sourceStorageAccountIds": (account_ids("sequencingcore") + " , "
                                              + account_ids("archive2")),
                  "sinkStorageAccountIds": account_ids("labsmith", "OtherLab")},
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
@pytest.mark.parametrize(("sources", "sinks"), [
    pytest.param(account_ids("sequencingcore") + ",", account_ids("labsmith"), id="trailing-comma"),
    pytest.param("," + account_ids("sequencingcore"), account_ids("labsmith") + ",,",
                 id="leading-and-double"),
    pytest.param(account_ids("sequencingcore") + " , ", " ," + account_ids("labsmith") + ", ,",
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


# The same wiring with the role modules one level down, in a module main.bicep deploys (as
# infra/ does with modules/access.bicep): the checks follow its loops up to main.bicep's lists.
