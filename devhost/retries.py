"""When a failed activity (or sub-orchestration) with a retry policy runs again.

The Python SDK sends the policy with its ``CallActivityWithRetry`` action (azure-functions-
durable ``models/RetryOptions.py``: ``firstRetryIntervalInMilliseconds`` and
``maxNumberOfAttempts``, the only fields of version 1.7.0). The extension reads it
(azure-functions-durable-extension ``RetryOptionsConverter.cs``: those two, and
``backoffCoefficient``, ``maxRetryIntervalInMilliseconds``, ``retryTimeoutInMilliseconds``
when present) into its ``RetryOptions`` (``RetryOptions.cs``: ``MaxRetryInterval`` 6 days;
DTFx ``RetryOptions``: ``BackoffCoefficient`` 1, ``RetryTimeout`` unlimited), and DTFx runs
the retries (durabletask ``src/DurableTask.Core/RetryInterceptor.cs``):

- after the n-th failed attempt, if attempts remain, a durable timer fires at the
  orchestration's current time plus ``first x coefficient^(n-1)``, at most
  ``maxRetryInterval`` (``ComputeNextDelay``); past ``retryTimeout`` after the first attempt
  the delay is zero and no timer is made (the failure is thrown);
- after the last attempt, a timer that fires at once ("Dummy timer for back-compat"), then the
  failure.

The orchestration's current time is the episode's ``OrchestratorStarted`` time, so the delays
are exact in the history, whatever the load.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .history import SCHEDULING, EventType, parse_time

DEFAULT_MAX_RETRY_INTERVAL = timedelta(days=6)  # extension RetryOptions.DefaultMaxRetryinterval


def retry_fire_at(options: dict[str, Any], failed_attempts: int, now: datetime,
                  first_attempt: datetime | None) -> datetime | None:
    """When the retry timer after ``failed_attempts`` failures fires (``None``: no timer)."""
    if failed_attempts >= int(options["maxNumberOfAttempts"]):
        return now
    timeout_ms = options.get("retryTimeoutInMilliseconds")
    if timeout_ms is not None and first_attempt is not None and \
            now >= first_attempt + timedelta(milliseconds=float(timeout_ms)):
        return None
    coefficient = float(options.get("backoffCoefficient", 1))
    delay = timedelta(milliseconds=float(options["firstRetryIntervalInMilliseconds"])
                      * coefficient ** (failed_attempts - 1))
    max_ms = options.get("maxRetryIntervalInMilliseconds")
    ceiling = (timedelta(milliseconds=float(max_ms)) if max_ms is not None
               else DEFAULT_MAX_RETRY_INTERVAL)
    delay = min(delay, ceiling)
    return None if delay <= timedelta(0) else now + delay


def first_attempt_time(history: list[dict[str, Any]], task_id: int) -> datetime | None:
    """The time of the episode that scheduled task ``task_id`` (its ``OrchestratorStarted``)."""
    started: datetime | None = None
    for past in history:
        if past["EventType"] == EventType.OrchestratorStarted:
            started = parse_time(str(past["Timestamp"]))
        elif past["EventType"] in SCHEDULING and past.get("EventId") == task_id:
            return started
    return None
