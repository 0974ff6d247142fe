"""What the deployment promises in its shape, read straight from infra/: main.bicep only wires
modules, no storage keys, parameters that agree between main.bicep, its modules and
main.parameters.json, and an azd wiring that matches."""

from __future__ import annotations

import json
import re

import pytest
from bicep import BicepFile, plain_string, text_of, walk
from bicep_eval import Scope
from deployment import FUNCTION_APP_MODULE, REPO_ROOT

INFRA = REPO_ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: path.name)
def test_every_bicep_file_parses(path):
    file = BicepFile.read(path)
    assert file.params or file.resources or file.modules


def test_main_only_wires_modules(main_bicep):
    """It creates the resource group only; it may read existing resources (a rule account's
    region, for its Event Grid topic)."""
    assert {resource.target for resource in main_bicep.resources if not resource.existing} == {
        "Microsoft.Resources/resourceGroups"}
    for module in main_bicep.modules:
        assert (INFRA / module.target).is_file(), module.target


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: path.name)
def test_no_storage_keys_anywhere(path):
    file = BicepFile.read(path)
    for node in walk(file.root):
        if node.type == "call_expression":
            assert not text_of(node).startswith("listKeys("), f"{path.name}: {text_of(node)}"
        if node.type == "string":
            assert "AccountKey=" not in text_of(node), path.name
    if path.name == "storage.bicep":
        (account,) = file.resources_of_type("Microsoft.Storage/storageAccounts")
        properties = account.body["properties"]
        assert "allowSharedKeyAccess: false" in text_of(properties)


def test_parameters_file_matches_main_bicep(main_bicep):
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = main_bicep.params
    assert set(given) <= set(declared), f"unknown parameters: {set(given) - set(declared)}"
    required = {name for name, param in declared.items() if param.default is None}
    assert required <= set(given), f"required, not in main.parameters.json: {required - set(given)}"
    for name in ("sourceStorageAccountIds", "sinkStorageAccountIds", "websiteUrl",
                 "notificationEmail"):
        assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", given[name]["value"]), name


def _constraints(file: BicepFile, name: str) -> dict[str, object]:
    """A parameter's decorators but its description, evaluated (allowed values as a set)."""
    scope = Scope(file)
    found: dict[str, object] = {}
    for decorator, args in file.params[name].decorators.items():
        if decorator in ("description", "metadata"):
            continue
        (value,) = (scope.evaluate(arg) for arg in args)
        found[decorator] = frozenset(value) if isinstance(value, list) else value
    return found


def test_a_module_checks_no_more_than_main_bicep_does(main_bicep):
    """Every bound a module puts on a parameter main.bicep passes straight through is in
    main.bicep too, with the same value: a module stricter than main.bicep would refuse, deep
    in a deployment, a value main.bicep accepted."""
    compared = 0
    for module in main_bicep.modules:
        child = BicepFile.read(INFRA / module.target)
        for name, value in module.params.items():
            if value.type != "identifier" or text_of(value) not in main_bicep.params:
                continue
            outer = _constraints(main_bicep, text_of(value))
            inner = _constraints(child, name)
            for decorator, value in inner.items():
                assert outer.get(decorator) == value, (
                    f"{module.symbol}.{name}: @{decorator} {value} in the module, "
                    f"{outer.get(decorator)} in main.bicep")
                compared += 1
    assert compared >= 3


def test_azure_yaml_deploys_this_project_as_the_function_app():
    text = (REPO_ROOT / "azure.yaml").read_text(encoding="utf-8")
    service = re.search(r"^services:\n  (\w+):\n((?:    .*\n)+)", text, re.MULTILINE)
    assert service, "azure.yaml has no service"
    name, body = service.group(1), service.group(2)
    assert re.search(r"^    project: \.$", body, re.MULTILINE)
    assert re.search(r"^    language: python$", body, re.MULTILINE)
    assert re.search(r"^    host: function$", body, re.MULTILINE)
    # azd finds the app by its azd-service-name tag.
    default = BicepFile.read(REPO_ROOT / FUNCTION_APP_MODULE).params["azdServiceName"].default
    assert default is not None and plain_string(default) == name
