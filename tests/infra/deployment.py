"""What infra/ deploys, read and computed from the Bicep: the Function App's app settings, the
storage roles main.bicep grants, and the allow-lists that must name exactly those accounts.

Everything takes the repository root, so the tests run the same functions against the real
tree and against small synthetic ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bicep import (
    BicepFile,
    BicepSyntaxError,
    Declared,
    Node,
    free_names,
    loop_of,
    named_children,
    object_entries,
    plain_string,
    property_key,
    text_of,
)
from bicep_eval import BicepEvaluationError, Deployment, Scope, Unknown

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN_BICEP = Path("infra/main.bicep")
FUNCTION_APP_MODULE = Path("infra/modules/functionapp.bicep")
ROLE_MODULE = "modules/roles.bicep"  # as main.bicep names it

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


def _side(roles: set[str], module: str = "") -> str | None:
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


def _module_symbol(file: BicepFile, target: str) -> str:
    found = [module.symbol for module in file.modules if module.target == target]
    if len(found) != 1:
        raise BicepSyntaxError(f"{file.path.name} deploys {target} {len(found)} times, not once")
    return found[0]


def function_app(root: Path, given: dict[str, object]) -> Scope:
    """functionapp.bicep, with what main.bicep passes it when deployed with `given`."""
    main = main_scope(root, given)
    symbol = _module_symbol(main.file, FUNCTION_APP_MODULE.relative_to("infra").as_posix())
    (deployed,) = main.module_deployments(symbol)
    return deployed.scope


def function_app_setting(root: Path, setting: str, given: dict[str, object]) -> object:
    """An app setting's value when main.bicep is deployed with `given` (the other parameters
    take their defaults); Unknown(...) for what only a deployment knows."""
    value = app_settings(root / FUNCTION_APP_MODULE).always.get(setting)
    if value is None:
        raise KeyError(setting)
    return function_app(root, given).evaluate(value)


@dataclass(frozen=True)
class Grant:
    """A storage role on a whole account (container '') or on one container of it."""

    role: str
    account: object  # a name, or Unknown(...) for the app's own account
    container: str
    module: str

    @property
    def place(self) -> object:
        if isinstance(self.account, Unknown) or not self.container:
            return self.account
        return f"{self.account}/{self.container}"


def role_deployments(root: Path, given: dict[str, object]) -> Iterator[tuple[str, Scope]]:
    """(module symbol, scope) of each deployment of roles.bicep by main.bicep."""
    main = main_scope(root, given)
    for module in main.file.modules:
        if module.target == ROLE_MODULE:
            for deployed in main.module_deployments(module.symbol):
                yield module.symbol, deployed.scope


def storage_grants(root: Path, given: dict[str, object]) -> list[Grant]:
    """Every storage role main.bicep grants when deployed with `given`."""
    grants = []
    for symbol, roles in role_deployments(root, given):
        for param in ("storageRoles", "containerRoles"):
            if param not in roles.file.params:
                continue
            items = roles.lookup(param)
            if not isinstance(items, list):
                raise BicepEvaluationError(f"{symbol}: {param} is {items!r}")
            for item in items:
                if not isinstance(item, dict):
                    raise BicepEvaluationError(f"{symbol}: a storage role is {item!r}")
                account = item["account"]
                grants.append(Grant(str(item["role"]),
                                    account.lower() if isinstance(account, str) else account,
                                    str(item.get("container", "")), symbol))
    return grants


def _entries(value: str) -> set[object]:
    return {entry.strip() for entry in value.split(",") if entry.strip()}


def allow_list_mismatches(root: Path, given: dict[str, object]) -> list[str]:
    """Deployed with `given`, where the allow-lists and the role assignments disagree: an
    allowed account or container without the role of its side there, or one with the role
    that is not allowed (the app's own work account aside: the code never allows it). The
    move lists together are the side `move`, when the Function App sets them."""
    work_account = function_app_setting(root, "DDD_WORK_ACCOUNT", given)
    grants = storage_grants(root, given)
    lists = {side: (setting,) for side, setting in ALLOW_LISTS.items()}
    if set(MOVE_LISTS) & app_settings(root / FUNCTION_APP_MODULE).names:
        lists["move"] = MOVE_LISTS
    problems = []
    for side, settings in lists.items():
        allowed: set[object] = set()
        for setting in settings:
            value = function_app_setting(root, setting, given)
            if not isinstance(value, str):
                problems.append(f"{setting} is {value!r}, not text")
                continue
            allowed |= _entries(value)
        granted = {grant.place for grant in grants
                   if _side({grant.role}, grant.module) == side and grant.account != work_account}
        if allowed != granted:
            problems.append(
                f"{'+'.join(settings)}: allowed without {side} roles: "
                f"{sorted(map(str, allowed - granted))}; with {side} roles but not allowed: "
                f"{sorted(map(str, granted - allowed))}")
    return problems


# ---------------------------------------------------------------- followed through the text
#
# The allow-lists must be built from the very lists the role modules loop over, so that the
# next change to one cannot leave the other behind. Shown by following names in the Bicep.


@dataclass(frozen=True)
class RoleLoop:
    """A roles.bicep module deployed once per item of a list (one per source or sink id)."""

    module: str
    side: str | None
    collection: frozenset[str]  # the names its loop collection is built from
    loop_names: tuple[str, ...]
    places: tuple[Node, ...]  # the `account:` and `container:` of each storage role it grants


def _role_items(node: Node) -> Iterator[dict[str, Node]]:
    """The object literals with a `role:` inside an expression (under ?: and concat too)."""
    if node.type == "object":
        keys = {property_key(item) for item in named_children(node)
                if item.type == "object_property"}
        if "role" in keys:
            yield object_entries(node)
            return
    for child in named_children(node):
        yield from _role_items(child)


def role_loops(main: BicepFile) -> list[RoleLoop]:
    loops = []
    for module in main.modules:
        loop = loop_of(module.value)
        if module.target != ROLE_MODULE or loop is None:
            continue
        items = [item for param in ("storageRoles", "containerRoles")
                 if param in module.params for item in _role_items(module.params[param])]
        role_names = set()
        for item in items:
            role = plain_string(item["role"])
            if role is None:
                raise BicepSyntaxError(f"{module.symbol}: a storage role is not a plain name")
            role_names.add(role)
        loops.append(RoleLoop(
            module=module.symbol, side=_side(role_names, module.symbol),
            collection=frozenset(free_names(loop.collection)), loop_names=loop.names,
            places=tuple(item[key] for item in items for key in ("account", "container")
                         if key in item)))
    return loops


def _function_app_module(main: BicepFile) -> Declared:
    return main.module(_module_symbol(main, FUNCTION_APP_MODULE.relative_to("infra").as_posix()))


def main_inputs(main: BicepFile, names: set[str], stop: set[str],
                seen: frozenset[str] = frozenset()) -> set[str]:
    """What main.bicep's `names` are built from: followed through its vars down to params,
    modules, or the names in `stop` (kept as they are)."""
    found: set[str] = set()
    for name in names:
        if name in stop or name not in main.variables or name in seen:
            found.add(name)
        else:
            found |= main_inputs(main, free_names(main.variables[name]), stop, seen | {name})
    return found


def setting_inputs(root: Path, setting: str, stop: set[str]) -> set[str]:
    """What main.bicep builds the app setting `setting` from: its value followed through
    functionapp.bicep's vars to its params, to what main.bicep passes them, through
    main.bicep's vars, down to params, modules, or the names in `stop` (kept as they are).
    A name of functionapp.bicep that leads nowhere in main.bicep comes back as
    'functionapp.bicep:<name>'."""
    main = BicepFile.read(root / MAIN_BICEP)
    app = BicepFile.read(root / FUNCTION_APP_MODULE)
    passed = _function_app_module(main).params

    def in_app(node: Node, seen: frozenset[str]) -> set[str]:
        found: set[str] = set()
        for name in free_names(node):
            if name in app.variables and name not in seen:
                found |= in_app(app.variables[name], seen | {name})
            elif name in app.params and name in passed:
                found |= main_inputs(main, free_names(passed[name]), stop)
            else:  # a default, a resource, or unknown
                found.add(f"{FUNCTION_APP_MODULE.name}:{name}")
        return found

    settings = app_settings(root / FUNCTION_APP_MODULE)
    value = settings.always.get(setting, settings.conditional.get(setting))
    if value is None:
        raise KeyError(setting)
    return in_app(value, frozenset())


def allow_list_wiring_problems(root: Path) -> list[str]:
    """Why the allow-list settings could name other accounts than the role assignments do;
    empty when each is built from exactly the lists the role modules of its side loop over."""
    main = BicepFile.read(root / MAIN_BICEP)
    settings = app_settings(root / FUNCTION_APP_MODULE)
    problems = []
    feeds: dict[str, set[str]] = {side: set() for side in (*ALLOW_LISTS, "move")}
    for loop in role_loops(main):
        if loop.side is not None:
            feeds[loop.side] |= loop.collection
        for place in loop.places:
            other = free_names(place) - set(loop.loop_names)
            if other or not free_names(place):
                problems.append(f"{loop.module}: its accounts are not built from its loop item "
                                f"alone (also from {sorted(other)})")
    for side, setting in ALLOW_LISTS.items():
        if not feeds[side]:
            problems.append(f"no role module loops over {side} accounts")
        if setting not in settings.always:
            problems.append(f"{setting} is not always set by {FUNCTION_APP_MODULE}")
            continue
        inputs = setting_inputs(root, setting, set().union(*feeds.values()))
        if inputs != feeds[side]:
            problems.append(f"{setting} is built from {sorted(inputs)}, but the {side} role "
                            f"assignments from {sorted(feeds[side])}")
    return problems + _move_wiring_problems(root, settings, feeds)


def _move_wiring_problems(root: Path, settings: AppSettings,
                          feeds: dict[str, set[str]]) -> list[str]:
    """The move lists are built from the parameters the move role module's list comes from,
    and from the sources' (a move entry must be a source); nothing else. Followed down to the
    parameters: the module loops over both lists at once. Nothing when neither is there."""
    present = [setting for setting in MOVE_LISTS if setting in settings.always]
    if not present and not feeds["move"]:
        return []
    problems = [f"{setting} is not always set by {FUNCTION_APP_MODULE}"
                for setting in MOVE_LISTS if setting not in present]
    if not feeds["move"]:
        return [*problems, "no role module grants the move role (MOVE_ROLE_MODULES)"]
    main = BicepFile.read(root / MAIN_BICEP)
    moves, sources = (main_inputs(main, feeds[side], set()) for side in ("move", "source"))
    inputs: set[str] = set()
    for setting in present:
        inputs |= setting_inputs(root, setting, set())
    if inputs - sources != moves:
        problems.append(f"{' and '.join(present)} are built from {sorted(inputs)}, but the move "
                        f"role assignments from {sorted(moves)} (and the sources from "
                        f"{sorted(sources)})")
    return problems
