"""The `delivery` orchestrator: plan, copy and verify by work units, write the manifest, seal the
folder, report.

Deterministic: no I/O, clock or randomness here; activities do the work, and the copy window's
decisions are plain Python (`shared.core.copy_window`). Copying keeps `DDD_PARALLEL_CHUNKS` work
units in flight (a sliding window: the next starts as one ends, and the status moves at every end
and every `DDD_PROGRESS_SECONDS` while units run). A generation ends with continue-as-new after
`GENERATION_EVENTS` unit ends, retries and ticks, so one generation's history is bounded
whatever the number of files or their size.

Storage that fails is waited out, not turned into a failure: every activity that touches
storage is tried again after a durable timer, with capped backoff, until the outage window
(`DDD_OUTAGE_WAIT_MINUTES`) since its first failure is over (`shared.core.outage`). A failed
attempt's clean-up is waited out four times as long; the website hears once, after it, what is
left in the destination and what a restart will do.

A delivery whose folder was delivered before (sealed) is only verified against the source and
reported again; nothing is written there. No SAS, key or token is ever an input, output or
status here. A delivery that failed, was refused or went stale tells the website once and then
ends with runtime status Failed (its custom status keeps the counts), so the portal's Failed
view and alerts see it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators import steps
from orchestrators.steps import Steps, as_model, call, first_line, wait_out
from shared.core.activities import Activity
from shared.core.copy_window import CopyWindow, Slot
from shared.core.messages import (
    AccessInput,
    AccessOutcome,
    ChunkInput,
    CleanupOutcome,
    FailuresInput,
    FailuresRecorded,
    FoldersInput,
    FoldersOutcome,
    ManifestInput,
    PlanInput,
    ProgressInput,
    ReportInput,
    SealInput,
    UnitsMoving,
)
from shared.core.models import ChunkResult, ManifestOutcome, Plan, ReportOutcome, SealedDelivery
from shared.core.outage import OutageRetry
from shared.core.run import DeliveryRun
from shared.core.status import MESSAGE_CHARS, cut_end

NAME = "delivery"
bp = df.Blueprint()

# after the report activity's own quick retries: wait 1, 2, 4, ... 60 minutes, ~2 days in all
REPORT_ROUNDS = 50
REPORT_FIRST_WAIT = timedelta(minutes=1)
REPORT_LONGEST_WAIT = timedelta(minutes=60)
# unit ends, retries and progress ticks in one generation: its history stays bounded
GENERATION_EVENTS = 64


# the orchestration's output: the final progress, where the manifest went, the report
Outcome = dict[str, Any]


class DeliveryEndedBadly(Exception):
    """Raised once the website knows, so that the instance ends Failed with this message."""


@bp.orchestration_trigger(context_name="context", orchestration=NAME)
def delivery(context: df.DurableOrchestrationContext) -> Steps[Outcome | None]:
    run = DeliveryRun.from_json(context.get_input())
    try:
        outcome = yield from _deliver(context, run)
    except Exception as error:
        yield from steps.notify_operators(context, run, error)
        raise
    if outcome is not None:  # the end, not a wave's continue-as-new
        yield from steps.notify_operators(context, run)
    if run.ended_badly:
        context.set_custom_status(run.progress())
        raise DeliveryEndedBadly(cut_end(run.message or run.phase, MESSAGE_CHARS))
    return outcome


def _deliver(context: df.DurableOrchestrationContext, run: DeliveryRun) -> Steps[Outcome | None]:
    retry = OutageRetry(window=timedelta(seconds=run.outage_wait_seconds))
    try:
        if run.plan is None:
            run.phase = "planning"
            context.set_custom_status(run.progress())
            run.plan = yield from wait_out(
                context, Activity.PLAN_DELIVERY,
                PlanInput(request=run.request, run_id=run.run_id), Plan, retry, run)
            if run.plan.refusal:
                run.phase, run.message = "refused", run.plan.refusal
                yield from _report(context, run, error_message=run.plan.refusal)
                return run.outcome()

        if not run.copying_done:
            run.phase = "copying" if run.plan.sealed is None else "verifying"
            run.failure = yield from _copy_window(context, run, retry)
            if run.failure is None:
                # every generation ends here: the next one starts with a two-event history
                context.continue_as_new(run.to_json())
                return None

        if run.plan.sealed is not None:
            return (yield from _report_sealed(context, run, retry))

        failure = run.failure or run.totals.failure_message()
        if failure:
            if run.totals.failed_files:
                yield from wait_out(context, Activity.RECORD_FAILURES, FailuresInput(
                    run_id=run.run_id, chunk_count=run.plan.chunk_count), FailuresRecorded,
                    retry, run)
            return (yield from _fail(context, run, failure, retry))

        run.phase = "creating-folders"
        context.set_custom_status(run.progress())
        yield from wait_out(context, Activity.CREATE_FOLDERS, FoldersInput(
            request=run.request, run_id=run.run_id, folder_pages=run.plan.folder_pages),
            FoldersOutcome, retry, run)
        run.phase = "writing-manifest"
        context.set_custom_status(run.progress())
        run.manifest = yield from wait_out(context, Activity.WRITE_MANIFEST, ManifestInput(
            request=run.request, run_id=run.run_id, chunk_count=run.plan.chunk_count),
            ManifestOutcome, retry, run)
        # read access on the delivered folder, when configured: after every file is verified,
        # before the website is told; each call does a bounded part and says where to go on
        run.phase = "granting-access"
        context.set_custom_status(run.progress())
        access = AccessInput(request=run.request)
        while True:
            granted = yield from wait_out(context, Activity.GRANT_ACCESS, access, AccessOutcome,
                                          retry, run)
            if granted.continuation is None:
                break
            access = AccessInput(request=run.request, continuation=granted.continuation)
        # sealed before the website hears: from now on nothing removes or replaces these files
        run.phase = "sealing"
        context.set_custom_status(run.progress())
        yield from wait_out(context, Activity.SEAL_DELIVERY, SealInput(
            request=run.request, run_id=run.run_id, files=run.totals.verified_files,
            bytes=run.totals.verified_bytes), SealedDelivery, retry, run)
        run.sealed = True
        run.phase = "reporting"
        yield from _report(context, run, error_message=None)
        _phase_from_report(run)
        return run.outcome()
    except Exception as error:  # an activity failed after its outage window
        if run.sealed or run.phase in ("reporting", "refused", "failed", "stale"):
            # the copy is done and sealed (or was never started): only telling the website
            # failed, and the stored callback body can be re-sent; never remove delivered data
            raise
        return (yield from _fail(
            context, run, f"The transfer failed and was stopped: {first_line(error)}.", retry))


def _phase_from_report(run: DeliveryRun) -> None:
    if run.report is None:
        return
    if run.report.status == "stale":
        run.phase = "stale"
    elif run.report.status == "recorded-after-error":
        run.phase = "delivered-website-error"
        run.message = ((run.message + " ") if run.message else "") + (
            "The website answered an error (HTTP 5xx) when it was told, then said it had "
            "recorded the result: it may not have e-mailed the recipients. Check the "
            "delivery on the website and tell the recipients if need be.")
    elif run.report.status in ("recorded", "already-recorded"):
        run.phase = "delivered"


def _copy_window(context: df.DurableOrchestrationContext, run: DeliveryRun,
                 retry: OutageRetry) -> Steps[str | None]:
    """Run the copy window (`shared.core.copy_window.CopyWindow` decides; this schedules): units'
    activities, their retry timers and the progress ticks, until nothing is in flight. Returns
    the failure that stopped the copy, or None (then all was started, or the generation is
    over and continues as new)."""
    window = CopyWindow(run, retry, GENERATION_EVENTS)
    tasks: list[tuple[df.Task, Slot]] = []

    def start(slots: list[Slot]) -> None:
        for slot in slots:
            tasks.append((context.call_activity(
                Activity.COPY_CHUNK.value, ChunkInput(request=run.request, chunk=slot.unit)),
                slot))

    start(window.fill())
    # name the units now, not at the first unit's end: the status endpoint reads the progress
    # of the units the status names (a generation's first units can run for minutes)
    context.set_custom_status(run.progress())
    tick = None
    measuring = None  # the measure_progress activity started at the last tick, until it ends
    while tasks:
        if tick is None and measuring is None:
            # while units run, read how far they have got (they write it 3 times as often)
            tick = context.create_timer(context.current_utc_datetime
                                        + timedelta(seconds=run.progress_seconds))
        waiting = [task for task, _ in tasks] + [tick or measuring]
        finished = yield context.task_any(waiting)
        if finished is tick:
            # measured beside the units, never awaited alone: a unit's end is handled (and
            # shown) while the measurement waits for an activity slot behind queued units
            window.ticked()
            tick = None
            measuring = context.call_activity(Activity.MEASURE_PROGRESS.value, ProgressInput(
                run_id=run.run_id, units=[slot.unit for slot in window.running]))
            continue
        if measuring is not None and finished is measuring:
            measuring = None
            if not isinstance(finished.result, Exception):  # else the next tick measures
                run.show_moving(as_model(UnitsMoving, finished.result).bytes_by_unit)
            context.set_custom_status(run.progress())
            continue
        position = next(at for at, (task, _) in enumerate(tasks) if task is finished)
        _, slot = tasks.pop(position)
        if slot.waiting:  # its retry timer fired: the unit runs again
            window.retry_due(slot)
            start([slot])
        elif isinstance(finished.result, Exception):
            retry_at = window.failed(slot, first_line(finished.result),
                                     context.current_utc_datetime)
            if retry_at is not None:
                tasks.append((context.create_timer(retry_at), slot))
        else:
            start(window.ended(slot, as_model(ChunkResult, finished.result)))
        if window.failure is not None:  # no copy lands after the clean-up: drop the retries
            for dropped in window.dropped_waiting():
                timer, _ = tasks.pop(next(at for at, (_, waiting) in enumerate(tasks)
                                          if waiting is dropped))
                timer.cancel()
        context.set_custom_status(run.progress())
    if tick is not None:
        tick.cancel()
    return window.failure


def _fail(context: df.DurableOrchestrationContext, run: DeliveryRun, failure: str,
          retry: OutageRetry) -> Steps[Outcome]:
    """Remove what this attempt wrote (waited out through an outage), then tell the website
    once: what failed, what is left in the destination, and what a restart will do."""
    run.phase = "removing-partial-copy"
    run.message = failure
    context.set_custom_status(run.progress())
    try:
        cleanup = yield from wait_out(
            context, Activity.DISCARD_PARTIAL_DELIVERY,
            PlanInput(request=run.request, run_id=run.run_id), CleanupOutcome,
            retry.for_cleanup(), run)
        after = _after_cleanup(run, cleanup)
    except Exception as error:
        after = (f" What this attempt wrote to {run.request.sink_folder} could not be removed "
                 f"({first_line(error)}); the website's restart of the delivery takes the "
                 "folder over, checks what is there and copies the rest.")
    run.phase = "failed"
    run.message = failure + after
    yield from _report(context, run, error_message=run.message)
    return run.outcome()


def _after_cleanup(run: DeliveryRun, cleanup: CleanupOutcome) -> str:
    folder = run.request.sink_folder
    if cleanup.untouched is not None:
        return f" Nothing was removed from {folder}: {cleanup.untouched}."
    if cleanup.left:
        return (f" This attempt removed what it wrote; {cleanup.left} file(s) it did not write "
                f"(an earlier attempt's) are still in {folder}: the website's restart of the "
                "delivery takes them over, checks them and copies the rest.")
    return (" Nothing of this attempt is left in the destination; the website's restart of "
            "the delivery starts it again.")


def _report_sealed(context: df.DurableOrchestrationContext, run: DeliveryRun,
                   retry: OutageRetry) -> Steps[Outcome]:
    """A folder delivered before: verified against the source now. All there as delivered:
    report the delivery again (nothing written there); else refuse, naming what changed."""
    assert run.plan is not None and run.plan.sealed is not None
    sealed = run.plan.sealed
    when = sealed.delivered_on()
    if run.failure is not None:
        run.phase = "failed"
        run.message = (f"{run.failure} Nothing was written to the delivered folder "
                       f"{run.request.sink_folder}.")
        yield from _report(context, run, error_message=run.message)
        return run.outcome()
    changed = run.totals.failure_message()
    if changed is None and sealed.files is not None and sealed.files != run.plan.files:
        changed = (f"the source holds {run.plan.files} files, {sealed.files} were delivered "
                   "(files were added or removed since)")
    if changed is not None:
        run.phase = "refused"
        run.message = (f"Delivery {run.request.delivery_id} was delivered to "
                       f"{run.request.sink_folder} on {when}, and its source has changed since: "
                       f"{changed} The delivered folder was left as it is; to deliver the new "
                       "version, deliver it to another folder.")
        yield from _report(context, run, error_message=run.message)
        return run.outcome()
    run.phase = "writing-manifest"
    context.set_custom_status(run.progress())
    run.manifest = yield from wait_out(context, Activity.WRITE_MANIFEST, ManifestInput(
        request=run.request, run_id=run.run_id, chunk_count=run.plan.chunk_count, sealed=True),
        ManifestOutcome, retry, run)
    run.sealed = True
    run.message = (f"Already delivered on {when}; every file there was verified against the "
                   "source again and the manifest sent again. Nothing was copied.")
    run.phase = "reporting"
    yield from _report(context, run, error_message=None)
    _phase_from_report(run)
    return run.outcome()


def _report(context: df.DurableOrchestrationContext, run: DeliveryRun,
            error_message: str | None) -> Steps[None]:
    """POST the result to the website once; while it is down, wait longer and try again."""
    context.set_custom_status(run.progress())
    message_before = run.message
    wait = REPORT_FIRST_WAIT
    for attempt in range(1, REPORT_ROUNDS + 1):
        try:
            run.report = yield from call(
                context, Activity.REPORT_TO_WEBSITE,
                ReportInput(request=run.request, run_id=run.run_id, error_message=error_message),
                ReportOutcome)
            run.message = message_before
            break
        except Exception as error:  # the website is unavailable: wait and try again
            if attempt == REPORT_ROUNDS:
                run.message = (f"{message_before + ' ' if message_before else ''}The website "
                               f"could not be told: {first_line(error)}")
                context.set_custom_status(run.progress())
                raise
            run.message = f"waiting to report to the website (attempt {attempt}): " \
                          f"{first_line(error)}"
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
