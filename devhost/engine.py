"""The Durable engine of devhost: episodes, activities, timers, sub-orchestrations, events.

It plays the part of the Durable extension and the Durable Task Framework: it keeps each
instance's history, hands the whole history to the SDK's own ``Orchestrator`` every episode
(replaying from the start, as the host does), checks the actions the replay returns against
the history (so a non-deterministic orchestrator fails here as it does on Azure), and applies
the new ones. Activities run at least once on a bounded thread pool.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from azure.durable_functions import Orchestrator
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.Task import AtomicTask
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from .functions import FunctionIndex
from .history import COMPLETING, SCHEDULING, EventType, event, parse_time, timestamp
from .store import InboxItem, Instance, Store, WorkItem

log = logging.getLogger("devhost")

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
ACTIVITY, ACTIVITY_RETRY, SUB, SUB_RETRY, CONTINUE_AS_NEW, TIMER, WAIT_EVENT = 0, 1, 2, 3, 4, 5, 6
COMPOUND = (11, 12)
SCHEDULED_KIND = {ACTIVITY: "activity", ACTIVITY_RETRY: "activity", SUB: "sub-orchestration",
                  SUB_RETRY: "sub-orchestration", TIMER: "timer"}
HISTORY_KIND = {EventType.TaskScheduled: "activity",
                EventType.SubOrchestrationInstanceCreated: "sub-orchestration",
                EventType.TimerCreated: "timer"}


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class Gone(Exception):
    pass


class NonDeterminismError(Exception):
    pass


class UnsupportedActionError(Exception):
    pass


@dataclass
class EpisodeChanges:
    """What one episode writes, all in one transaction."""

    history: list[dict] = field(default_factory=list)
    work: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[dict, float]] = field(default_factory=list)
    children: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    retry_ids: set[int] = field(default_factory=set)


def flatten_actions(state: dict) -> list[dict]:
    """The atomic actions of an episode's answer, in order (compound actions opened)."""
    flat: list[dict] = []

    def walk(action: dict) -> None:
        if action.get("actionType") in COMPOUND:
            for child in action.get("compoundActions", []):
                walk(child)
        else:
            flat.append(action)

    for group in state.get("actions") or []:
        for action in group:
            walk(action)
    return flat


