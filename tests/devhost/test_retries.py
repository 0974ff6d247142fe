"""Activity retries wait as the Durable extension computes it from the SDK's retry options.

Sources:
- azure-functions-durable ``models/RetryOptions.py`` (1.7.0): the SDK sends
  ``firstRetryIntervalInMilliseconds`` and ``maxNumberOfAttempts`` only.
- azure-functions-durable-extension ``RetryOptionsConverter.cs``: also reads
  ``backoffCoefficient``, ``maxRetryIntervalInMilliseconds``, ``retryTimeoutInMilliseconds``;
  ``RetryOptions.cs``: ``MaxRetryInterval`` 6 days; durabletask ``RetryOptions.cs``:
  ``BackoffCoefficient`` 1.
- durabletask ``src/DurableTask.Core/RetryInterceptor.cs``: after the n-th failure a timer at
  the orchestration's current time + first x coefficient^(n-1), capped (``ComputeNextDelay``);
  after the last attempt a timer that fires at once ("Dummy timer for back-compat").

The orchestration's current time is the episode's OrchestratorStarted, so the delays are exact
in the history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devhost.history import parse_time
from devhost.retries import retry_fire_at


def timer_delays(history: list[dict]) -> list[float]:
    """For each retry timer: FireAt minus the time of the episode that made it, in seconds."""
    delays, episode_time = [], None
    for event in history:
        if event["EventType"] == "OrchestratorStarted":
            episode_time = parse_time(event["Timestamp"])
        elif event["EventType"] == "TimerCreated":
            assert episode_time is not None
            delays.append(round((parse_time(event["FireAt"]) - episode_time).total_seconds(), 3))
    return delays


def test_the_sdks_options_retry_after_the_first_interval_and_end_with_an_immediate_timer(
        sample):
    status = sample.run("retry_schedule")
    assert status["output"] == "gave up"
    history = sample.host.status(status["instanceId"], history=True)["historyEvents"]
    kinds = [e["EventType"] for e in history]
    assert kinds.count("TaskScheduled") == 3 and kinds.count("TaskFailed") == 3
    assert timer_delays(history) == [0.5, 0.5, 0.0]


def test_backoff_coefficient_and_max_interval_when_the_options_carry_them(sample):
    status = sample.run("retry_backoff")
    assert status["output"] == "gave up"
    history = sample.host.status(status["instanceId"], history=True)["historyEvents"]
    assert timer_delays(history) == [0.3, 0.6, 0.7, 0.0]


def test_retry_timeout_ends_the_retries():
    now = datetime(2024, 1, 1, tzinfo=UTC)
    options = {"firstRetryIntervalInMilliseconds": 1000, "maxNumberOfAttempts": 5,
               "retryTimeoutInMilliseconds": 1500}
    assert retry_fire_at(options, 1, now, now) == now + timedelta(seconds=1)
    assert retry_fire_at(options, 2, now + timedelta(seconds=2), now) is None
    # no coefficient: the extension's default 1; no maximum: 6 days
    assert retry_fire_at({"firstRetryIntervalInMilliseconds": 10 ** 9,
                          "maxNumberOfAttempts": 9}, 3, now, None) == now + timedelta(days=6)
