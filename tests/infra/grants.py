"""The storage roles main.bicep grants, through roles.bicep wherever it is deployed, and the
allow-lists that must name exactly those accounts: evaluated on sample parameters, and followed
through the text from each role loop and allow-list setting back to main.bicep's parameters.

Everything takes the repository root, so the tests run the same functions against the real
tree and against small synthetic ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
)
from bicep_eval import BicepEvaluationError, Scope, Unknown
from deployment import (
    ALLOW_LISTS,
    FUNCTION_APP_MODULE,
    MAIN_BICEP,
    MOVE_LISTS,
    ROLE_MODULE,
    AppSettings,
    app_settings,
    function_app_setting,
    main_scope,
    module_symbol,
    side_of,
)


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


# ---------------------------------------------------------------- the role modules
#
# roles.bicep may be deployed by main.bicep itself or by a module main.bicep deploys (and so
# on down). Either way a role module is known by its symbol, which must then be unique in the
# whole tree, and what it loops over is followed up to the names main.bicep passes down.


@dataclass(frozen=True)
class Passed:
    """One step down the tree: `module`, declared in `parent`, deploys the file `child`."""

    parent: BicepFile
    module: Declared
    child: BicepFile


@dataclass(frozen=True)
class RoleModule:
    """A module declaration of roles.bicep, in main.bicep or in a module below it."""

    declared: Declared
    file: BicepFile  # the file that declares it
    via: tuple[Passed, ...]  # the modules from main.bicep down to `file` (none: main.bicep)

    @property
    def symbol(self) -> str:
        return self.declared.symbol

    def names_in_main(self, names: set[str]) -> set[str]:
        """What `names` of `file` are built from in main.bicep: followed through each file's
        vars to its params, and to the expressions its parent passes them. A name that leads
        nowhere in its parent (a default, a resource) comes back as '<file name>:<name>'."""
        for step in reversed(self.via):
            names = _passed_names(step, names, frozenset())
        return names


def _passed_names(step: Passed, names: set[str], seen: frozenset[str]) -> set[str]:
    if loop_of(step.module.value) is not None:
        raise BicepSyntaxError(f"{step.parent.path.name}: {step.module.symbol} deploys role "
                               "modules in a loop: not followed")
    found: set[str] = set()
    for name in names:
        if name in step.child.variables and name not in seen:
            found |= _passed_names(step, free_names(step.child.variables[name]), seen | {name})
        elif name in step.child.params and name in step.module.params:
            found |= free_names(step.module.params[name])
        else:
            found.add(f"{step.child.path.name}:{name}")
    return found


def _target(file: BicepFile, module: Declared) -> Path:
    return (file.path.parent / module.target).resolve()


def role_modules(main: BicepFile) -> list[RoleModule]:
    """Every module declaration of roles.bicep in main.bicep and the modules it deploys."""
    roles = (main.path.parent / ROLE_MODULE).resolve()
    found: list[RoleModule] = []

    def visit(file: BicepFile, via: tuple[Passed, ...]) -> None:
        for module in file.modules:
            target = _target(file, module)
            if target == roles:
                found.append(RoleModule(module, file, via))
            elif target.is_file():
                child = BicepFile.read(target)
                visit(child, (*via, Passed(file, module, child)))

    visit(main, ())
    symbols = [module.symbol for module in found]
    twice = sorted({symbol for symbol in symbols if symbols.count(symbol) > 1})
    if twice:
        raise BicepSyntaxError(f"role modules of the same name in two files: {twice}")
    return found


def role_deployments(root: Path, given: dict[str, object]) -> Iterator[tuple[str, Scope]]:
    """(module symbol, scope) of each deployment of roles.bicep by main.bicep, directly or
    through the modules it deploys."""
    main = main_scope(root, given)
    modules = role_modules(main.file)
    roles = (main.file.path.parent / ROLE_MODULE).resolve()
    leading = {step.child.path.resolve() for module in modules for step in module.via}

    def deployed(scope: Scope) -> Iterator[tuple[str, Scope]]:
        for module in scope.file.modules:
            target = _target(scope.file, module)
            if target != roles and target not in leading:
                continue
            for deployment in scope.module_deployments(module.symbol):
                if target == roles:
                    yield module.symbol, deployment.scope
                else:
                    yield from deployed(deployment.scope)

    yield from deployed(main)


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
                   if side_of({grant.role}, grant.module) == side and grant.account != work_account}
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
    collection: frozenset[str]  # the names of main.bicep its loop collection is built from
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
    """The role modules deployed once per item of a list, wherever in the tree; each one's
    collection as the names main.bicep builds it from."""
    loops = []
    for found in role_modules(main):
        module = found.declared
        loop = loop_of(module.value)
        if loop is None:
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
            module=module.symbol, side=side_of(role_names, module.symbol),
            collection=frozenset(found.names_in_main(free_names(loop.collection))),
            loop_names=loop.names,
            places=tuple(item[key] for item in items for key in ("account", "container")
                         if key in item)))
    return loops


def _function_app_module(main: BicepFile) -> Declared:
    return main.module(module_symbol(main, FUNCTION_APP_MODULE.relative_to("infra").as_posix()))


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