class DurableEngine:
    def __init__(self, index: FunctionIndex, store: Store, max_activities: int = 8,
                 replace_running: bool = True):
        self.index = index
        self.store = store
        self.max_activities = max_activities
        self.replace_running = replace_running
        self._pool = ThreadPoolExecutor(max_workers=max_activities, thread_name_prefix="activity")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="orchestrations",
                                            daemon=True)

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        with self.store.lock:
            pending = self.store.all_work()
        for work in pending:
            log.info("activity %s instance=%s task=%s resumed after restart", work.name,
                     work.instance_id, work.task_id)
            self._submit(work)
        self._dispatcher.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._dispatcher.is_alive():
            self._dispatcher.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # client operations ----------------------------------------------------------------------
    def start_new(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        if name not in self.index.orchestrators:
            raise NotFound(f"The function '{name}' doesn't exist, is disabled, or is not an "
                           "orchestrator function.")
        instance_id = instance_id or uuid.uuid4().hex
        with self.store.transaction():
            existing = self.store.get_instance(instance_id)
            if existing is not None and not existing.is_terminal and not self.replace_running:
                raise Conflict(f"An Orchestration instance with the status "
                               f"{existing.runtime_status} already exists.")
            if existing is not None:  # a new execution replaces the old one, as on Azure
                self.store.delete_instance(instance_id)
            self._create_instance(instance_id, name, input_json, None, None)
        self._wake.set()
        log.info("started %s instance=%s", name, instance_id)
        return instance_id

    def _create_instance(self, instance_id: str, name: str, input_json: str | None,
                         parent_id: str | None, parent_task_id: int | None) -> None:
        now = timestamp()
        self.store.put_instance(Instance(instance_id, name, "Pending", input_json, None, None,
                                         now, now, parent_id, parent_task_id))
        started = event(EventType.ExecutionStarted, Name=name, Version="", Input=input_json,
                        OrchestrationInstance={"InstanceId": instance_id,
                                               "ExecutionId": uuid.uuid4().hex},
                        ParentInstance=({"OrchestrationInstance": {"InstanceId": parent_id},
                                         "TaskScheduleId": parent_task_id}
                                        if parent_id else None))
        self.store.add_inbox(instance_id, 0, started, time.time())

    def instance(self, instance_id: str) -> Instance | None:
        with self.store.lock:
            return self.store.get_instance(instance_id)

    def history(self, instance_id: str) -> list[dict]:
        with self.store.lock:
            return list(self.store.history(instance_id))

    def query(self, **filters) -> list[Instance]:
        with self.store.lock:
            return self.store.query_instances(**filters)

    def raise_event(self, instance_id: str, name: str, payload_json: str | None) -> None:
        self._send(instance_id, event(EventType.EventRaised, Name=name, Input=payload_json))

    def terminate(self, instance_id: str, reason: str) -> None:
        self._send(instance_id, event(EventType.ExecutionTerminated, Input=json.dumps(reason)))

    def _send(self, instance_id: str, message: dict) -> None:
        with self.store.transaction():
            target = self.store.get_instance(instance_id)
            if target is None:
                raise NotFound(instance_id)
            if target.is_terminal:
                raise Gone(instance_id)
            self.store.add_inbox(instance_id, target.generation, message, time.time())
        self._wake.set()

    def purge(self, instance_ids: list[str]) -> int:
        deleted = 0
        with self.store.transaction():
            for instance_id in instance_ids:
                target = self.store.get_instance(instance_id)
                if target is not None and target.is_terminal:
                    self.store.delete_instance(instance_id)
                    deleted += 1
        return deleted

    # orchestrations -------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            with self.store.lock:
                ready = self.store.ready_instances(time.time())
            for instance_id in ready:
                if self._stopping.is_set():
                    return
                try:
                    self._run_episode(instance_id)
                except Exception as exc:
                    log.exception("episode of instance=%s failed inside devhost", instance_id)
                    self._fail_instance(instance_id, f"devhost could not run an episode: {exc}")
            if ready:
                continue
            with self.store.lock:
                next_at = self.store.next_visible_at()
            timeout = 1.0 if next_at is None else min(1.0, max(0.0, next_at - time.time()))
            self._wake.wait(timeout)

    def _run_episode(self, instance_id: str) -> None:
        started = time.perf_counter()
        cpu_started = time.thread_time()
        with self.store.lock:
            current = self.store.get_instance(instance_id)
            items = self.store.take_inbox(instance_id, time.time())
            history = list(self.store.history(instance_id)) if current else []
        consumed = [item.id for item in items]
        if current is None or current.is_terminal:
            with self.store.transaction():
                self.store.delete_inbox(consumed)
            return
        new_events, terminated = self._admit(current, history, items)
        if terminated is not None:
            self._finish_terminated(current, consumed, terminated)
            return
        if not new_events:
            with self.store.transaction():
                self.store.delete_inbox(consumed)
            return

        orchestrator_started = event(EventType.OrchestratorStarted)
        episode_events = [orchestrator_started, *new_events]
        handle = self.index.orchestrators.get(current.name)
        error: str | None = None
        state: dict = {}
        context: DurableOrchestrationContext | None = None
        if handle is None:
            error = f"The function '{current.name}' doesn't exist or is not an orchestrator."
        else:
            context_json = json.dumps({
                "history": history + episode_events,
                "instanceId": instance_id,
                "isReplaying": bool(history),
                "parentInstanceId": current.parent_instance_id,
                "input": current.input,
                "upperSchemaVersion": 1,
            })
            context = DurableOrchestrationContext.from_json(context_json)
            context._input_expected_type = getattr(handle, "_df_input_type", None)
            try:
                state = json.loads(Orchestrator(handle.orchestrator_function).handle(context))
            except Exception as exc:  # the SDK raises with the state appended to the message
                text = str(exc)
                message, _, state_json = text.partition(OUT_OF_PROC_MARKER)
                error = message or type(exc).__name__
                state = json.loads(state_json) if state_json else {}

        changes = EpisodeChanges()
        try:
            new_actions = self._check_replay(current, history, state)
            if error is None and not state.get("isDone"):
                self._schedule(current, history, context, new_actions, changes)
        except NonDeterminismError as exc:
            error = f"Non-Deterministic workflow detected: {exc}"
        except UnsupportedActionError as exc:
            error = str(exc)
        self._commit(current, consumed, episode_events, state, error, changes)
        log.info("episode %s instance=%s events_in=%d history=%d scheduled=%d status=%s "
                 "wall=%.1fms cpu=%.1fms", current.name, instance_id, len(new_events),
                 len(history) + len(episode_events),
                 len(changes.work) + len(changes.timers) + len(changes.children),
                 self._status_after(state, error), (time.perf_counter() - started) * 1000,
                 (time.thread_time() - cpu_started) * 1000)

    def _admit(self, current: Instance, history: list[dict],
               items: list[InboxItem]) -> tuple[list[dict], dict | None]:
        """Keep the inbox events this episode can use; drop stale and duplicate ones."""
        scheduled: set[int] = set()
        closed: set[int] = set()
        for past in history:
            kind = past["EventType"]
            if kind in SCHEDULING:
                scheduled.add(past["EventId"])
            elif kind in COMPLETING:
                closed.add(past["TaskScheduledId"])
            elif kind == EventType.TimerFired:
                closed.add(past["TimerId"])
        admitted: list[dict] = []
        for item in items:
            message = item.event
            kind = message["EventType"]
            if item.generation != current.generation and kind != EventType.EventRaised:
                continue  # a completion for an execution that continued as new
            if kind == EventType.ExecutionTerminated:
                return [], message
            if kind == EventType.ExecutionStarted and history:
                continue
            target = message.get("TaskScheduledId", message.get("TimerId"))
            if target is not None:
                if target not in scheduled or target in closed:
                    log.warning("instance=%s dropped a duplicate or unknown completion of task %s",
                                current.instance_id, target)
                    continue
                closed.add(target)
            admitted.append(message)
        return admitted, None

    def _check_replay(self, current: Instance, history: list[dict], state: dict) -> list[dict]:
        """Compare the replayed actions with the history; return the actions that are new."""
        actions = [a for a in flatten_actions(state)
                   if a.get("actionType") not in (WAIT_EVENT, CONTINUE_AS_NEW)]
        for action in actions:
            if action.get("actionType") not in SCHEDULED_KIND:
                raise UnsupportedActionError(
                    f"devhost does not support action type {action.get('actionType')} "
                    "(Durable entities and durable HTTP calls)")
        recorded = [past for past in history if past["EventType"] in SCHEDULING
                    and past["EventId"] not in current.retry_event_ids]
        for position, past in enumerate(recorded):
            kind = HISTORY_KIND[EventType(past["EventType"])]
            name = past.get("Name")
            if position >= len(actions):
                if state.get("isDone") or "error" in state:
                    break
                raise NonDeterminismError(
                    f"A previous execution of this orchestration scheduled {kind} '{name or ''}' "
                    f"with sequence ID {past['EventId']}, but the current replay execution hasn't "
                    "scheduled it. Was a change made to the orchestrator code after this "
                    "instance had already started running?")
            action = actions[position]
            replayed_kind = SCHEDULED_KIND[action["actionType"]]
            replayed_name = action.get("functionName")
            if replayed_kind != kind or (kind != "timer" and replayed_name != name):
                raise NonDeterminismError(
                    f"A previous execution of this orchestration scheduled {kind} '{name or ''}' "
                    f"with sequence ID {past['EventId']}, but the current replay execution "
                    f"scheduled {replayed_kind} '{replayed_name or ''}' in its place. Was a "
                    "change made to the orchestrator code after this instance had already "
                    "started running?")
        return actions[len(recorded):]

    def _schedule(self, current: Instance, history: list[dict],
                  context: DurableOrchestrationContext | None, new_actions: list[dict],
                  changes: EpisodeChanges) -> None:
        """Turn the new actions (and the SDK's retry steps) into history events and work."""
        if context is None:
            return
        known = {past["EventId"] for past in history if past["EventType"] in SCHEDULING}
        fresh = sorted(
            (task for key, task in context.open_tasks.items()
             if isinstance(key, int) and isinstance(task, AtomicTask) and key not in known),
            key=lambda task: task.id)
        actions = iter(new_actions)
        now = datetime.now(UTC)
        for task in fresh:
            action_repr = task.action_repr
            if isinstance(action_repr, list):
                action_repr = action_repr[0]
            if isinstance(action_repr, NoOpAction):
                retried = task.parent.actions
                retried = retried[0] if isinstance(retried, list) else retried
                retry_json = retried.to_json()
                changes.retry_ids.add(task.id)
                if action_repr.metadata == "rescheduled task":
                    self._schedule_action(current, task.id, retry_json, changes)
                else:
                    delay = retry_json["retryOptions"]["firstRetryIntervalInMilliseconds"]
                    fire_at = now + timedelta(milliseconds=delay)
                    self._schedule_timer(task.id, timestamp(fire_at), changes)
                continue
            action = next(actions, None)
            if action is None or action.get("functionName") != getattr(
                    action_repr, "function_name", None):
                raise NonDeterminismError("devhost could not match the new actions to the "
                                          "orchestrator's tasks")
            self._schedule_action(current, task.id, action, changes)

    def _schedule_action(self, current: Instance, task_id: int, action: dict,
                         changes: EpisodeChanges) -> None:
        kind = action["actionType"]
        if kind in (ACTIVITY, ACTIVITY_RETRY):
            changes.history.append(event(EventType.TaskScheduled, task_id,
                                         Name=action["functionName"], Input=action.get("input")))
            changes.work.append((task_id, action["functionName"], action.get("input")))
        elif kind in (SUB, SUB_RETRY):
            child_id = action.get("instanceId") or f"{current.instance_id}:{task_id:04X}"
            changes.history.append(event(EventType.SubOrchestrationInstanceCreated, task_id,
                                         Name=action["functionName"], InstanceId=child_id,
                                         Input=action.get("input")))
            changes.children.append((child_id, action["functionName"], action.get("input"),
                                     task_id))
        elif kind == TIMER:
            self._schedule_timer(task_id, action["fireAt"], changes)

    @staticmethod
    def _schedule_timer(task_id: int, fire_at: str, changes: EpisodeChanges) -> None:
        changes.history.append(event(EventType.TimerCreated, task_id, FireAt=fire_at))
        fired = event(EventType.TimerFired, TimerId=task_id, FireAt=fire_at)
        changes.timers.append((fired, parse_time(fire_at).timestamp()))

    @staticmethod
    def _status_after(state: dict, error: str | None) -> str:
        if error is not None:
            return "Failed"
        if any(a.get("actionType") == CONTINUE_AS_NEW for a in flatten_actions(state)):
            return "ContinuedAsNew"
        return "Completed" if state.get("isDone") else "Running"

    def _commit(self, current: Instance, consumed: list[int], episode_events: list[dict],
                state: dict, error: str | None, changes: EpisodeChanges) -> None:
        instance_id = current.instance_id
        status = self._status_after(state, error)
        played = [dict(e, IsPlayed=True) for e in episode_events]
        completion_message: dict | None = None
        to_submit: list[WorkItem] = []
        with self.store.transaction():
            stored = self.store.get_instance(instance_id)
            if stored is None or (stored.created_time, stored.generation) != (
                    current.created_time, current.generation):
                return  # purged or replaced by a new start while this episode ran
            self.store.delete_inbox(consumed)
            if "customStatus" in state:
                current.custom_status = json.dumps(state["customStatus"])
            current.last_updated_time = timestamp()
            if status == "ContinuedAsNew":
                restart = next(a for a in flatten_actions(state)
                               if a.get("actionType") == CONTINUE_AS_NEW)
                self.store.delete_work_of(instance_id)
                self.store.clear_history(instance_id)
                current.generation += 1
                current.retry_event_ids = set()
                current.input = restart.get("input")
                current.runtime_status = "Running"
                self.store.add_inbox(instance_id, current.generation, event(
                    EventType.ExecutionStarted, Name=current.name, Version="",
                    Input=current.input), time.time())
                self.store.put_instance(current)
            else:
                closing = [event(EventType.OrchestratorCompleted)]
                if status == "Completed":
                    output_json = json.dumps(state.get("output"))
                    current.output = output_json
                    closing.append(event(EventType.ExecutionCompleted, Result=output_json,
                                         OrchestrationStatus="Completed"))
                    completion_message = event(EventType.SubOrchestrationInstanceCompleted,
                                               TaskScheduledId=current.parent_task_id,
                                               Result=output_json)
                elif status == "Failed":
                    message = f"Orchestrator function '{current.name}' failed: {error}"
                    current.output = json.dumps(message)
                    closing.append(event(EventType.ExecutionCompleted, Result=json.dumps(message),
                                         OrchestrationStatus="Failed"))
                    completion_message = event(EventType.SubOrchestrationInstanceFailed,
                                               TaskScheduledId=current.parent_task_id,
                                               Reason=message, Details=None)
                    self.store.delete_work_of(instance_id)
                current.runtime_status = status
                current.retry_event_ids |= changes.retry_ids
                self.store.append_history(
                    instance_id, played + [dict(e, IsPlayed=True) for e in changes.history]
                    + [dict(e, IsPlayed=True) for e in closing])
                for task_id, name, input_json in changes.work:
                    work_id = self.store.add_work(instance_id, current.generation, task_id, name,
                                                  input_json)
                    to_submit.append(WorkItem(work_id, instance_id, current.generation, task_id,
                                              name, input_json))
                for fired, due in changes.timers:
                    self.store.add_inbox(instance_id, current.generation, fired, due)
                for child_id, name, input_json, task_id in changes.children:
                    existing = self.store.get_instance(child_id)
                    if existing is not None and not existing.is_terminal:
                        self.store.add_inbox(instance_id, current.generation, event(
                            EventType.SubOrchestrationInstanceFailed, TaskScheduledId=task_id,
                            Reason=f"An orchestration instance with the id '{child_id}' is "
                                   f"already {existing.runtime_status}.", Details=None),
                            time.time())
                        continue
                    if existing is not None:
                        self.store.delete_instance(child_id)
                    self._create_instance(child_id, name, input_json, instance_id, task_id)
                self.store.put_instance(current)
            if completion_message is not None and current.parent_instance_id:
                self._notify_parent(current, completion_message)
        for work in to_submit:
            self._submit(work)
        if status == "ContinuedAsNew" or changes.children or completion_message:
            self._wake.set()

    def _notify_parent(self, child: Instance, message: dict) -> None:
        parent = self.store.get_instance(child.parent_instance_id)
        if parent is not None and not parent.is_terminal:
            self.store.add_inbox(parent.instance_id, parent.generation, message, time.time())

    def _fail_instance(self, instance_id: str, message: str) -> None:
        with self.store.transaction():
            current = self.store.get_instance(instance_id)
            if current is None or current.is_terminal:
                self.store.delete_inbox_of(instance_id)
                return
            self._end_instance(current, "Failed", message, parent_reason=message)

    def _finish_terminated(self, current: Instance, consumed: list[int], message: dict) -> None:
        reason = json.loads(message.get("Input") or "null")
        with self.store.transaction():
            self.store.append_history(current.instance_id, [dict(message, IsPlayed=True)])
            self._end_instance(
                current, "Terminated", reason,
                parent_reason=f"Sub-orchestration '{current.instance_id}' was terminated: "
                              f"{reason}")
        log.info("terminated instance=%s reason=%s", current.instance_id, reason)
        self._wake.set()

    def _end_instance(self, current: Instance, status: str, output, parent_reason: str) -> None:
        """Stop an instance outside an episode (inside the caller's transaction): drop its
        pending messages and work, record the status, and tell its parent it failed."""
        self.store.delete_inbox_of(current.instance_id)
        self.store.delete_work_of(current.instance_id)
        current.runtime_status = status
        current.output = json.dumps(output)
        current.last_updated_time = timestamp()
        self.store.put_instance(current)
        if current.parent_instance_id:
            self._notify_parent(current, event(
                EventType.SubOrchestrationInstanceFailed,
                TaskScheduledId=current.parent_task_id, Reason=parent_reason, Details=None))

    # activities -----------------------------------------------------------------------------
    def _submit(self, work: WorkItem) -> None:
        if not self._stopping.is_set():
            self._pool.submit(self._run_activity, work)

    def _run_activity(self, work: WorkItem) -> None:
        started = time.perf_counter()
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
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            encoded = ActivityTriggerConverter.encode(result, expected_type=None).value
            outcome = event(EventType.TaskCompleted, TaskScheduledId=work.task_id, Result=encoded)
            verdict = "completed"
        except Exception as exc:
            outcome = event(EventType.TaskFailed, TaskScheduledId=work.task_id,
                            Reason=f"Activity function '{work.name}' failed: "
                                   f"{type(exc).__name__}: {exc}",
                            Details="".join(traceback.format_exception(exc)[-3:]))
            verdict = f"failed ({type(exc).__name__})"
        if self._stopping.is_set():
            return
        with self.store.transaction():
            if not self.store.work_exists(work.id):
                return
            self.store.delete_work(work.id)
            self.store.add_inbox(work.instance_id, work.generation, outcome, time.time())
        self._wake.set()
        log.info("activity %s instance=%s task=%d %s %.0fms", work.name, work.instance_id,
                 work.task_id, verdict, (time.perf_counter() - started) * 1000)


async def _await(awaitable):
    return await awaitable
