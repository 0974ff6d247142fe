"""Limits the Functions host and the Durable extension enforce, with their own wording.

- ``functionTimeout`` (host.json): a .NET TimeSpan; the host's default is 30 minutes outside
  the Consumption plan, ``-1`` means no limit, and a value under one second is refused
  (azure-functions-host ``src/WebJobs.Script/Config/ScriptJobHostOptionsSetup.cs``,
  ``ConfigureFunctionTimeout`` / ``ValidateTimeoutValue``). An invocation past it fails with
  the WebJobs SDK's ``FunctionTimeoutException`` (azure-webjobs-sdk
  ``src/Microsoft.Azure.WebJobs.Host/Executors/FunctionExecutor.cs``, ``TryHandleTimeoutAsync``).
- A custom status whose JSON is larger than 16 KB, counted in UTF-16, is refused
  (azure-functions-durable-extension ``DurableOrchestrationContext.SetCustomStatus`` calling
  ``MessagePayloadDataConverter.Serialize(value, maxSizeInKB: 16)``).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from .jsontypes import JsonValue

DEFAULT_FUNCTION_TIMEOUT = timedelta(minutes=30)  # ScriptJobHostOptionsSetup.DefaultFunctionTimeout
MIN_FUNCTION_TIMEOUT = timedelta(seconds=1)       # ScriptJobHostOptionsSetup.MinFunctionTimeout
# TimeSpan.MaxValue as .NET prints it: the bound where the plan allows unbounded timeouts
TIMESPAN_MAX_TEXT = "10675199.02:48:05.4775807"
# the grace period the host waits for a timed-out invocation before restarting the worker:
# TimeoutAttribute's default (azure-webjobs-sdk src/Microsoft.Azure.WebJobs/TimeoutAttribute.cs)
TIMEOUT_GRACE_PERIOD = timedelta(seconds=2)
MAX_CUSTOM_STATUS_KB = 16

_TIMESPAN = re.compile(
    r"^\s*(?P<sign>-)?(?:(?P<only_days>\d+)|(?:(?P<days>\d+)\.)?(?P<hours>\d+):(?P<minutes>\d+)"
    r"(?::(?P<seconds>\d+)(?:\.(?P<fraction>\d{1,7}))?)?)\s*$")


class TimeoutConfigError(ValueError):
    pass


def parse_timespan(text: str) -> timedelta:
    """A .NET TimeSpan in its invariant forms: ``d``, ``[d.]hh:mm[:ss[.fffffff]]``, signed."""
    found = _TIMESPAN.match(text)
    if found is None:
        raise ValueError(f"'{text}' is not a TimeSpan ([d.]hh:mm:ss)")
    parts = found.groupdict()
    if parts["only_days"] is not None:
        value = timedelta(days=int(parts["only_days"]))
    else:
        hours, minutes = int(parts["hours"]), int(parts["minutes"])
        seconds = int(parts["seconds"] or 0)
        if hours > 23 or minutes > 59 or seconds > 59:
            raise ValueError(f"'{text}' is not a TimeSpan (a field is out of range)")
        fraction = (parts["fraction"] or "").ljust(7, "0")
        value = timedelta(days=int(parts["days"] or 0), hours=hours, minutes=minutes,
                          seconds=seconds, microseconds=int(fraction) // 10)
    return -value if parts["sign"] else value


def format_timespan(value: timedelta) -> str:
    """``TimeSpan.ToString()`` (the constant "c" format): ``[-][d.]hh:mm:ss[.fffffff]``."""
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if value.days:
        text = f"{value.days}.{text}"
    if value.microseconds:
        text += f".{value.microseconds * 10:07d}"
    return sign + text


def function_timeout(configured: str | None) -> timedelta | None:
    """The timeout the host applies for ``functionTimeout`` (``None``: no limit)."""
    if configured is None or not str(configured).strip():
        return DEFAULT_FUNCTION_TIMEOUT
    try:
        value = parse_timespan(str(configured))
    except ValueError as exc:
        raise TimeoutConfigError(f"functionTimeout: {exc}") from exc
    if value == timedelta(days=-1):
        return None  # "-1": unbounded, where the plan allows it (Flex Consumption, Dedicated)
    if value < MIN_FUNCTION_TIMEOUT:
        raise TimeoutConfigError(
            f"FunctionTimeout must be greater than {format_timespan(MIN_FUNCTION_TIMEOUT)} and "
            f"less than {TIMESPAN_MAX_TEXT}.")
    return value


def timeout_message(timeout: timedelta, function_name: str) -> str:
    """The ``FunctionTimeoutException`` message; the host's short name is ``Functions.<name>``
    (azure-functions-host ``ScriptHost.GeneratedTypeName``)."""
    return (f"Timeout value of {format_timespan(timeout)} was exceeded by function: "
            f"Functions.{function_name}")


def newtonsoft_json(value: JsonValue) -> str:
    """The compact JSON ``JToken.ToString(Formatting.None)`` writes for a JSON value.

    Newtonsoft.Json escapes what Python's ``json`` escapes with ``ensure_ascii=False``, and
    also U+0085, U+2028 and U+2029; everything else is written as it is.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char in ("\u0085", "\u2028", "\u2029"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def custom_status_error(value: JsonValue) -> str | None:
    """The extension's refusal of a custom status over 16 KB, or ``None`` if it fits."""
    serialized = newtonsoft_json(value)
    # "String payloads in Azure Storage are encoded in UTF-16": 2 bytes a code unit, and the
    # size in KB is truncated, as (int)(bytes / 1024.0) does
    size_kb = len(serialized.encode("utf-16-le")) // 1024
    if size_kb > MAX_CUSTOM_STATUS_KB:
        return (f"The UTF-16 size of the JSON-serialized payload must not exceed "
                f"{MAX_CUSTOM_STATUS_KB:,} KB. The current payload size is {size_kb:,} KB.")
    return None
