"""The replay check: the actions an episode's replay returns against the recorded history.

The SDK's ``Orchestrator`` answers each episode with every action the orchestrator has taken
so far. Those already in the history must match it in order, kind and name, or the
orchestrator is not deterministic, and the instance fails with "Non-Deterministic workflow
detected: ..." (durabletask ``src/DurableTask.Core/Exceptions/
NonDeterministicOrchestrationException.cs``). The rest are new and get scheduled.
"""

from __future__ import annotations

from .history import SCHEDULING, EventType
from .jsontypes import JsonObject

# the out-of-process action types (OutOfProcOrchestrationShim.AsyncActionType)
ACTIVITY, ACTIVITY_RETRY, SUB, SUB_RETRY, CONTINUE_AS_NEW, TIMER, WAIT_EVENT = 0, 1, 2, 3, 4, 5, 6
COMPOUND = (11, 12)  # WhenAny, WhenAll
SCHEDULED_KIND = {ACTIVITY: "activity", ACTIVITY_RETRY: "activity", SUB: "sub-orchestration",
                  SUB_RETRY: "sub-orchestration", TIMER: "timer"}
HISTORY_KIND = {EventType.TaskScheduled: "activity",
                EventType.SubOrchestrationInstanceCreated: "sub-orchestration",
                EventType.TimerCreated: "timer"}


class NonDeterminismError(Exception):
    pass


class UnsupportedActionError(Exception):
    pass


def flatten_actions(state: JsonObject) -> list[JsonObject]:
    """The atomic actions of an episode's answer, in order (compound actions opened)."""
    flat: list[JsonObject] = []

    def walk(action: JsonObject) -> None:
        if action.get("actionType") in COMPOUND:
            children = action.get("compoundActions")
            for child in children if isinstance(children, list) else []:
                if isinstance(child, dict):
                    walk(child)
        else:
            flat.append(action)

    groups = state.get("actions")
    for group in groups if isinstance(groups, list) else []:
        for action in group if isinstance(group, list) else []:
            if isinstance(action, dict):
                walk(action)
    return flat


def continue_as_new_action(state: JsonObject) -> JsonObject | None:
    return next((a for a in flatten_actions(state) if a.get("actionType") == CONTINUE_AS_NEW),
                None)


def check_replay(history: list[JsonObject], retry_event_ids: set[int],
                 state: JsonObject) -> list[JsonObject]:
    """Compare the replayed actions with the history; return the actions that are new."""
    actions = [a for a in flatten_actions(state)
               if a.get("actionType") not in (WAIT_EVENT, CONTINUE_AS_NEW)]
    for action in actions:
        if action.get("actionType") not in SCHEDULED_KIND:
            raise UnsupportedActionError(
                f"devhost does not support action type {action.get('actionType')} "
                "(Durable entities and durable HTTP calls)")
    recorded = [past for past in history if past["EventType"] in SCHEDULING
                and past["EventId"] not in retry_event_ids]
    for position, past in enumerate(recorded):
        kind = HISTORY_KIND[EventType(int(past["EventType"]))]  # type: ignore[arg-type]
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
        replayed_kind = SCHEDULED_KIND[action["actionType"]]  # type: ignore[index]
        replayed_name = action.get("functionName")
        if replayed_kind != kind or (kind != "timer" and replayed_name != name):
            raise NonDeterminismError(
                f"A previous execution of this orchestration scheduled {kind} '{name or ''}' "
                f"with sequence ID {past['EventId']}, but the current replay execution "
                f"scheduled {replayed_kind} '{replayed_name or ''}' in its place. Was a "
                "change made to the orchestrator code after this instance had already "
                "started running?")
    return actions[len(recorded):]
