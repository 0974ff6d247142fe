"""History events in the shape the Durable extension hands to out-of-process SDKs."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16


SCHEDULING = (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated,
              EventType.TimerCreated)
COMPLETING = (EventType.TaskCompleted, EventType.TaskFailed,
              EventType.SubOrchestrationInstanceCompleted, EventType.SubOrchestrationInstanceFailed)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timestamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse the ISO times the SDK writes (``...Z`` or with an offset, with or without µs)."""
    cleaned = text.replace("Z", "+00:00")
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def event(kind: EventType, event_id: int = -1, **fields) -> dict:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False,
            "Timestamp": timestamp(), **fields}


def for_display(stored: dict, with_output: bool) -> dict:
    """An event as the status API shows it: type by name; inputs and results only on request."""
    shown = {key: value for key, value in stored.items() if key != "IsPlayed"}
    shown["EventType"] = EventType(stored["EventType"]).name
    if not with_output:
        shown.pop("Input", None)
        shown.pop("Result", None)
    return shown
