"""Orchestration steps the orchestrators share (deterministic, typed).

- `call` schedules one activity by its name (`shared.core.activities.Activity`) and gives its
  result as the model it is (the Durable codec carries models by `to_json`/`from_json`);
- `wait_out` calls an activity and, while it fails, tries it again after durable timers with
  capped backoff until the outage window since its first failure is over
  (`shared.core.outage`);
- `notify_operators` schedules the e-mail activity once an outcome is known. It never raises:
  a mail that cannot be sent must not fail or hold up a delivery, so no retry either;
- `report_rounds` tells the website, trying again later while it is down.

Each is a generator the orchestrator delegates to (`yield from`); `Steps[T]` is its type.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any, TypeVar

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.messages import NotifyInput, NotifyOutcome, ReportInput
from shared.core.models import DurableModel, ReportOutcome
from shared.core.outage import OutageRetry, waiting_message
from shared.core.run import DeliveryRun

Result = TypeVar("Result", bound=DurableModel)
T = TypeVar("T")
# what an orchestration step is: it yields Durable tasks and returns a T
Steps = Generator[Any, Any, T]
# a delivery orchestration's output: the final progress, where the manifest went, the report
Outcome = dict[str, Any]


def as_model(result_type: type[Result], value: Any) -> Result:
    """An activity's result as its model (as the codec gives it, or its JSON)."""
    if isinstance(value, result_type):
        return value
    return result_type.model_validate(value)


def call(context: df.DurableOrchestrationContext, activity: Activity,
         activity_input: DurableModel, result_type: type[Result]) -> Steps[Result]:
    """Run one activity once; its result as `result_type`, or its failure raised."""
    value = yield context.call_activity(activity.value, activity_input)
    return as_model(result_type, value)


def wait_out(context: df.DurableOrchestrationContext, activity: Activity,
             activity_input: DurableModel, result_type: type[Result], retry: OutageRetry,
             run: DeliveryRun | None = None) -> Steps[Result]:
    """The activity's result; while it fails, wait and try again until `retry`'s window since
    its first failure is over, then raise its last failure. With `run`, the status says so."""
    attempt, first_failure = 0, None
    message_before = run.message if run is not None else None
    while True:
        attempt += 1
        try:
            result = yield from call(context, activity, activity_input, result_type)
        except Exception as error:
            now = context.current_utc_datetime
            first_failure = first_failure or now
            wait = retry.wait_after(attempt, first_failure, now)
            if wait is None:
                if run is not None:
                    run.message = message_before
                raise
            if run is not None:
                run.message = waiting_message(activity.value, attempt, now + wait,
                                              retry.gives_up_at(first_failure), first_line(error))
                context.set_custom_status(run.progress())
            yield context.create_timer(now + wait)
            continue
        if run is not None and attempt > 1:
            run.message = message_before
            context.set_custom_status(run.progress())
        return result


def notify_operators(context: df.DurableOrchestrationContext, run: DeliveryRun,
                     error: BaseException | None = None) -> Steps[NotifyOutcome | None]:
    return (yield from notify(context, NotifyInput(
        request=run.request, run_id=run.run_id, progress=run.progress(),
        error=first_line(error) if error is not None else None)))


def notify(context: df.DurableOrchestrationContext,
           notify_input: NotifyInput) -> Steps[NotifyOutcome | None]:
    try:
        return (yield from call(context, Activity.NOTIFY_OPERATORS, notify_input, NotifyOutcome))
    except Exception:
        return None


def report_rounds(context: df.DurableOrchestrationContext, report_input: ReportInput,
                  rounds: int) -> Steps[dict[str, Any]]:
    """The report activity, tried again while the website is down (waits of 1, 2, 4 ...
    minutes); the outcome as JSON, or {"status": "unavailable", ...} after the last round."""
    wait = timedelta(minutes=1)
    for attempt in range(1, rounds + 1):
        try:
            outcome = yield from call(context, Activity.REPORT_TO_WEBSITE, report_input,
                                      ReportOutcome)
            return outcome.to_json()
        except Exception as error:
            if attempt == rounds:
                return {"status": "unavailable", "website_message": first_line(error)}
            yield context.create_timer(context.current_utc_datetime + wait)
            wait *= 2
    return {"status": "unavailable", "website_message": "no attempt made"}


def first_line(error: BaseException) -> str:
    """An activity failure's reason (the Durable SDK joins its reason and details)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
