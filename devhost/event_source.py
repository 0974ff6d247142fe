"""A local Event Grid: subscriptions on storage accounts in Azurite, delivered to the webhook.

devhost starts it when the setting ``DEVHOST_EVENT_SUBSCRIPTIONS`` (environment or
local.settings.json ``Values``) is a JSON list of subscriptions::

    [{"name": "runs", "function": "run_completed", "account": "labsmith",
      "filter": {"includedEventTypes": ["Microsoft.Storage.BlobCreated"],
                 "subjectEndsWith": "/run.json"},
      "retryPolicy": {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440},
      "subscriptionId": "...", "resourceGroup": "..."}]

``filter`` and ``retryPolicy`` are the ARM shapes of an event subscription (``event_filter.py``
evaluates the filter); the last four keys are optional. Each subscription:

1. performs the validation handshake when it starts, as Event Grid does when a subscription is
   created with a webhook endpoint: a ``Microsoft.EventGrid.SubscriptionValidationEvent`` with
   ``aeg-event-type: SubscriptionValidation``; unless the webhook answers 200 with
   ``{"validationResponse": <the code>}`` the subscription is not created, which devhost logs,
   and nothing is delivered;
2. watches its account (``blob_watcher.py``, every ``DEVHOST_EVENT_POLL_SECONDS``, default 1);
3. delivers each matching event on its own, as an array of one ("Event Grid sends each event
   individually"), with the headers Event Grid sends (``aeg-event-type: Notification``,
   ``aeg-subscription-name`` in capitals, ``aeg-delivery-count``, ``aeg-metadata-version``,
   ``aeg-data-version``, ``aeg-output-event-id``);
4. retries as "Event Grid message delivery and retry" documents
   (https://learn.microsoft.com/azure/event-grid/delivery-and-retry): 200 to 204 are delivered;
   400, 401, 403 and 413 are not retried (the event is dropped, there being no dead-letter
   location); anything else, or no answer within 30 s, is retried after 10 s, 30 s, 1 min,
   5 min, 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h, with a small randomization, until
   ``maxDeliveryAttempts`` (30) or ``eventTimeToLiveInMinutes`` (1440). devhost multiplies
   the schedule and the time to live by ``DEVHOST_EVENTGRID_RETRY_SCALE`` (default 0.01: 0.1 s,
   0.3 s, 0.6 s, 3 s, ...); the answer timeout is ``DEVHOST_EVENTGRID_RESPONSE_SECONDS`` (30).

Delivery is at least once, as on Azure: the same event can reach the function more than once.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from .blob_watcher import BlobWatcher, event_time
from .event_filter import matches

log = logging.getLogger("devhost")

SUBSCRIPTIONS_SETTING = "DEVHOST_EVENT_SUBSCRIPTIONS"
POLL_SETTING = "DEVHOST_EVENT_POLL_SECONDS"
RETRY_SCALE_SETTING = "DEVHOST_EVENTGRID_RETRY_SCALE"
RESPONSE_SETTING = "DEVHOST_EVENTGRID_RESPONSE_SECONDS"
DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "devhost"
# Event Grid's retry schedule, in seconds; after the last step, every 12 hours
RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)
LATER_RETRIES = 12 * 3600
SUCCESS = range(200, 205)
NOT_RETRIED = (400, 401, 403, 413)


class SubscriptionError(ValueError):
    """``DEVHOST_EVENT_SUBSCRIPTIONS`` does not describe subscriptions."""


@dataclass(frozen=True)
class Subscription:
    name: str
    function: str
    account: str
    filter: dict[str, Any] = field(default_factory=dict)
    max_delivery_attempts: int = 30
    ttl_minutes: float = 1440
    subscription_id: str = DEFAULT_SUBSCRIPTION_ID
    resource_group: str = DEFAULT_RESOURCE_GROUP


def parse_subscriptions(text: str | None) -> list[Subscription]:
    if not text or not text.strip():
        return []
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise SubscriptionError(f"{SUBSCRIPTIONS_SETTING} is not JSON: {exc}") from exc
    if not isinstance(entries, list):
        raise SubscriptionError(f"{SUBSCRIPTIONS_SETTING} must be a JSON list")
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not all(
                isinstance(entry.get(k), str) and entry[k] for k in ("name", "function",
                                                                     "account")):
            raise SubscriptionError(f"{SUBSCRIPTIONS_SETTING}: each subscription needs "
                                    f"name, function and account: {entry!r}")
        policy = entry.get("retryPolicy") or {}
        found.append(Subscription(
            name=entry["name"], function=entry["function"], account=entry["account"],
            filter=entry.get("filter") or {},
            max_delivery_attempts=int(policy.get("maxDeliveryAttempts", 30)),
            ttl_minutes=float(policy.get("eventTimeToLiveInMinutes", 1440)),
            subscription_id=entry.get("subscriptionId") or DEFAULT_SUBSCRIPTION_ID,
            resource_group=entry.get("resourceGroup") or DEFAULT_RESOURCE_GROUP))
    return found


def retry_delay(attempts_made: int, scale: float) -> float:
    """Seconds before the next attempt after ``attempts_made`` failed ones, randomized."""
    step = (RETRY_SCHEDULE[attempts_made - 1] if attempts_made <= len(RETRY_SCHEDULE)
            else LATER_RETRIES)
    return step * scale * random.uniform(0.9, 1.1)


@dataclass(order=True)
class Delivery:
    due: float
    event_id: str = field(compare=False)
    subscription: Subscription = field(compare=False)
    event: dict[str, Any] = field(compare=False)
    first_attempt: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


class EventSource:
    """The subscriptions of one devhost: handshakes, polling, deliveries with retries."""

    def __init__(self, subscriptions: list[Subscription], webhook: str, key: str):
        self.subscriptions = subscriptions
        self.webhook = webhook  # .../runtime/webhooks/eventgrid
        self.key = key
        self.poll_seconds = float(os.environ.get(POLL_SETTING) or 1.0)
        self.retry_scale = float(os.environ.get(RETRY_SCALE_SETTING) or 0.01)
        self.response_seconds = float(os.environ.get(RESPONSE_SETTING) or 30)
        self._stopping = threading.Event()
        self._lock = threading.Condition()
        self._due: list[Delivery] = []
        self._senders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="eventgrid")
        self._threads: list[threading.Thread] = []

    def url(self, subscription: Subscription) -> str:
        return f"{self.webhook}?functionName={subscription.function}&code={self.key}"

    def start(self) -> EventSource:
        """Snapshot each account, then create (handshake) its subscriptions and watch it."""
        by_account: dict[tuple[str, str, str], list[Subscription]] = {}
        for subscription in self.subscriptions:
            by_account.setdefault((subscription.account, subscription.subscription_id,
                                   subscription.resource_group), []).append(subscription)
        for (account, subscription_id, group), subscriptions in by_account.items():
            watcher = BlobWatcher(account, subscription_id, group)
            existing = watcher.snapshot()
            created = [s for s in subscriptions if self._create(s)]
            if not created:
                continue
            log.info("event grid: watching account %s every %.2fs for %s (%d blobs there "
                     "already raise nothing)", account, self.poll_seconds,
                     ", ".join(s.name for s in created), existing)
            self._spawn(f"eventgrid-{account}", self._watch, watcher, created)
        self._spawn("eventgrid-deliveries", self._schedule)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        self._senders.shutdown(wait=False, cancel_futures=True)

    def _spawn(self, name: str, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # the handshake ----------------------------------------------------------------------------
    def _create(self, subscription: Subscription) -> bool:
        """The validation handshake Event Grid makes when a subscription is created."""
        code = str(uuid.uuid4())
        validation = [{
            "id": str(uuid.uuid4()),
            "topic": f"/subscriptions/{subscription.subscription_id}/resourceGroups/"
                     f"{subscription.resource_group}/providers/Microsoft.Storage/"
                     f"storageAccounts/{subscription.account}",
            "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": event_time(None), "metadataVersion": "1", "dataVersion": "1",
            "data": {"validationCode": code,
                     "validationUrl": f"https://eventgrid.invalid/validate?code={code}"}}]
        failure = None
        try:
            answer = requests.post(self.url(subscription), json=validation, timeout=30,
                                   headers=self._headers(subscription, validation[0], 0,
                                                         "SubscriptionValidation"))
            if answer.status_code != 200:
                failure = f"HTTP {answer.status_code} {answer.text[:200]!r}"
            elif (json.loads(answer.text or "null") or {}).get("validationResponse") != code:
                failure = f"the answer {answer.text[:200]!r} does not echo the code"
        except (requests.RequestException, ValueError, AttributeError) as exc:
            failure = f"{type(exc).__name__}: {exc}"
        if failure is not None:
            log.error("event grid: subscription %s NOT created: the validation handshake "
                      "with function %s failed (%s); no event will be delivered to it",
                      subscription.name, subscription.function, failure)
            return False
        log.info("event grid: subscription %s created (handshake with function %s done)",
                 subscription.name, subscription.function)
        return True

    # watching ---------------------------------------------------------------------------------
    def _watch(self, watcher: BlobWatcher, subscriptions: list[Subscription]) -> None:
        while not self._stopping.wait(self.poll_seconds):
            try:
                events = watcher.poll()
            except Exception as exc:
                log.warning("event grid: listing account %s failed: %s", watcher.account, exc)
                continue
            for event in events:
                for subscription in subscriptions:
                    if matches(event, subscription.filter):
                        log.info("event grid: %s %s -> subscription %s", event["eventType"],
                                 event["subject"], subscription.name)
                        self._enqueue(Delivery(time.monotonic(), event["id"], subscription,
                                               event, time.monotonic()))

    # deliveries -------------------------------------------------------------------------------
    def _enqueue(self, delivery: Delivery) -> None:
        with self._lock:
            heapq.heappush(self._due, delivery)
            self._lock.notify_all()

    def _schedule(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                now = time.monotonic()
                if not self._due or self._due[0].due > now:
                    wait = None if not self._due else self._due[0].due - now
                    self._lock.wait(wait if wait is not None else 1.0)
                    continue
                delivery = heapq.heappop(self._due)
            try:
                self._senders.submit(self._deliver, delivery)
            except RuntimeError:  # stopping
                return

    @staticmethod
    def _headers(subscription: Subscription, event: dict[str, Any], attempt: int,
                 kind: str) -> dict[str, str]:
        return {"aeg-event-type": kind, "aeg-subscription-name": subscription.name.upper(),
                "aeg-delivery-count": str(attempt),
                "aeg-metadata-version": str(event.get("metadataVersion", "1")),
                "aeg-data-version": str(event.get("dataVersion", "")),
                "aeg-output-event-id": str(event.get("id", "")),
                "Content-Type": "application/json; charset=utf-8"}

    def _deliver(self, delivery: Delivery) -> None:
        subscription, event = delivery.subscription, delivery.event
        headers = self._headers(subscription, event, delivery.attempts, "Notification")
        delivery.attempts += 1
        try:
            answer = requests.post(self.url(subscription), data=json.dumps([event]),
                                   headers=headers, timeout=self.response_seconds)
            status: int | None = answer.status_code
            outcome = f"HTTP {status}"
        except requests.RequestException as exc:
            status, outcome = None, f"no answer ({type(exc).__name__})"
        what = (f"event grid: subscription {subscription.name} event {delivery.event_id} "
                f"attempt {delivery.attempts}: {outcome}")
        if status in SUCCESS:
            log.info("%s: delivered", what)
            return
        if status in NOT_RETRIED:
            log.error("%s: not retried, the event is dropped", what)
            return
        age = time.monotonic() - delivery.first_attempt
        if (delivery.attempts >= subscription.max_delivery_attempts
                or age >= subscription.ttl_minutes * 60 * self.retry_scale):
            log.error("%s: no attempt left, the event is dropped", what)
            return
        delay = retry_delay(delivery.attempts, self.retry_scale)
        log.warning("%s: retry in %.2fs", what, delay)
        delivery.due = time.monotonic() + delay
        self._enqueue(delivery)
