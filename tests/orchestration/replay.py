"""Run a real orchestrator function through the Durable SDK's own `Orchestrator.handle`, episode
by episode, in this process and in virtual time: no host, no storage, milliseconds a run.

Each episode replays the whole history (with an `OrchestratorStarted` stamped with the virtual
clock, which is what `context.current_utc_datetime` reads), its new actions are checked against
the history as the Durable extension checks them (`devhost.replay.check_replay`), and each new
activity is run at once by a fake (a function of its decoded input) whose answer arrives after
the time the fake says; timers fire at their time. One event is delivered per episode, the
earliest first, as a host delivers them. Continue-as-new starts a new generation.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions import DurableOrchestrationContext, Orchestrator
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from devhost.episode import OUT_OF_PROC_MARKER
from devhost.history import EventType, event, parse_time, timestamp
from devhost.replay import ACTIVITY, TIMER, check_replay, continue_as_new_action

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@dataclass
class Takes:
    """A fake activity's answer (a value, or an exception to raise) after `seconds`."""

    answer: Any
    seconds: float = 1.0


Fake = Callable[[Any], Any]  # decoded input -> answer, Takes(answer, seconds), or raises


@dataclass
class Run:
    status: str = "Running"  # Completed or Failed at the end
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    episodes: int = 0
    generations: int = 1
    largest_history: int = 0
    calls: list[tuple[float, str, Any]] = field(default_factory=list)  # (seconds, name, input)
    statuses: list[tuple[float, Any]] = field(default_factory=list)  # (seconds, custom status)

    def called(self, name: str) -> list[Any]:
        return [given for _, called, given in self.calls if called == name]


def orchestrator_function(registered: Any) -> Callable[..., Any]:
    """The generator function behind an `@bp.orchestration_trigger` of the app."""
    return registered._function.get_user_function().orchestrator_function


def replay(orchestrator: Callable[..., Any], given: Any, fakes: dict[str, Fake], *,
           most_episodes: int = 20_000) -> Run:
    """Run `orchestrator` (its generator function) with input `given` until it ends; every
    activity it calls must be one of `fakes`."""
    run = Run()
    now = START
    history: list[dict[str, Any]] = []
    pending: list[tuple[float, int, dict[str, Any]]] = []  # (at, order, event)
    order = 0
    input_text = json.dumps(given)
    history.append(event(EventType.ExecutionStarted, Name="orchestrator", Input=input_text,
                         Version=""))
    new_events: list[dict[str, Any]] = []
    while run.episodes < most_episodes:
        run.episodes += 1
        started = event(EventType.OrchestratorStarted)
        started["Timestamp"] = timestamp(now)
        episode = [started, *new_events]
        context = DurableOrchestrationContext.from_json(json.dumps({
            "history": history + episode, "instanceId": "replay", "isReplaying": False,
            "parentInstanceId": None, "input": input_text, "upperSchemaVersion": 1}))
        try:
            state = json.loads(Orchestrator(orchestrator).handle(context))
        except Exception as raised:  # the SDK raises with the episode's state appended
            message, _, state_json = str(raised).partition(OUT_OF_PROC_MARKER)
            state = {**json.loads(state_json), "error": message.strip()}
        history.extend(episode)
        run.largest_history = max(run.largest_history, len(history))
        if "customStatus" in state:
            run.custom_status = state["customStatus"]
            run.statuses.append(((now - START).total_seconds(), state["customStatus"]))
        renewed = continue_as_new_action(state)
        if "error" in state or (state.get("isDone") and renewed is None):
            run.status = "Failed" if "error" in state else "Completed"
            run.output, run.error = state.get("output"), state.get("error")
            return run
        new_actions = [] if renewed is not None else check_replay(history, set(), state)
        recorded = sum(1 for past in history if past["EventType"] in (
            EventType.TaskScheduled, EventType.TimerCreated))
        for position, action in enumerate(new_actions):
            task_id = recorded + position
            if action["actionType"] == TIMER:
                fire_at = parse_time(str(action["fireAt"]))
                history.append(event(EventType.TimerCreated, task_id, FireAt=action["fireAt"]))
                fired = event(EventType.TimerFired, TimerId=task_id, FireAt=action["fireAt"])
                heapq.heappush(pending, (fire_at.timestamp(), order, fired))
            elif action["actionType"] == ACTIVITY:
                name, text = str(action["functionName"]), action.get("input")
                text = text if isinstance(text, str) else json.dumps(text)
                history.append(event(EventType.TaskScheduled, task_id, Name=name, Input=text))
                done_at, outcome = _call(fakes, name, text, task_id, run, now)
                heapq.heappush(pending, (done_at.timestamp(), order, outcome))
            else:
                raise AssertionError(f"the harness does not run action {action}")
            order += 1
        if renewed is not None:
            run.generations += 1
            input_text = renewed["input"] if isinstance(renewed["input"], str) \
                else json.dumps(renewed["input"])
            history = [event(EventType.ExecutionStarted, Name="orchestrator", Input=input_text,
                             Version="")]
            pending, new_events = [], []
            continue
        if not pending:
            raise AssertionError(f"the orchestration waits for nothing: {state}")
        at, _, delivered = heapq.heappop(pending)
        now = max(now, datetime.fromtimestamp(at, UTC))
        new_events = [delivered]
    raise AssertionError(f"still running after {most_episodes} episodes")


def _call(fakes: dict[str, Fake], name: str, text: str, task_id: int, run: Run,
          now: datetime) -> tuple[datetime, dict[str, Any]]:
    given = ActivityTriggerConverter.decode(meta.Datum(type="json", value=text),
                                            trigger_metadata=None)
    run.calls.append(((now - START).total_seconds(), name, given))
    seconds = 1.0
    try:
        answer = fakes[name](given)
        if isinstance(answer, Takes):
            answer, seconds = answer.answer, answer.seconds
        if isinstance(answer, BaseException):
            raise answer
    except Exception as error:
        reason = f"Activity function '{name}' failed:  {type(error).__name__}: {error}"
        return now + timedelta(seconds=seconds), event(
            EventType.TaskFailed, TaskScheduledId=task_id, Reason=reason, Details="{}")
    encoded = ActivityTriggerConverter.encode(answer, expected_type=None).value
    return now + timedelta(seconds=seconds), event(
        EventType.TaskCompleted, TaskScheduledId=task_id, Result=encoded)
