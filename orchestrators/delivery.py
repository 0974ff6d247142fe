"""The `delivery` orchestrator: plan, copy and verify by work units, write the manifest, report.

Deterministic: no I/O, clock or randomness here; activities do the work. Copying keeps
`DDD_PARALLEL_CHUNKS` work units in flight (a sliding window: the next starts as one ends, and
the status moves at every end and every `DDD_PROGRESS_SECONDS` while units run). A generation ends
with continue-as-new after `GENERATION_EVENTS` completions and ticks, so one generation's
history is bounded whatever the number of files or their size. No SAS, key or token is ever
an input, output or status here. A delivery that failed, was refused or went stale tells the
website once and then ends with runtime status Failed (its custom status keeps the counts), so
the portal's Failed view and alerts see it.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from activities import (
    copy_chunk,
    create_folders,
    discard_partial_delivery,
    grant_access,
    measure_progress,
    plan_delivery,
    record_failures,
    report_to_website,
    write_manifest,
)
from orchestrators import operator_steps
from shared.acl import AccessInput
from shared.folders import FoldersInput
from shared.models import ChunkRef
from shared.progress import (
    MESSAGE_CHARS,
    ChunkInput,
    DeliveryRun,
    FailuresInput,
    ManifestInput,
    PlanInput,
    ReportInput,
    cut_end,
)
from shared.unit_progress import ProgressInput, unit_key

NAME = "delivery"
bp = df.Blueprint()

ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000,
                                 max_number_of_attempts=5)
# after the report activity's own quick retries: wait 1, 2, 4, ... 60 minutes, ~2 days in all
REPORT_ROUNDS = 50
REPORT_FIRST_WAIT = timedelta(minutes=1)
REPORT_LONGEST_WAIT = timedelta(minutes=60)
# unit completions and progress ticks in one generation: its history stays bounded
GENERATION_EVENTS = 64


class DeliveryEndedBadly(Exception):
    """Raised once the website knows, so that the instance ends Failed with this message."""


@bp.orchestration_trigger(context_name="context", orchestration=NAME)
def delivery(context: df.DurableOrchestrationContext):
    run = DeliveryRun.from_json(context.get_input())
    try:
        outcome = yield from _deliver(context, run)
    except Exception as error:
        yield from operator_steps.notify_operators(context, run, error)
        raise
    if outcome is not None:  # the end, not a wave's continue-as-new
        yield from operator_steps.notify_operators(context, run)
    if run.ended_badly:
        context.set_custom_status(run.progress())
        raise DeliveryEndedBadly(cut_end(run.message or run.phase, MESSAGE_CHARS))
    return outcome


def _deliver(context: df.DurableOrchestrationContext, run: DeliveryRun):
    try:
        if run.plan is None:
            run.phase = "planning"
            context.set_custom_status(run.progress())
            run.plan = yield context.call_activity_with_retry(
                plan_delivery.NAME, ACTIVITY_RETRY, PlanInput(request=run.request,
                                                              run_id=run.run_id))
            if run.plan.refusal:
                run.phase, run.message = "refused", run.plan.refusal
                yield from _report(context, run, error_message=run.plan.refusal)
                return run.outcome()

        if not run.copying_done:
            run.phase = "copying"
            yield from _copy_window(context, run)  # its status names the units it starts
            # every generation ends here: the next one starts with a two-event history
            context.continue_as_new(run.to_json())
            return None

        failure = run.totals.failure_message()
        if failure:
            yield context.call_activity_with_retry(
                record_failures.NAME, ACTIVITY_RETRY,
                FailuresInput(run_id=run.run_id, chunk_count=run.plan.chunk_count))
            run.phase = "failed"
            run.message = failure + (yield from _discard_partial_copy(context, run))
            yield from _report(context, run, error_message=run.message)
            return run.outcome()

        run.phase = "creating-folders"
        context.set_custom_status(run.progress())
        yield context.call_activity_with_retry(
            create_folders.NAME, ACTIVITY_RETRY,
            FoldersInput(request=run.request, run_id=run.run_id,
                         folder_pages=run.plan.folder_pages))
        run.phase = "writing-manifest"
        context.set_custom_status(run.progress())
        run.manifest = yield context.call_activity_with_retry(
            write_manifest.NAME, ACTIVITY_RETRY,
            ManifestInput(request=run.request, run_id=run.run_id,
                          chunk_count=run.plan.chunk_count))
        # read access on the delivered folder, when configured: after every file is verified,
        # before the website is told; each call does a bounded part and says where to go on
        run.phase = "granting-access"
        context.set_custom_status(run.progress())
        access = AccessInput(request=run.request)
        while True:
            granted = yield context.call_activity_with_retry(grant_access.NAME, ACTIVITY_RETRY,
                                                             access)
            if granted.continuation is None:
                break
            access = AccessInput(request=run.request, continuation=granted.continuation)
        run.phase = "reporting"
        yield from _report(context, run, error_message=None)
        if run.report is not None and run.report.status == "stale":
            run.phase = "stale"
        elif run.report is not None and run.report.status in ("recorded", "already-recorded"):
            run.phase = "delivered"
        return run.outcome()
    except Exception as error:  # an activity failed after all its retries
        if run.phase in ("reporting", "refused", "failed", "stale"):
            # the copy is done (or was never started): only telling the website failed, and
            # the stored callback body can be re-sent; never discard delivered data for that
            raise
        run.phase = "failed"
        run.message = f"The transfer failed and was stopped: {_first_line(error)}."
        if run.plan is not None:
            run.message += yield from _discard_partial_copy(context, run)
        yield from _report(context, run, error_message=run.message)
        return run.outcome()


def _copy_window(context: df.DurableOrchestrationContext, run: DeliveryRun):
    """Keep `parallel_chunks` work units in flight, starting the next as one finishes, until
    `GENERATION_EVENTS` completions and progress ticks; then let those in flight finish (a
    file's next segment is carried to the next generation) and return. Raises the first
    unit's failure once nothing is in flight any more, so no copy lands after a clean-up."""
    in_flight: list[tuple[df.Task, ChunkRef]] = []
    events = 0
    failure: Exception | None = None

    def start_units() -> None:
        while (failure is None and events < GENERATION_EVENTS
               and len(in_flight) < run.parallel_chunks):
            unit = run.take_next()
            if unit is None:
                break
            in_flight.append((context.call_activity_with_retry(
                copy_chunk.NAME, ACTIVITY_RETRY, ChunkInput(request=run.request, chunk=unit)),
                unit))
        run.in_flight = [unit_key(running) for _, running in in_flight]

    start_units()
    # name the units now, not at the first unit's end: the status endpoint reads the progress
    # of the units the status names (a generation's first units can run for minutes)
    context.set_custom_status(run.progress())
    tick = None
    measuring = None  # the measure_progress activity started at the last tick, until it ends
    while in_flight:
        if tick is None and measuring is None:
            # while units run, read how far they have got (they write it 3 times as often)
            tick = context.create_timer(context.current_utc_datetime
                                        + timedelta(seconds=run.progress_seconds))
        waiting = [task for task, _ in in_flight] + [tick or measuring]
        finished = yield context.task_any(waiting)
        events += 1
        if finished is tick:
            # measured beside the units, never awaited alone: a unit's end is handled (and
            # shown) while the measurement waits for an activity slot behind queued units
            tick = None
            measuring = context.call_activity(
                measure_progress.NAME,
                ProgressInput(run_id=run.run_id, units=[unit for _, unit in in_flight]))
            continue
        if measuring is not None and finished is measuring:
            measuring = None
            if not isinstance(finished.result, Exception):  # else the next tick measures
                run.show_moving(finished.result.bytes_by_unit)
            context.set_custom_status(run.progress())
            continue
        position = next(at for at, (task, _) in enumerate(in_flight) if task is finished)
        _, unit = in_flight.pop(position)
        run.in_flight = [unit_key(running) for _, running in in_flight]
        if isinstance(finished.result, Exception):
            failure = failure or finished.result
            continue
        following = run.add_result(unit, finished.result)
        if following is not None:
            run.carried.insert(0, following)  # a file's next segment goes first
        start_units()
        context.set_custom_status(run.progress())
    if tick is not None:
        tick.cancel()
    if failure is not None:
        raise failure


def _discard_partial_copy(context: df.DurableOrchestrationContext, run: DeliveryRun):
    """Remove this run's partial copy, so the website's retry finds the destination empty."""
    try:
        yield context.call_activity_with_retry(discard_partial_delivery.NAME, ACTIVITY_RETRY,
                                               PlanInput(request=run.request, run_id=run.run_id))
    except Exception as error:
        return (f" The partial copy in {run.request.sink_folder} could not be removed "
                f"({_first_line(error)}); remove it before retrying.")
    return " Nothing was left in the destination; the delivery can be retried."


def _report(context: df.DurableOrchestrationContext, run: DeliveryRun, error_message: str | None):
    """POST the result to the website once; while it is down, wait longer and try again."""
    context.set_custom_status(run.progress())
    message_before = run.message
    wait = REPORT_FIRST_WAIT
    for attempt in range(1, REPORT_ROUNDS + 1):
        try:
            run.report = yield context.call_activity(
                report_to_website.NAME, ReportInput(request=run.request, run_id=run.run_id,
                                                    error_message=error_message))
            run.message = message_before
            break
        except Exception as error:  # the website is unavailable: wait and try again
            if attempt == REPORT_ROUNDS:
                run.message = (f"{message_before + ' ' if message_before else ''}The website "
                               f"could not be told: {_first_line(error)}")
                context.set_custom_status(run.progress())
                raise
            run.message = f"waiting to report to the website (attempt {attempt}): " \
                          f"{_first_line(error)}"
            context.set_custom_status(run.progress())
            yield context.create_timer(context.current_utc_datetime + wait)
            wait = min(wait * 2, REPORT_LONGEST_WAIT)
    if run.report is not None and run.report.status == "stale":
        run.message = (f"{run.message + ' ' if run.message else ''}The website has a newer "
                       "attempt for this delivery; this result was not recorded.")
    elif run.report is not None and run.report.status == "refused":
        # waiting will not change the website's answer: a person must fix a setting, then
        # re-send the stored result
        run.phase = "unreported"
        run.message = (f"{message_before + ' ' if message_before else ''}The website could not "
                       f"be told: {run.report.website_message}")
    context.set_custom_status(run.progress())


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    # the Durable SDK joins an activity failure's reason and details: keep the reason
    return text.splitlines()[0] if text else type(error).__name__
