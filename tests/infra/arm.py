"""Azure Resource Manager's side of an evaluation: the template functions infra/ calls, its
operators, and what the deployment-context functions (subscription(), resourceGroup(),
tenant(), environment()) answer for a Deployment."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass


class BicepEvaluationError(ValueError):
    pass


class DeploymentFailure(BicepEvaluationError):
    """What stops a deployment on Azure Resource Manager's side, with its message: a property
    an object does not have, looked up (main.bicep's refusals)."""


@dataclass(frozen=True)
class Unknown:
    """A value only a deployment knows, standing for itself: Unknown('storage.outputs.name')."""

    path: str


@dataclass(frozen=True)
class Deployment:
    """Where a template is deployed: what subscription(), resourceGroup() and tenant() answer."""

    subscription_id: str = "11111111-1111-1111-1111-111111111111"
    tenant_id: str = "22222222-2222-2222-2222-222222222222"
    resource_group: str = "rg-ddd-test"
    location: str = "eastus2"

    def context(self, function: str) -> dict[str, object]:
        subscription = f"/subscriptions/{self.subscription_id}"
        if function == "subscription":
            return {"id": subscription, "subscriptionId": self.subscription_id,
                    "tenantId": self.tenant_id}
        if function == "resourceGroup":
            return {"id": f"{subscription}/resourceGroups/{self.resource_group}",
                    "name": self.resource_group, "location": self.location}
        if function == "tenant":
            return {"tenantId": self.tenant_id}
        return {"name": "AzureCloud", "suffixes": {"storage": "core.windows.net"}}


def text(value: object) -> str:
    """A value as ARM writes it into a string (string(), interpolation)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str | int):
        return str(value)
    raise BicepEvaluationError(f"cannot make text of {value!r}")


def string(value: object) -> str:
    """string(): an array or object as compact JSON (as ARM writes it), anything else as text."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text(value)


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "\x1f".join(parts)))


def _unique_string(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:13]


def _union(*values: object) -> object:
    if all(isinstance(value, list) for value in values):
        merged: list[object] = []
        for value in values:
            assert isinstance(value, list)
            merged.extend(item for item in value if item not in merged)
        return merged
    if all(isinstance(value, dict) for value in values):
        result: dict[str, object] = {}
        for value in values:
            assert isinstance(value, dict)
            result.update(value)
        return result
    raise BicepEvaluationError(f"union() of {values!r}")


def _index_of(collection: object, item: object) -> int:
    if isinstance(collection, str) and isinstance(item, str):
        return collection.lower().find(item.lower())
    if isinstance(collection, list):
        return collection.index(item) if item in collection else -1
    raise BicepEvaluationError(f"indexOf({collection!r}, {item!r})")


def _numbers(*values: object) -> list[int]:
    flat = values[0] if len(values) == 1 and isinstance(values[0], list) else list(values)
    if not flat or not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        raise BicepEvaluationError(f"not integers: {values!r}")
    return list(flat)  # type: ignore[arg-type]


def _strings(name: str, function: Callable[..., object]) -> Callable[..., object]:
    def checked(*args: object) -> object:
        if not all(isinstance(arg, str) for arg in args):
            raise BicepEvaluationError(f"{name}() takes strings, got {args!r}")
        return function(*args)
    return checked


FUNCTIONS: dict[str, Callable[..., object]] = {
    "split": lambda value, delimiter: _strings("split", str.split)(value, delimiter),
    "replace": _strings("replace", str.replace),
    "toLower": _strings("toLower", str.lower),
    "toUpper": _strings("toUpper", str.upper),
    "trim": _strings("trim", str.strip),
    "startsWith": _strings("startsWith", lambda a, b: a.lower().startswith(b.lower())),
    "endsWith": _strings("endsWith", lambda a, b: a.lower().endswith(b.lower())),
    "guid": _strings("guid", _guid),
    "uniqueString": _strings("uniqueString", _unique_string),
    "string": string,
    "join": lambda items, delimiter: delimiter.join(text(item) for item in items),
    "empty": lambda value: value in ("", [], {}, None),
    "length": len,
    "first": lambda value: value[0],
    "last": lambda value: value[-1],
    "take": lambda value, count: value[:max(count, 0)],
    "skip": lambda value, count: value[max(count, 0):],
    "indexOf": _index_of,
    "contains": lambda collection, item: item in collection,
    "union": _union,
    "concat": lambda *values: (
        [item for value in values for item in value]
        if all(isinstance(value, list) for value in values)
        else "".join(text(value) for value in values)),
    "max": lambda *values: max(_numbers(*values)),
    "min": lambda *values: min(_numbers(*values)),
    "subscriptionResourceId": lambda *parts: "/".join(text(part) for part in parts),
}
# Functions of deployment-time values that stay symbolic (a guid over a resource's id).
SYMBOLIC = {"guid", "uniqueString", "toLower", "string", "concat", "subscriptionResourceId"}
CONTEXT = {"subscription", "resourceGroup", "tenant", "environment"}

OPERATORS: dict[str, Callable[[object, object], object]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,  # type: ignore[operator]
    "+": lambda a, b: a + b, "-": lambda a, b: a - b,  # type: ignore[operator]
    "*": lambda a, b: a * b, "/": lambda a, b: a // b,  # type: ignore[operator]
    "%": lambda a, b: a % b,  # type: ignore[operator]
}
