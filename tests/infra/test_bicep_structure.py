"""What the deployment promises, read straight from infra/: one role module, roles on single
resources only, no storage keys, Flex Consumption settings, and an azd wiring that matches."""

from __future__ import annotations

import json
import re

import pytest
from infra_checks import (
    FUNCTION_APP_MODULE,
    REPO_ROOT,
    app_settings,
    object_entries,
    parameters,
    resources,
    strip_comments,
    variable,
)

INFRA = REPO_ROOT / "infra"
MAIN = INFRA / "main.bicep"
ROLES = INFRA / "modules" / "roles.bicep"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# The roles main.bicep may grant, by role name (see README.md, Deploy for why each).
EXPECTED_ROLES = {
    "StorageBlobDataOwner",  # app storage (host + work container) only
    "StorageQueueDataContributor",  # Durable task hub queues
    "StorageTableDataContributor",  # Durable task hub tables
    "StorageBlobDataReader",  # source accounts
    "StorageBlobDelegator",  # source accounts: user delegation key
    "StorageBlobDataContributor",  # sink accounts
    "KeyVaultSecretsUser",  # the app, on the vault
    "KeyVaultSecretsOfficer",  # the deployer, on the vault (to store the website token)
    "MonitoringMetricsPublisher",  # the app, on Application Insights
}

# App settings Flex Consumption deprecates or rejects: the plan sets these itself through
# functionAppConfig (runtime, scale, deployment storage) or has no such feature.
FLEX_DEPRECATED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_NODE_DEFAULT_VERSION",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_TIME_ZONE",
    "TZ",
    "AzureWebJobsStorage",  # a connection string (with a key): the identity-based form is used
}
FLEX_REJECTED_SITE_CONFIG = {
    "linuxFxVersion", "alwaysOn", "ftpsState", "use32BitWorkerProcess", "pythonVersion",
    "preWarmedInstanceCount", "functionAppScaleLimit", "functionsRuntimeScaleMonitoringEnabled",
}


def _text(path):
    return path.read_text(encoding="utf-8")


def test_every_bicep_file_is_readable():
    assert BICEP_FILES, "no Bicep files under infra/"
    for path in BICEP_FILES:
        resources(_text(path))  # raises on unbalanced brackets or unterminated strings


def test_main_only_wires_modules():
    types = {resource.type for resource in resources(_text(MAIN))}
    assert types == {"Microsoft.Resources/resourceGroups"}
    modules = re.findall(r"^module\s+\w+\s+'([^']+)'", _text(MAIN), re.MULTILINE)
    for module in modules:
        assert (INFRA / module).is_file(), module


def test_role_assignments_live_in_the_one_role_module():
    for path in BICEP_FILES:
        for resource in resources(_text(path)):
            if resource.type == "Microsoft.Authorization/roleAssignments":
                assert path == ROLES, f"{path.name} assigns a role ({resource.symbol})"
    assert "roleAssignments" not in strip_comments(_text(MAIN))


def test_role_assignments_are_scoped_to_single_resources_with_stable_names():
    text = _text(ROLES)
    declared = {r.symbol: r for r in resources(text)}
    assert not re.search(r"^targetScope\s*=\s*'(subscription|managementGroup|tenant)'",
                         text, re.MULTILINE)
    assignments = [r for r in declared.values()
                   if r.type == "Microsoft.Authorization/roleAssignments"]
    assert assignments
    for assignment in assignments:
        entries = object_entries(assignment.body, 0)
        scope = entries.get("scope", "")
        target = re.fullmatch(r"(\w+)(\[i\])?", scope)
        assert target and target.group(1) in declared, (
            f"{assignment.symbol}: scope must be one resource, got {scope!r}")
        assert declared[target.group(1)].existing
        assert declared[target.group(1)].type != "Microsoft.Resources/resourceGroups"
        name = entries.get("name", "")
        assert name.startswith(f"guid({target.group(0)}.id, principalId, "), (
            f"{assignment.symbol}: name must be guid(scope, principal, role), got {name!r}")


def test_only_the_expected_roles_are_granted():
    text = _text(MAIN)
    granted = set(re.findall(r"role:\s*'(\w+)'", text))
    assert granted == EXPECTED_ROLES
    built_in = object_entries(variable(_text(ROLES), "builtInRoles"), 0)
    assert granted <= set(built_in), f"unknown role names: {granted - set(built_in)}"
    for role_id in built_in.values():
        assert re.fullmatch(r"'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'",
                            role_id)


