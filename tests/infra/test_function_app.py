"""The Function App on Flex Consumption: the plan's settings, scale and instance size, and the
host.json limits they must fit."""

from __future__ import annotations

import json
import re

from bicep import BicepFile, object_entries, property_key, text_of, walk
from deployment import FUNCTION_APP_MODULE, REPO_ROOT, app_settings

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
