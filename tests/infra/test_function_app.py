"""The Function App on Flex Consumption: the plan's settings, scale and instance size, and the
host.json limits they must fit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bicep import BicepFile, object_entries, property_key, text_of, walk
from bicep_eval import Scope
from deployment import (
    FUNCTION_APP_MODULE,
    MAIN_BICEP,
    REPO_ROOT,
    app_settings,
    function_app,
    function_app_setting,
    main_scope,
)

from shared.core.config import load_settings

HOST_JSON = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))

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


def test_function_app_is_flex_consumption_without_deprecated_settings():
    module = BicepFile.read(REPO_ROOT / FUNCTION_APP_MODULE)
    (plan,) = module.resources_of_type("Microsoft.Web/serverfarms")
    sku = object_entries(plan.body["sku"])
    assert (text_of(sku["tier"]), text_of(sku["name"])) == ("'FlexConsumption'", "'FC1'")
    (site,) = module.resources_of_type("Microsoft.Web/sites")
    assert "functionAppConfig" in object_entries(site.body["properties"])
    keys = {property_key(node) for node in walk(site.value) if node.type == "object_property"}
    assert not keys & FLEX_REJECTED_SITE_CONFIG, "siteConfig properties rejected on Flex"
    names = app_settings(REPO_ROOT / FUNCTION_APP_MODULE).names
    assert not names & FLEX_DEPRECATED_SETTINGS
    for connection in ("accountName", "credential", "clientId", "blobServiceUri",
                       "queueServiceUri", "tableServiceUri"):
        assert f"AzureWebJobsStorage__{connection}" in names


def test_host_json_fits_flex_consumption():
    assert HOST_JSON["version"] == "2.0"
    # Flex Consumption needs extension bundle 4.x or later for non-.NET apps.
    assert HOST_JSON["extensionBundle"]["version"].startswith("[4.")
    hub = HOST_JSON["extensions"]["durableTask"]["hubName"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub), hub
    # Bounded, and within the 60 minutes an execution gets when Flex Consumption scales in.
    hours, minutes, seconds = (int(part) for part in HOST_JSON["functionTimeout"].split(":"))
    assert 0 < hours * 3600 + minutes * 60 + seconds <= 3600


def _site(given: dict[str, object]) -> dict[str, object]:
    app = function_app(REPO_ROOT, given)
    (site,) = app.file.resources_of_type("Microsoft.Web/sites")
    (body,) = app.resource_bodies(site)
    properties = body["properties"]
    assert isinstance(properties, dict)
    return properties


def _always_ready(given: dict[str, object]) -> dict[str, object]:
    scale = _site(given)["functionAppConfig"]["scaleAndConcurrency"]  # type: ignore[index]
    return {entry["name"]: entry["instanceCount"] for entry in scale["alwaysReady"]}


def _bounds(path: Path, name: str) -> dict[str, object]:
    file = BicepFile.read(path)
    return {decorator: Scope(file).evaluate(value)
            for decorator, (value, *_) in file.params[name].decorators.items()
            if decorator in ("minValue", "maxValue", "allowed")}


def test_the_durable_group_keeps_one_instance_ready_by_default(given):
    """Microsoft's recommendation for Durable Functions on Flex Consumption: one always-ready
    instance for the durable group, so a delivery's orchestration does not wait for a cold
    start at each step after the app scaled to zero."""
    assert _always_ready(given) == {"durable": 1}


@pytest.mark.parametrize("ready", range(11))
def test_zone_redundancy_keeps_at_least_two_instances_ready(given, ready):
    """A zone-redundant Flex Consumption plan refuses fewer than 2 always-ready instances per
    group (one per zone): 0 and 1 are raised to 2 (what the platform runs and bills anyway)."""
    given = {**given, "zoneRedundant": True, "durableAlwaysReadyInstances": ready}
    assert _always_ready(given) == {"durable": max(2, ready)}
    assert _always_ready({**given, "zoneRedundant": False}) == ({"durable": ready} if ready else {})


def test_zone_redundant_apps_keep_their_state_in_zone_redundant_storage(given):
    """The host state and the task hub must survive a zone too (a ZRS account)."""
    for zone_redundant, sku in ((True, "Standard_ZRS"), (False, "Standard_LRS")):
        (storage,) = main_scope(REPO_ROOT, {**given, "zoneRedundant": zone_redundant}
                                ).module_deployments("storage")
        assert storage.scope.lookup("skuName") == sku


@pytest.mark.parametrize("path", [REPO_ROOT / MAIN_BICEP, REPO_ROOT / FUNCTION_APP_MODULE])
def test_the_maximum_instance_count_goes_down_to_one(path):
    """The plan's lowest maximum instance count is 1 (40 was a preview limit)."""
    assert _bounds(path, "maximumInstanceCount") == {"minValue": 1, "maxValue": 1000}


@pytest.mark.parametrize("path", [REPO_ROOT / MAIN_BICEP, REPO_ROOT / FUNCTION_APP_MODULE])
def test_instances_have_the_memory_and_cpu_the_app_needs(path):
    """512 MB instances (a quarter of a core) are not offered: see functionapp.bicep."""
    assert set(_bounds(path, "instanceMemoryMB")["allowed"]) == {2048, 4096}  # type: ignore


def test_every_activity_and_orchestrator_slot_has_a_worker_thread(given):
    """The Python worker runs every sync function, orchestrator episodes included, on one
    thread pool: min(32, cores + 4) threads unless PYTHON_THREADPOOL_THREAD_COUNT says, 5 on
    a one-core 2,048 MB instance. host.json lets 9 activities and 4 orchestrations run at
    once; with fewer threads, activities queue behind each other and orchestrator episodes
    behind minutes-long copies."""
    durable = HOST_JSON["extensions"]["durableTask"]
    slots = (durable["maxConcurrentActivityFunctions"]
             + durable["maxConcurrentOrchestratorFunctions"])
    assert function_app_setting(REPO_ROOT, "PYTHON_THREADPOOL_THREAD_COUNT", given) == str(slots)


@pytest.mark.parametrize(("extra", "units"), [
    ({}, "32"),  # four instances' worth of windows (8 units in 9 slots each)
    ({"copyingInstances": 1}, "8"),  # every delivery shares one instance's slots
    ({"copyingInstances": 10, "maximumInstanceCount": 3}, "24"),  # no more than may run
])
def test_the_units_all_deliveries_share_are_instances_worth_of_windows(given, extra, units):
    """Deliveries copying at once share DDD_SHARED_UNITS units in flight (each one's window
    its share): a few instances' worth, never more instances than the plan may run."""
    setting = function_app_setting(REPO_ROOT, "DDD_SHARED_UNITS", {**given, **extra})
    assert setting == units
    # the app takes the value as deployed
    assert load_settings({
        "DDD_WORK_ACCOUNT": "stdddwork", "DDD_WEBSITE_URL": "https://d4s2.example.org",
        "DDD_WEBSITE_TOKEN": "token", "DDD_SOURCE_ACCOUNTS": "sequencingcore",
        "DDD_SINK_ACCOUNTS": "labsmith", "DDD_SHARED_UNITS": str(setting),
    }).shared_units == int(units)