def test_source_and_sink_roles_match_the_job():
    text = strip_comments(_text(MAIN))

    def roles_in(module_symbol):
        start = text.index(f"module {module_symbol} ")
        end = text.find("\nmodule ", start + 1)
        return set(re.findall(r"role:\s*'(\w+)'", text[start:end if end > 0 else None]))

    assert roles_in("sourceRoles") == {"StorageBlobDataReader", "StorageBlobDelegator"}
    # Contributor also covers the read grants on delivered folders: the app owns what it
    # created there, and an owner may change the ACLs of what it owns.
    assert roles_in("sinkRoles") == {"StorageBlobDataContributor"}
    assert roles_in("deployerRoles") == {"KeyVaultSecretsOfficer"}
    # Account modules deploy into the account's own resource group, parsed from its id.
    for symbol in ("sourceRoles", "sinkRoles"):
        start = text.index(f"module {symbol} ")
        assert "scope: resourceGroup(split(id, '/')[2], split(id, '/')[4])" in text[start:]


def test_no_storage_keys_anywhere():
    for path in BICEP_FILES:
        code = strip_comments(_text(path))
        assert "listKeys(" not in code, path
        assert "AccountKey=" not in code, path
    storage = _text(INFRA / "modules" / "storage.bicep")
    assert re.search(r"^\s*allowSharedKeyAccess:\s*false$", storage, re.MULTILINE)


def test_key_vault_uses_rbac_soft_delete_and_purge_protection():
    vault = _text(INFRA / "modules" / "keyvault.bicep")
    for setting in ("enableRbacAuthorization", "enableSoftDelete", "enablePurgeProtection"):
        assert re.search(rf"^\s*{setting}:\s*true$", vault, re.MULTILINE), setting


def test_function_app_is_flex_consumption_without_deprecated_settings():
    module = _text(REPO_ROOT / FUNCTION_APP_MODULE)
    declared = {r.type: r for r in resources(module)}
    plan = object_entries(declared["Microsoft.Web/serverfarms"].body, 0)
    assert "'FlexConsumption'" in plan["sku"] and "'FC1'" in plan["sku"]
    site = declared["Microsoft.Web/sites"].body
    assert "functionAppConfig" in site
    assert "instanceMemoryMB: instanceMemoryMB" in site
    assert "maximumInstanceCount: maximumInstanceCount" in site
    assert "name: 'python'" in site
    for prop in FLEX_REJECTED_SITE_CONFIG:
        assert not re.search(rf"\b{prop}\s*:", site), f"siteConfig.{prop} is rejected on Flex"
    names = app_settings(REPO_ROOT / FUNCTION_APP_MODULE).names
    assert not names & FLEX_DEPRECATED_SETTINGS
    for connection in ("accountName", "credential", "clientId", "blobServiceUri",
                       "queueServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{connection}" in names


def test_parameters_file_matches_main_bicep():
    declared = parameters(_text(MAIN))
    given = json.loads(_text(INFRA / "main.parameters.json"))["parameters"]
    assert set(given) <= set(declared), f"unknown parameters: {set(given) - set(declared)}"
    required = {name for name, default in declared.items() if default is None}
    assert required <= set(given), f"required, not in main.parameters.json: {required - set(given)}"
    for name in ("sourceStorageAccountIds", "sinkStorageAccountIds", "websiteUrl",
                 "notificationEmail"):
        assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", given[name]["value"]), name


def test_azure_yaml_deploys_this_project_as_the_function_app():
    text = _text(REPO_ROOT / "azure.yaml")
    service = re.search(r"^services:\n  (\w+):\n((?:    .*\n)+)", text, re.MULTILINE)
    assert service, "azure.yaml has no service"
    name, body = service.group(1), service.group(2)
    assert re.search(r"^    project: \.$", body, re.MULTILINE)
    assert re.search(r"^    language: python$", body, re.MULTILINE)
    assert re.search(r"^    host: function$", body, re.MULTILINE)
    # azd finds the app by its azd-service-name tag.
    default = parameters(_text(REPO_ROOT / FUNCTION_APP_MODULE))["azdServiceName"]
    assert default == f"'{name}'"


@pytest.mark.parametrize("path", ["host.json"])
def test_host_json_fits_flex_consumption(path):
    host = json.loads(_text(REPO_ROOT / path))
    assert host["version"] == "2.0"
    # Flex Consumption needs extension bundle 4.x or later for non-.NET apps.
    assert host["extensionBundle"]["version"].startswith("[4.")
    hub = host["extensions"]["durableTask"]["hubName"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub), hub
    # Bounded, and within the 60 minutes an execution gets when Flex Consumption scales in.
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert 0 < hours * 3600 + minutes * 60 + seconds <= 3600
