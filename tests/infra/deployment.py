"""What infra/ deploys, read and computed from the Bicep: the Function App's app settings and
main.bicep evaluated on sample parameters (the storage roles it grants: `grants.py`).

Everything takes the repository root, so the tests run the same functions against the real
tree and against small synthetic ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bicep import (
    BicepFile,
    BicepSyntaxError,
    Node,
    named_children,
    object_entries,
    plain_string,
    text_of,
)
from bicep_eval import Deployment, Scope

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN_BICEP = Path("infra/main.bicep")
FUNCTION_APP_MODULE = Path("infra/modules/functionapp.bicep")
ROLE_MODULE = "modules/roles.bicep"  # its path from main.bicep's folder

# What a storage role lets the app do where it is granted: read, or write. Storage Blob
# Delegator lets it sign a SAS only, for what its read role allows: it names no side.
READ_ROLES = frozenset({"StorageBlobDataReader"})
WRITE_ROLES = frozenset({"StorageBlobDataContributor", "StorageBlobDataOwner"})
ALLOW_LISTS = {"source": "DDD_SOURCE_ACCOUNTS", "sink": "DDD_SINK_ACCOUNTS"}
# Where a delivery may delete its source: the write role, on sources. A sink's role too, so the
# role module that grants it for moves is known by its name; renamed, its grants count as a
# sink's and both checks below fail.
MOVE_LISTS = ("DDD_MOVE_SOURCES", "DDD_MOVE_ALWAYS")
MOVE_ROLE_MODULES = frozenset({"moveRoles"})


def account_id(account: str, *, container: str = "", group: str = "rg",
               subscription: str = "sub-1") -> str:
    """The resource id of a storage account, or of one of its containers."""
    path = (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
            f"Microsoft.Storage/storageAccounts/{account}")
    return f"{path}/blobServices/default/containers/{container}" if container else path


def account_ids(*accounts: str) -> str:
    """An id list parameter (comma-separated) naming these accounts."""
    return ",".join(account_id(account) for account in accounts)


def side_of(roles: set[str], module: str = "") -> str | None:
    if module in MOVE_ROLE_MODULES:
        return "move"
    if roles & WRITE_ROLES:
        return "sink"
    if roles & READ_ROLES:
        return "source"
    return None


# ---------------------------------------------------------------- app settings


@dataclass
class AppSettings:
    """The Function App's app settings as the Bicep sets them: name -> value expression."""

    always: dict[str, Node] = field(default_factory=dict)
    conditional: dict[str, Node] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return set(self.always) | set(self.conditional)


def _collect(file: BicepFile, node: Node, conditional: bool, into: AppSettings) -> None:
    """The keys an app-settings expression can produce: object literals, vars holding them,
    union(...) of those, and `cond ? {...} : {...}` (whose keys are conditional)."""
    if node.type == "object":
        (into.conditional if conditional else into.always).update(object_entries(node))
    elif node.type == "identifier" and text_of(node) in file.variables:
        _collect(file, file.variables[text_of(node)], conditional, into)
    elif node.type == "ternary_expression":
        for branch in ("consequence", "alternative"):
            found = node.child_by_field_name(branch)
            assert found is not None
            _collect(file, found, True, into)
    elif node.type in ("call_expression", "parenthesized_expression", "arguments"):
        for child in named_children(node):
            _collect(file, child, conditional, into)


def app_settings(bicep_file: Path) -> AppSettings:
    """The app settings of the `Microsoft.Web/sites/config` resource named 'appsettings'."""
    file = BicepFile.read(bicep_file)
    result = AppSettings()
    found = False
    for resource in file.resources_of_type("Microsoft.Web/sites/config"):
        body = resource.body
        if plain_string(body["name"]) == "appsettings" and "properties" in body:
            found = True
            _collect(file, body["properties"], False, result)
    if not found:
        raise BicepSyntaxError(f"{bicep_file}: no app settings found")
    return result


# ---------------------------------------------------------------- computed on sample parameters


def main_scope(root: Path, given: dict[str, object],
               deployment: Deployment | None = None) -> Scope:
    return Scope(BicepFile.read(root / MAIN_BICEP), given, deployment=deployment or Deployment())


def module_symbol(file: BicepFile, target: str) -> str:
    found = [module.symbol for module in file.modules if module.target == target]
    if len(found) != 1:
        raise BicepSyntaxError(f"{file.path.name} deploys {target} {len(found)} times, not once")
    return found[0]


def function_app(root: Path, given: dict[str, object]) -> Scope:
    """functionapp.bicep, with what main.bicep passes it when deployed with `given`."""
    main = main_scope(root, given)
    symbol = module_symbol(main.file, FUNCTION_APP_MODULE.relative_to("infra").as_posix())
    (deployed,) = main.module_deployments(symbol)
    return deployed.scope


def function_app_setting(root: Path, setting: str, given: dict[str, object]) -> object:
    """An app setting's value when main.bicep is deployed with `given` (the other parameters
    take their defaults); Unknown(...) for what only a deployment knows."""
    value = app_settings(root / FUNCTION_APP_MODULE).always.get(setting)
    if value is None:
        raise KeyError(setting)
    return function_app(root, given).evaluate(value)
