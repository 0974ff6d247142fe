"""Orchestration steps the orchestrators share (deterministic).

`wait_out` calls an activity and, while it fails, tries it again after durable timers with
capped backoff until the outage window since its first failure is over (`shared.core.outage`).
`notify_operators` schedules the e-mail activity once an outcome is known. It never raises:
a mail that cannot be sent must not fail or hold up a delivery, so no retry policy either.
`report_rounds` tells the website, trying again later while it is down.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities import notify_operators as notify_activity
from activities import report_to_website as report_activity
from shared.core.models import DurableModel
from shared.core.outage import OutageRetry, waiting_message
from shared.core.run import DeliveryRun, ReportInput
from shared.operations.notify import NotifyInput


def wait_out(context: df.DurableOrchestrationContext, name: str, activity_input: DurableModel,
             retry: OutageRetry, run: DeliveryRun | None = None):
    """The activity's result; while it fails, wait and try again until `retry`'s window since
    its first failure is over, then raise its last failure. With `run`, the status says so."""
    attempt, first_failure = 0, None
    message_before = run.message if run is not None else None
    while True:
        attempt += 1
        try:
            result: Any = yield context.call_activity(name, activity_input)
        except Exception as error:
            now = context.current_utc_datetime
            first_failure = first_failure or now
            wait = retry.wait_after(attempt, first_failure, now)
            if wait is None:
                if run is not None:
                    run.message = message_before
                raise
            if run is not None:
                run.message = waiting_message(name, attempt, now + wait,
                                              retry.gives_up_at(first_failure), first_line(error))
                context.set_custom_status(run.progress())
            yield context.create_timer(now + wait)
            continue
        if run is not None and attempt > 1:
            run.message = message_before
            context.set_custom_status(run.progress())
        return result


def notify_operators(context: df.DurableOrchestrationContext, run: DeliveryRun,
                     error: BaseException | None = None):
    return (yield from notify(context, NotifyInput(
        request=run.request, run_id=run.run_id, progress=run.progress(),
        error=first_line(error) if error is not None else None)))


def notify(context: df.DurableOrchestrationContext, notify_input: NotifyInput):
    try:
        outcome: Any = yield context.call_activity(notify_activity.NAME, notify_input)
    except Exception:
        return None
    return outcome


def report_rounds(context: df.DurableOrchestrationContext, report_input: ReportInput,
                  rounds: int):
    """The report activity, tried again while the website is down (waits of 1, 2, 4 ...
    minutes); the outcome as JSON, or {"status": "unavailable", ...} after the last round."""
    wait = timedelta(minutes=1)
    for attempt in range(1, rounds + 1):
        try:
            outcome: Any = yield context.call_activity(report_activity.NAME, report_input)
            return outcome if isinstance(outcome, dict) else outcome.to_json()
        except Exception as error:
            if attempt == rounds:
                return {"status": "unavailable", "website_message": first_line(error)}
            yield context.create_timer(context.current_utc_datetime + wait)
            wait *= 2
    return {"status": "unavailable", "website_message": "no attempt made"}


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
