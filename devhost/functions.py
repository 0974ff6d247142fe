"""Load a Functions app (Python v2 programming model) and index its functions and bindings.

The index is read from the app object itself (``get_functions()`` and each function's
binding JSON, the same JSON the Functions host indexes), so there is no second list.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func


@dataclass
class HttpFunction:
    name: str
    route: str
    methods: list[str]
    auth_level: str
    trigger_param: str
    client_params: list[str]
    user_function: Any
    pattern: re.Pattern
    wants_context: bool

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.methods and method.upper() not in self.methods:
            return None
        found = self.pattern.fullmatch(path)
        if not found:
            return None
        return {key: value for key, value in found.groupdict().items() if value is not None}


@dataclass
class EventGridFunction:
    """A function with an ``eventGridTrigger`` binding (``@app.event_grid_trigger``)."""

    name: str
    trigger_param: str
    client_params: list[str]
    user_function: Any
    wants_context: bool


@dataclass
class FunctionIndex:
    http: list[HttpFunction] = field(default_factory=list)
    orchestrators: dict[str, Any] = field(default_factory=dict)
    activities: dict[str, tuple[Any, str]] = field(default_factory=dict)
    event_grid: dict[str, EventGridFunction] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Every function's name, sorted."""
        return sorted([f.name for f in self.http] + list(self.orchestrators)
                      + list(self.activities) + list(self.event_grid))

    def find_http(self, method: str, path: str) -> tuple[HttpFunction, dict[str, str]] | None:
        """The function whose route and methods match; ``None`` answers 404.

        The host maps each HTTP trigger as a route with an ``HttpMethodRouteConstraint`` for
        its methods (azure-functions-host ``src/WebJobs.Script.WebHost/
        WebScriptHostHttpRoutesManager.cs``, ``InitializeHttpFunctionRoutes``), so a request
        with a method the function does not declare matches no route: 404, not 405.
        """
        for function in self.http:
            params = function.match(method, path)
            if params is not None:
                return function, params
        return None


class InvalidAppError(Exception):
    """The app has functions the Functions host would not index; each line names one."""


# azure-functions-host src/WebJobs.Script/Utility.cs: FunctionNameValidationRegex (ignore case)
FUNCTION_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$(?<!^host$)", re.IGNORECASE | re.ASCII)
# BindingNameValidationRegex since host 4.1038 (azure-functions-host pull request #10764,
# "Allow snake case for binding names"): a letter or "_" first, then letters, digits and
# "_", never "__"; or "$return". Hosts before 4.1038 took ^([a-zA-Z][a-zA-Z0-9]{0,127})$.
BINDING_NAME = re.compile(r"^(?!.*__)([a-zA-Z_][a-zA-Z0-9_]{0,127}|\$return)$")


def name_errors(name: str, bindings: list[dict[str, Any]]) -> list[str]:
    """The host's errors for one function's name and binding names, in its words.

    The host checks them when it indexes the worker's functions (``WorkerFunctionMetadata
    Provider.ValidateMetadata``: ``Utility.ValidateName``, then ``ValidateBindings`` with
    ``Utility.ValidateBinding``) and reports "The '<name>' function is in error: ..."
    (``ScriptHostLoggerExtension``).
    """
    def in_error(message: str) -> str:
        return f"The '{name}' function is in error: {message}"

    if not FUNCTION_NAME.match(name):
        return [in_error(f"'{name}' is not a valid function name.")]
    seen: set[str] = set()
    for binding in bindings:
        binding_name = binding.get("name")
        if not isinstance(binding_name, str) or not BINDING_NAME.match(binding_name):
            return [in_error(f"The binding name {binding_name} is invalid. Please assign a "
                             "valid name to the binding.")]
        if binding_name.lower() in seen:
            return [in_error(f"Multiple bindings with name '{binding_name}' discovered. "
                             "Binding names must be unique.")]
        seen.add(binding_name.lower())
    return []


_SEGMENT = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?=]+)*(\?)?(?:=[^}]*)?\}")
_CONSTRAINT = re.compile(r"\{\*?[A-Za-z_][A-Za-z0-9_]*((?::[^}?=]+)*)\??(?:=[^}]*)?\}")


