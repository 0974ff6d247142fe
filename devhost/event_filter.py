"""An Event Grid subscription's ``filter``, evaluated as Event Grid documents it.

Source: "Understand event filtering for Event Grid subscriptions"
(https://learn.microsoft.com/azure/event-grid/event-filtering; MicrosoftDocs/azure-docs
``articles/event-grid/event-filtering.md``). The filter is the ARM ``filter`` object of a
subscription:

- ``includedEventTypes``: the event's type must be one of them (absent, empty or ``["All"]``:
  every type).
- ``subjectBeginsWith`` / ``subjectEndsWith``: prefix and suffix of the subject, ignoring case
  unless ``isSubjectCaseSensitive`` is true.
- ``advancedFilters``: each one must hold (AND); the values of one filter are alternatives
  (OR), except for the negated operators (``StringNotIn``, ``StringNotContains``,
  ``StringNotBeginsWith``, ``StringNotEndsWith``, ``NumberNotIn``, ``NumberNotInRange``), which
  hold only if no value matches. String comparisons ignore case. The key is ``id``, ``topic``,
  ``subject``, ``eventType``, ``dataVersion`` or a path into the event such as ``data.api``.
  An array value matches only with ``enableAdvancedFilteringOnArrays`` (then any element for a
  positive operator, every element for a negated one).

devhost's own choices where the page is silent: key names and event types are compared
ignoring case; a key the event lacks fails every operator except ``IsNullOrUndefined`` and the
negated ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NEGATED = {"StringNotIn", "StringNotContains", "StringNotBeginsWith", "StringNotEndsWith",
           "NumberNotIn", "NumberNotInRange"}
_MISSING = object()


def _text(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _string_test(compare: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def test(actual: Any, expected: Any) -> bool:
        left, right = _text(actual), _text(expected)
        return left is not None and right is not None and compare(left, right)
    return test


def _number_test(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def test(actual: Any, expected: Any) -> bool:
        left, right = _number(actual), _number(expected)
        return left is not None and right is not None and compare(left, right)
    return test


def _in_range(actual: Any, bounds: Any) -> bool:
    number = _number(actual)
    if number is None or not isinstance(bounds, list) or len(bounds) != 2:
        return False
    low, high = _number(bounds[0]), _number(bounds[1])
    return low is not None and high is not None and low <= number <= high


_POSITIVE: dict[str, Callable[[Any, Any], bool]] = {
    "StringIn": _string_test(lambda a, b: a == b),
    "StringContains": _string_test(lambda a, b: b in a),
    "StringBeginsWith": _string_test(lambda a, b: a.startswith(b)),
    "StringEndsWith": _string_test(lambda a, b: a.endswith(b)),
    "NumberIn": _number_test(lambda a, b: a == b),
    "NumberInRange": _in_range,
    "NumberGreaterThan": _number_test(lambda a, b: a > b),
    "NumberGreaterThanOrEquals": _number_test(lambda a, b: a >= b),
    "NumberLessThan": _number_test(lambda a, b: a < b),
    "NumberLessThanOrEquals": _number_test(lambda a, b: a <= b),
    "BoolEquals": lambda a, b: isinstance(a, bool) and a == b,
}
_NEGATION_OF = {"StringNotIn": "StringIn", "StringNotContains": "StringContains",
                "StringNotBeginsWith": "StringBeginsWith", "StringNotEndsWith": "StringEndsWith",
                "NumberNotIn": "NumberIn", "NumberNotInRange": "NumberInRange"}


class FilterError(ValueError):
    """A filter Event Grid would refuse when the subscription is created."""


def lookup(event: dict[str, Any], key: str) -> Any:
    """The value at ``key`` (``subject``, ``data.api``), names compared ignoring case."""
    value: Any = event
    for part in key.split("."):
        if not isinstance(value, dict):
            return _MISSING
        found = next((v for k, v in value.items() if k.lower() == part.lower()), _MISSING)
        if found is _MISSING:
            return _MISSING
        value = found
    return value


def _advanced(event: dict[str, Any], spec: dict[str, Any], on_arrays: bool) -> bool:
    operator = str(spec.get("operatorType") or "")
    key = str(spec.get("key") or "")
    actual = lookup(event, key)
    if operator == "IsNullOrUndefined":
        return actual is _MISSING or actual is None
    if operator == "IsNotNull":
        return actual is not _MISSING and actual is not None
    values = spec["values"] if "values" in spec else [spec.get("value")]
    negated = operator in NEGATED
    test = _POSITIVE.get(_NEGATION_OF.get(operator, operator))
    if test is None:
        raise FilterError(f"unknown advanced filter operator {operator!r}")
    if actual is _MISSING or actual is None:
        return negated
    if isinstance(actual, list):
        if not on_arrays:
            return False
        if negated:
            return all(not any(test(item, v) for v in values) for item in actual)
        return any(test(item, v) for item in actual for v in values)
    matched = any(test(actual, v) for v in values)
    return not matched if negated else matched


def matches(event: dict[str, Any], event_filter: dict[str, Any] | None) -> bool:
    """Whether an event (Event Grid schema) passes a subscription's ``filter``."""
    spec = event_filter or {}
    types = [str(t).lower() for t in spec.get("includedEventTypes") or []]
    if types and types != ["all"] and str(event.get("eventType", "")).lower() not in types:
        return False
    subject = str(event.get("subject", ""))
    begins = str(spec.get("subjectBeginsWith") or "")
    ends = str(spec.get("subjectEndsWith") or "")
    if not spec.get("isSubjectCaseSensitive"):
        subject, begins, ends = subject.lower(), begins.lower(), ends.lower()
    if not subject.startswith(begins) or not subject.endswith(ends):
        return False
    on_arrays = bool(spec.get("enableAdvancedFilteringOnArrays"))
    return all(_advanced(event, advanced, on_arrays)
               for advanced in spec.get("advancedFilters") or [])
