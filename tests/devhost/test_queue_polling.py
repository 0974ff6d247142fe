"""With queue polling on, orchestration messages are found as the Azure Storage provider polls
its control queues: a timer is seen at the next poll, not when it is due.

Sources: durabletask ``src/DurableTask.AzureStorage/BackoffPollingHelper.cs`` (the wait grows
from 50 ms by 50 ms x 2^(n-1) x a random factor in [0.8, 1.2) per empty poll, capped at the
maximum; a signal resets it to 50 ms), ``Messaging/TaskHubQueue.cs`` (minimum 50 ms, maximum
``MaxQueuePollingInterval``; ``AddMessageAsync`` signals this process's poller),
``Messaging/ControlQueue.cs`` (``GetMessagesAsync``: wait after an empty poll, reset when
messages are found); azure-functions-durable-extension ``Options/AzureStorageOptions.cs``
(``MaxQueuePollingInterval``, default 30 s, from host.json
``extensions.durableTask.storageProvider.maxQueuePollingInterval``).
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from pathlib import Path

import requests

from devhost.history import parse_time
from devhost.launcher import DevHostProcess
from devhost.queue_polling import BackoffPolling

FLEX_APP = Path(__file__).parent / "flex_app" / "function_app.py"


def test_the_wait_grows_from_50_ms_to_the_maximum_and_a_signal_resets_it():
    polling = BackoffPolling(timedelta(seconds=3), random.Random(7))
    waits = [polling.update(False) for _ in range(12)]
    assert waits[0] == 0.05  # after the first empty poll
    for step, wait in enumerate(waits[1:8], start=1):
        assert 0.05 + 0.8 * 0.05 * 2 ** (step - 1) <= wait <= 0.05 + 1.2 * 0.05 * 2 ** (step - 1)
    assert waits == sorted(waits) and waits[-1] == 3.0 and waits[-4:] == [3.0] * 4
    assert polling.update(True) == 0.05  # messages found, or added by this process
    assert polling.update(False) > 0.05
    wake = threading.Event()
    wake.set()
    polling.wait(wake, None)  # a signal pending: no wait at all
    assert polling.current == 0.05 and not wake.is_set()


def timer_lateness(host: DevHostProcess, instance_id: str) -> float:
    """Seconds between the timer's FireAt and the episode that took its TimerFired."""
    history = host.status(instance_id, history=True)["historyEvents"]
    fire_at = next(parse_time(e["FireAt"]) for e in history if e["EventType"] == "TimerCreated")
    fired = next(i for i, e in enumerate(history) if e["EventType"] == "TimerFired")
    started = next(parse_time(e["Timestamp"]) for e in reversed(history[:fired])
                   if e["EventType"] == "OrchestratorStarted")
    return (started - fire_at).total_seconds()


def test_a_timer_is_seen_at_the_next_poll_of_the_control_queue(tmp_path):
    """maxQueuePollingInterval is 3 s in this app. After the episode that makes a 5 s timer,
    the polls come 50 ms, then ~0.1, 0.15, 0.25, 0.45, 0.85, 1.65 s apart (the seventh ends
    between 2.9 and 4.2 s), the eighth 2.6 to 3 s later (5.5 s at the earliest): the timer,
    due at 5 s, is taken at least half a second late."""
    with DevHostProcess(FLEX_APP, tmp_path / "host", queue_polling=True) as host:
        assert "queues polled up to 00:00:03" in host.logs()
        answer = requests.post(f"{host.base_url}/api/orchestrators/waits",
                               params={"code": host.function_key}, json=5, timeout=30)
        instance_id = answer.json()["id"]
        assert host.wait_for(instance_id, timeout=60)["output"] == "waited"
        assert 0.3 <= timer_lateness(host, instance_id) <= 10
