"""Activity invocations: at most ``max_activities`` at once, each under ``functionTimeout``.

What the host does, and what devhost does in its place:

- An invocation past ``functionTimeout`` fails with the WebJobs SDK's FunctionTimeoutException
  ("Timeout value of 00:05:00 was exceeded by function: Functions.<name>"; azure-webjobs-sdk
  ``FunctionExecutor.TryHandleTimeoutAsync``). The Durable extension reports it to the
  orchestrator as "Activity function '<name>' failed: <that message>" (azure-functions-durable-
  extension ``Listener/TaskActivityShim.cs``, ``RunAsync``, FunctionTimeoutError), so the
  orchestration's retry policy applies to it as to any failure.
- If the timed-out invocation has still not returned after the grace period (2 s), the host
  restarts the language worker that runs it (azure-functions-host
  ``WebScriptHostExceptionHandler.OnTimeoutExceptionAsync`` ->
  ``RpcFunctionInvocationDispatcher.RestartWorkerWithInvocationIdAsync``). The channel is
  disposed without failing the other invocations it was running (``TryFailExecutions`` is given
  no exception): their results never arrive, and each fails at its own timeout.
- A Python thread cannot be killed, so devhost plays both parts with bookkeeping: a timed-out
  invocation is failed at its deadline and whatever its thread returns later is discarded; a
  "worker restart" marks every other invocation running at that moment as orphaned, so what
  they return is discarded too and they fail at their own deadlines, and gives the worker a
  new thread pool (``worker_pool.py``). Their threads run on in the background (a real restart
  would end them).
- An invocation holds one of ``max_activities`` slots from the moment the host sends it; a
  sync activity then waits for a thread of the worker's pool, shared with every other sync
  function (``worker_pool.py``), and ``functionTimeout`` counts that wait too.
- An activity's exception reaches the orchestrator as the host shapes it: the Python worker
  sends "<ExceptionType>: <message>" (azure-functions-python-worker ``dispatcher.py``,
  ``_serialize_exception``), the host wraps it in an RpcException whose message is
  "Result: Failure\\nException: <sanitized message>\\nStack: <stack>" (``RpcException.cs``),
  and the extension keeps the text between "\\nException:" and "\\nStack:" (with its leading
  space; ``OutOfProcExceptionHelpers.TryGetExceptionWithFriendlyMessage``).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from .functions import FunctionIndex
from .history import EventType, event
from .invocation import is_async
from .jsontypes import JsonObject, JsonValue
from .limits import TIMEOUT_GRACE_PERIOD, format_timespan, timeout_message
from .sanitizer import sanitize
from .store import Store, WorkItem
from .worker_pool import WorkerPool

log = logging.getLogger("devhost")


def failure_event(work: WorkItem, exc: BaseException) -> JsonObject:
    """The TaskFailed event for an activity that raised ``exc``, as the host words it."""
    worker_message = f"{type(exc).__name__}: {exc}"
    stack = "".join(traceback.extract_tb(exc.__traceback__).format())
    remote = sanitize(worker_message)
    friendly = f" {remote}"
    details: JsonValue = {
        "$type": "System.Exception, System.Private.CoreLib",
        "ClassName": "System.Exception",
        "Message": friendly,
        "InnerException": {
            "$type": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, "
                     "Microsoft.Azure.WebJobs.Script",
            "ClassName": "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
            "Message": f"Result: Failure\nException: {remote}\nStack: {stack}",
            "RemoteMessage": remote,
            "RemoteStackTrace": stack,
        },
    }
    return event(EventType.TaskFailed, TaskScheduledId=work.task_id,
                 Reason=f"Activity function '{work.name}' failed: {friendly}",
                 Details=json.dumps(details))


def timeout_event(work: WorkItem, timeout: timedelta) -> JsonObject:
    message = timeout_message(timeout, work.name)
    details: JsonValue = {
        "$type": "Microsoft.Azure.WebJobs.Host.FunctionTimeoutException, "
                 "Microsoft.Azure.WebJobs.Host",
        "ClassName": "Microsoft.Azure.WebJobs.Host.FunctionTimeoutException",
        "Message": message,
    }
    return event(EventType.TaskFailed, TaskScheduledId=work.task_id,
                 Reason=f"Activity function '{work.name}' failed: {message}",
                 Details=json.dumps(details))


@dataclass(eq=False)
class Invocation:
    work: WorkItem
    worker: int  # which devhost "worker" runs it (a new one after each restart)
    deadline: float | None  # time.monotonic() past which it has timed out
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.perf_counter)
    returned: bool = False  # its thread has finished
    orphaned: bool = False  # its worker was restarted: what it returns is discarded


class ActivityRunner:
    """Runs activity work items on threads, settles each once, enforces ``functionTimeout``."""

    def __init__(self, index: FunctionIndex, store: Store, max_activities: int,
                 timeout: timedelta | None, wake: Callable[[], None], pool: WorkerPool):
        self.index = index
        self.store = store
        self.pool = pool
        self.max_activities = max_activities
        self.timeout = timeout
        self._wake = wake
        self._lock = threading.Condition()
        self._queue: deque[WorkItem] = deque()
        self._running: dict[int, Invocation] = {}  # by work id; each holds a slot
        self._restart_checks: list[tuple[float, Invocation]] = []
        self._worker = 0
        self._stopping = False
        self._watchdog = threading.Thread(target=self._watch, name="activity-timeouts",
                                          daemon=True)

    def start(self) -> None:
        self._watchdog.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._queue.clear()
            self._lock.notify_all()

    def submit(self, work: WorkItem) -> None:
        with self._lock:
            if self._stopping:
                return
            self._queue.append(work)
            self._pump()

    # invocations ----------------------------------------------------------------------------
    def _pump(self) -> None:
        """Start queued work while slots are free (the caller holds the lock)."""
        while self._queue and len(self._running) < self.max_activities:
            work = self._queue.popleft()
            if work.id in self._running:
                continue
            deadline = (time.monotonic() + self.timeout.total_seconds()
                        if self.timeout is not None else None)
            invocation = Invocation(work, self._worker, deadline)
            self._running[work.id] = invocation
            entry = self.index.activities.get(work.name)
            if entry is not None and is_async(entry[0]):
                # a coroutine function takes no thread of the pool: the worker's loop runs it
                threading.Thread(target=self._invoke, args=(invocation,), daemon=True,
                                 name=f"activity-{work.name}").start()
            else:
                self.pool.submit_invocation(functools.partial(self._invoke, invocation),
                                            sent_again=False)
        self._lock.notify_all()

    def _invoke(self, invocation: Invocation) -> None:
        work = invocation.work
        outcome, verdict = self._call(work)
        with self._lock:
            invocation.returned = True
            if self._running.get(work.id) is not invocation or invocation.orphaned:
                why = "its worker was restarted" if invocation.orphaned else "it timed out"
                log.warning("activity %s instance=%s task=%d returned after %s; its result is "
                            "discarded", work.name, work.instance_id, work.task_id, why)
                return
            del self._running[work.id]
            self._pump()
        self._deliver(work, outcome)
        log.info("activity %s instance=%s task=%d %s %.0fms", work.name, work.instance_id,
                 work.task_id, verdict, (time.perf_counter() - invocation.started) * 1000)

    def _call(self, work: WorkItem) -> tuple[JsonObject, str]:
        entry = self.index.activities.get(work.name)
        try:
            if entry is None:
                raise LookupError(f"The function '{work.name}' doesn't exist or is not an "
                                  "activity function.")
            user_function, parameter = entry
            argument = ActivityTriggerConverter.decode(
                meta.Datum(type="json", value=work.input if work.input is not None else "null"),
                trigger_metadata=None)
            result = user_function(**{parameter: argument})
            if inspect.iscoroutine(result):
                result = self.pool.run_coroutine(result)
            encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
            return (event(EventType.TaskCompleted, TaskScheduledId=work.task_id,
                          Result=encoded), "completed")
        except Exception as exc:
            return failure_event(work, exc), f"failed ({type(exc).__name__})"

    def _deliver(self, work: WorkItem, outcome: JsonObject) -> None:
        if self._stopping:
            return
        with self.store.transaction():
            if not self.store.work_exists(work.id):
                return
            self.store.delete_work(work.id)
            self.store.add_inbox(work.instance_id, work.generation, outcome, time.time())
        self._wake()

    # timeouts -------------------------------------------------------------------------------
    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = time.monotonic()
                expired = [i for i in self._running.values()
                           if i.deadline is not None and now >= i.deadline]
                for invocation in expired:
                    del self._running[invocation.work.id]
                    if not invocation.orphaned:
                        self._restart_checks.append(
                            (now + TIMEOUT_GRACE_PERIOD.total_seconds(), invocation))
                restarted = self._due_restarts(now)
                if expired:
                    self._pump()
                waits = [i.deadline for i in self._running.values() if i.deadline is not None]
                waits += [due for due, _ in self._restart_checks]
                if not expired and not restarted:
                    self._lock.wait(None if not waits else max(0.0, min(waits) - now))
                    continue
            for invocation in expired:
                self._time_out(invocation)
            for invocation, orphans in restarted:
                self._log_restart(invocation, orphans)

    def _due_restarts(self, now: float) -> list[tuple[Invocation, list[Invocation]]]:
        """Restart the worker of each timed-out invocation still running after the grace
        period; the invocations it was running are orphaned (the caller holds the lock)."""
        restarted: list[tuple[Invocation, list[Invocation]]] = []
        pending: list[tuple[float, Invocation]] = []
        for due, invocation in self._restart_checks:
            if due > now:
                pending.append((due, invocation))
            elif not invocation.returned and invocation.worker == self._worker:
                orphans = [i for i in self._running.values()
                           if i.worker == self._worker and not i.returned]
                for orphan in orphans:
                    orphan.orphaned = True
                self._worker += 1
                self.pool.restart()
                restarted.append((invocation, orphans))
        self._restart_checks = pending
        return restarted

    def _time_out(self, invocation: Invocation) -> None:
        work = invocation.work
        assert self.timeout is not None
        log.error("Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). "
                  "Initiating cancellation. (instance=%s task=%d)",
                  format_timespan(self.timeout), work.name, invocation.invocation_id,
                  work.instance_id, work.task_id)
        self._deliver(work, timeout_event(work, self.timeout))

    @staticmethod
    def _log_restart(invocation: Invocation, orphans: list[Invocation]) -> None:
        log.warning("A function timeout has occurred. Restarting worker process executing "
                    "invocationId '%s' (activity %s instance=%s).", invocation.invocation_id,
                    invocation.work.name, invocation.work.instance_id)
        for orphan in orphans:
            log.warning("activity %s instance=%s task=%d lost its worker; it fails at its own "
                        "timeout", orphan.work.name, orphan.work.instance_id,
                        orphan.work.task_id)
        log.warning("Restart of language worker process(es) completed.")