def route_pattern(route: str) -> re.Pattern:
    """Turn a route template (``items/{id:int}``, ``{name?}``, ``{*rest}``) into a regex."""
    route = route.strip("/")
    parts = []
    position = 0
    for found in _SEGMENT.finditer(route):
        parts.append(re.escape(route[position:found.start()]))
        catch_all, name, optional = found.group(1), found.group(2), found.group(3)
        constraint_match = _CONSTRAINT.fullmatch(found.group(0))
        constraints = (constraint_match.group(1) if constraint_match else None) or ""
        body = ".+" if catch_all else "[^/]+"
        if ":int" in constraints or ":long" in constraints:
            body = "-?[0-9]+"
        elif ":guid" in constraints:
            body = "[0-9a-fA-F-]{36}"
        group = f"(?P<{name}>{body})"
        if optional:
            # an optional last segment also makes its leading slash optional
            if parts and parts[-1].endswith("/"):
                parts[-1] = parts[-1][:-1]
                group = f"(?:/{group})?"
            else:
                group = f"{group}?"
        parts.append(group)
        position = found.end()
    parts.append(re.escape(route[position:]))
    return re.compile("".join(parts), re.IGNORECASE)


def load_app_object(app_path: Path) -> func.FunctionRegister:
    """Import ``function_app.py`` from its folder, as the Python worker does, and find its app."""
    app_dir = str(app_path.parent.resolve())
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    module_name = app_path.stem
    spec = importlib.util.spec_from_file_location(module_name, app_path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {app_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        # the worker answers the host's metadata request with the exception, and the host logs
        # "Worker failed to index functions" (azure-functions-host src/WebJobs.Script.Grpc/
        # Channel/GrpcWorkerChannel.cs); no function of the app runs
        raise InvalidAppError(f"Worker failed to index functions\n{type(error).__name__}: "
                              f"{error}") from error
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if len(apps) != 1:
        raise RuntimeError(f"{app_path} must define one FunctionApp or DFApp; found {len(apps)}")
    return apps[0]


def index_functions(app: func.FunctionRegister) -> FunctionIndex:
    """Index the app's functions; refuse, naming each, those the Functions host would not run."""
    index = FunctionIndex()
    declared = [(function, str(function.get_function_name()),
                 json.loads(function.get_function_json())["bindings"])
                for function in app.get_functions()]
    errors = [error for _, name, bindings in declared for error in name_errors(name, bindings)]
    if errors:
        raise InvalidAppError("\n".join(errors))
    for function, name, bindings in declared:
        user_function = function.get_user_function()
        trigger = next((b for b in bindings if b["type"].lower().endswith("trigger")), None)
        if trigger is None:
            raise RuntimeError(f"function {name} has no trigger")
        kind = trigger["type"]
        signature_params = _parameters(user_function)
        client_params = [b["name"] for b in bindings if b["type"] == "durableClient"]
        if kind == "httpTrigger":
            route = str(trigger.get("route") or name)
            index.http.append(
                HttpFunction(
                    name=name,
                    route=route,
                    methods=[str(m).upper() for m in (trigger.get("methods") or [])],
                    auth_level=str(trigger.get("authLevel") or "FUNCTION").upper(),
                    trigger_param=trigger["name"],
                    client_params=client_params,
                    user_function=user_function,
                    pattern=route_pattern(route),
                    wants_context="context" in signature_params,
                )
            )
        elif kind == "orchestrationTrigger":
            index.orchestrators[name] = user_function
        elif kind == "activityTrigger":
            index.activities[name] = (user_function, trigger["name"])
        elif kind == "eventGridTrigger":
            index.event_grid[name] = EventGridFunction(
                name=name, trigger_param=trigger["name"], client_params=client_params,
                user_function=user_function, wants_context="context" in signature_params)
        else:
            raise RuntimeError(f"devhost does not run {kind} functions ({name})")
    # more specific routes (more literal characters) first, as the host's router does
    index.http.sort(key=lambda f: -len(re.sub(r"\{[^}]*\}", "", f.route)))
    return index


def _parameters(function: Any) -> set[str]:
    target = getattr(function, "client_function", function)
    try:
        return set(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return set()
