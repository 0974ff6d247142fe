"""One orchestrator episode: which inbox events it takes, the SDK's replay, what it schedules.

Nothing here writes to the store: the engine commits an episode's outcome in one transaction.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from azure.durable_functions import Orchestrator
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.Task import AtomicTask

from .functions import FunctionIndex
from .history import COMPLETING, SCHEDULING, EventType, event, parse_time, timestamp
from .jsontypes import JsonObject, JsonValue
from .limits import custom_status_error
from .replay import (
    ACTIVITY,
    ACTIVITY_RETRY,
    SUB,
    SUB_RETRY,
    TIMER,
    NonDeterminismError,
    UnsupportedActionError,
    check_replay,
    continue_as_new_action,
)
from .retries import first_attempt_time, retry_fire_at
from .store import InboxItem, Instance

log = logging.getLogger("devhost")

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


@dataclass
class EpisodeChanges:
    """What one episode schedules: history events, activity work, timers, children."""

    history: list[JsonObject] = field(default_factory=list)
    work: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[JsonObject, float]] = field(default_factory=list)
    children: list[tuple[str, str, str | None, int]] = field(default_factory=list)
    retry_ids: set[int] = field(default_factory=set)

    @property
    def scheduled(self) -> int:
        return len(self.work) + len(self.timers) + len(self.children)


@dataclass
class Episode:
    """The outcome of running the orchestrator once over its history and new events."""

    events: list[JsonObject]  # OrchestratorStarted and the new events, as the history gets them
    state: JsonObject
    error: str | None
    changes: EpisodeChanges
    custom_status_refused: bool = False

    @property
    def status(self) -> str:
        if self.error is not None:
            return "Failed"
        if continue_as_new_action(self.state) is not None:
            return "ContinuedAsNew"
        return "Completed" if self.state.get("isDone") else "Running"

    @property
    def has_custom_status(self) -> bool:
        """Whether the episode sets a custom status the extension accepts."""
        return "customStatus" in self.state and not self.custom_status_refused

    @property
    def custom_status(self) -> JsonValue:
        return self.state.get("customStatus")


def admit(current: Instance, history: list[JsonObject],
          items: list[InboxItem]) -> tuple[list[JsonObject], JsonObject | None]:
    """Keep the inbox events this episode can use; drop stale and duplicate ones.

    Returns the admitted events, or the termination message if one is waiting.
    """
    scheduled: set[int] = set()
    closed: set[int] = set()
    for past in history:
        kind = past["EventType"]
        if kind in SCHEDULING:
            scheduled.add(past["EventId"])  # type: ignore[arg-type]
        elif kind in COMPLETING:
            closed.add(past["TaskScheduledId"])  # type: ignore[arg-type]
        elif kind == EventType.TimerFired:
            closed.add(past["TimerId"])  # type: ignore[arg-type]
    admitted: list[JsonObject] = []
    for item in items:
        message = item.event
        kind = message["EventType"]
        if kind == EventType.ExecutionTerminated:
            # names the instance, not an execution (DTFx sends it with no ExecutionId), so it
            # stops whichever execution is current
            return [], message
        if item.generation != current.generation and kind != EventType.EventRaised:
            continue  # a completion for an execution that continued as new
        if kind == EventType.ExecutionStarted and history:
            continue
        target = message.get("TaskScheduledId", message.get("TimerId"))
        if isinstance(target, int):
            if target not in scheduled or target in closed:
                log.warning("instance=%s dropped a duplicate or unknown completion of task %s",
                            current.instance_id, target)
                continue
            closed.add(target)
        admitted.append(message)
    return admitted, None


def execution_started(instance: Instance) -> JsonObject:
    """The ExecutionStarted event of a new execution of ``instance``."""
    parent: JsonValue = None
    if instance.parent_instance_id:
        parent = {"OrchestrationInstance": {"InstanceId": instance.parent_instance_id},
                  "TaskScheduleId": instance.parent_task_id}
    return event(EventType.ExecutionStarted, Name=instance.name, Version="",
                 Input=instance.input,
                 OrchestrationInstance={"InstanceId": instance.instance_id,
                                        "ExecutionId": uuid.uuid4().hex},
                 ParentInstance=parent)


def run_episode(index: FunctionIndex, current: Instance, history: list[JsonObject],
                new_events: list[JsonObject]) -> Episode:
    """Replay the orchestrator over ``history`` + ``new_events`` and work out what is new."""
    episode_events = [event(EventType.OrchestratorStarted), *new_events]
    handle = index.orchestrators.get(current.name)
    error: str | None = None
    state: JsonObject = {}
    context: DurableOrchestrationContext | None = None
    if handle is None:
        error = f"The function '{current.name}' doesn't exist or is not an orchestrator."
    else:
        context = DurableOrchestrationContext.from_json(json.dumps({
            "history": history + episode_events,
            "instanceId": current.instance_id,
            "isReplaying": bool(history),
            "parentInstanceId": current.parent_instance_id,
            "input": current.input,
            "upperSchemaVersion": 1,
        }))
        context._input_expected_type = getattr(handle, "_df_input_type", None)
        try:
            state = json.loads(Orchestrator(handle.orchestrator_function).handle(context))
        except Exception as exc:  # the SDK raises with the state appended to the message
            message, _, state_json = str(exc).partition(OUT_OF_PROC_MARKER)
            error = message or type(exc).__name__
            state = json.loads(state_json) if state_json else {}

    changes = EpisodeChanges()
    if "customStatus" in state:
        # the extension sets the custom status before it replays the actions, and refuses
        # one over 16 KB: the episode fails and none of its actions is scheduled
        # (OutOfProcOrchestrationShim.ScheduleDurableTaskEvents -> SetCustomStatus; the
        # ArgumentException becomes "Orchestrator function '<name>' failed: <message>" in
        # TaskOrchestrationShim.InvokeUserCodeAndHandleResults)
        too_large = custom_status_error(state["customStatus"])
        if too_large is not None:
            return Episode(episode_events, state, too_large, changes,
                           custom_status_refused=True)
    try:
        new_actions = check_replay(history, current.retry_event_ids, state)
        if error is None and not state.get("isDone") and context is not None:
            now = parse_time(str(episode_events[0]["Timestamp"]))
            schedule(current, history, context, new_actions, changes, now)
    except NonDeterminismError as exc:
        error = f"Non-Deterministic workflow detected: {exc}"
    except UnsupportedActionError as exc:
        error = str(exc)
    return Episode(episode_events, state, error, changes)


def schedule(current: Instance, history: list[JsonObject], context: DurableOrchestrationContext,
             new_actions: list[JsonObject], changes: EpisodeChanges, now: datetime) -> None:
    """Turn the new actions (and the SDK's retry steps) into history events and work; ``now``
    is the episode's time (its ``OrchestratorStarted``), the orchestration's current time."""
    known = {past["EventId"] for past in history if past["EventType"] in SCHEDULING}
    fresh = sorted(
        (task for key, task in context.open_tasks.items()
         if isinstance(key, int) and isinstance(task, AtomicTask) and key not in known),
        key=lambda task: task.id)
    actions = iter(new_actions)
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
                schedule_action(current, task.id, retry_json, changes)
            else:
                retrying = task.parent
                first_id = getattr(retrying.children[0], "id", None)
                fire_at = retry_fire_at(
                    retry_json["retryOptions"], retrying.num_attempts, now,
                    first_attempt_time(history, first_id) if isinstance(first_id, int)
                    else None)
                if fire_at is None:
                    log.warning("instance=%s task %d: past its retryTimeout, the extension "
                                "makes no retry timer", current.instance_id, task.id)
                    continue
                schedule_timer(task.id, timestamp(fire_at), changes)
            continue
        action = next(actions, None)
        if action is None or action.get("functionName") != getattr(
                action_repr, "function_name", None):
            raise NonDeterminismError("devhost could not match the new actions to the "
                                      "orchestrator's tasks")
        schedule_action(current, task.id, action, changes)


def schedule_action(current: Instance, task_id: int, action: JsonObject,
                    changes: EpisodeChanges) -> None:
    kind = action["actionType"]
    name = str(action.get("functionName"))
    input_json = action.get("input")
    input_text = (input_json if isinstance(input_json, str) or input_json is None
                  else json.dumps(input_json))
    if kind in (ACTIVITY, ACTIVITY_RETRY):
        changes.history.append(event(EventType.TaskScheduled, task_id, Name=name,
                                     Input=input_text))
        changes.work.append((task_id, name, input_text))
    elif kind in (SUB, SUB_RETRY):
        child_id = str(action.get("instanceId") or f"{current.instance_id}:{task_id:04X}")
        changes.history.append(event(EventType.SubOrchestrationInstanceCreated, task_id,
                                     Name=name, InstanceId=child_id, Input=input_text))
        changes.children.append((child_id, name, input_text, task_id))
    elif kind == TIMER:
        schedule_timer(task_id, str(action["fireAt"]), changes)


def schedule_timer(task_id: int, fire_at: str, changes: EpisodeChanges) -> None:
    changes.history.append(event(EventType.TimerCreated, task_id, FireAt=fire_at))
    fired = event(EventType.TimerFired, TimerId=task_id, FireAt=fire_at)
    changes.timers.append((fired, parse_time(fire_at).timestamp()))
