"""When the orchestration dispatcher looks for work: at once, or as the Azure Storage queues
are polled.

The Durable extension's Azure Storage provider (the app's) finds orchestration messages by
polling its control queues (durabletask ``src/DurableTask.AzureStorage/Messaging/
ControlQueue.cs``, ``GetMessagesAsync``). After an empty poll it waits
(``BackoffPollingHelper.WaitAsync``) an interval that starts at 50 ms and grows with each empty
poll, randomized, to ``maxQueuePollingInterval`` (``TaskHubQueue.cs``: minimum 50 ms, maximum
the setting; ``RandomizedExponentialBackoffStrategy``: interval = 50 ms + 50 ms x 2^(n-1) x a
random factor in [0.8, 1.2), capped); finding messages resets it to 50 ms. A message this
process adds to the queue (``AddMessageAsync``: an activity's result, a start or an event sent
through this host) wakes the poller at once (``backoffHelper.Reset()``); a message another
instance adds, or a timer message becoming visible, is seen at the next poll only. The
setting is host.json ``extensions.durableTask.storageProvider.maxQueuePollingInterval``,
default 30 s (azure-functions-durable-extension ``Options/AzureStorageOptions.cs``;
``AzureStorageOrchestrationServiceSettings.DefaultMaxQueuePollingInterval``).

devhost models that when asked (``--queue-polling`` or ``DEVHOST_QUEUE_POLLING=1``); by
default it looks for work as soon as any is due, for the tests' speed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta

log = logging.getLogger("devhost")

POLLING_SETTING = "DEVHOST_QUEUE_POLLING"
MIN_POLLING_INTERVAL = timedelta(milliseconds=50)       # TaskHubQueue minPollingDelay
DEFAULT_MAX_POLLING_INTERVAL = timedelta(seconds=30)   # AzureStorageOptions default
RANDOMIZATION_FACTOR = 0.2


class ImmediatePolling:
    """Look again as soon as work is due or this process adds some; ``idle`` is how long to
    sleep at most otherwise (short when another process can add work to the store)."""

    def __init__(self, idle: float = 1.0):
        self.idle = idle

    def wait(self, wake: threading.Event, next_visible: float | None) -> None:
        timeout = self.idle if next_visible is None else min(
            self.idle, max(0.0, next_visible - time.time()))
        wake.wait(timeout)
        wake.clear()

    def found(self, wake: threading.Event) -> None:
        wake.clear()


class BackoffPolling:
    """DTFx's ``BackoffPollingHelper`` with its ``RandomizedExponentialBackoffStrategy``."""

    def __init__(self, maximum: timedelta, rng: random.Random | None = None):
        self.minimum = MIN_POLLING_INTERVAL.total_seconds()
        self.maximum = max(maximum.total_seconds(), self.minimum)
        self.delta = self.minimum
        self.current = 0.0  # a new helper's first wait is zero
        self.exponent = 0
        self._random = rng or random.Random()

    def update(self, signaled: bool) -> float:
        """``UpdateDelay``: back to the minimum when signaled, else one step longer."""
        if signaled:
            self.current, self.exponent = self.minimum, 1
        elif self.current != self.maximum:
            interval = self.minimum
            if self.exponent > 0:
                factor = self._random.uniform(1.0 - RANDOMIZATION_FACTOR,
                                              1.0 + RANDOMIZATION_FACTOR)
                interval += factor * 2.0 ** (self.exponent - 1) * self.delta
            if interval < self.maximum:
                self.current = interval
                self.exponent += 1
            else:
                self.current = self.maximum
        return self.current

    def wait(self, wake: threading.Event, next_visible: float | None) -> None:
        """``WaitAsync``: wait the current interval unless this process adds a message."""
        signaled = wake.wait(self.current)
        wake.clear()
        self.update(signaled)
        log.debug("control queue poll: %s; next wait %.3fs",
                  "woken" if signaled else "nothing", self.current)

    def found(self, wake: threading.Event) -> None:
        """Messages were found: ``Reset()``, the next wait returns at once."""
        wake.set()
