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

import azure.durable_functions as df

from orchestrators import ending, steps
from orchestrators.steps import Outcome, Steps, as_model, first_line, wait_out
from shared.core.activities import Activity
from shared.core.copy_window import CopyWindow, Slot, WindowInput, WindowMeasure
from shared.core.messages import (
    AccessInput,
    AccessOutcome,
    ChunkInput,
    FailuresInput,
    FailuresRecorded,
    FoldersInput,
    FoldersOutcome,
    ManifestInput,
    PlanInput,
    SealInput,
)
from shared.core.models import (
    ACKNOWLEDGED,
    ChunkResult,
    ManifestOutcome,
    Plan,
    SealedDelivery,
)
from shared.core.outage import OutageRetry
from shared.core.run import DeliveryRun
from shared.core.status import MESSAGE_CHARS, cut_end

NAME = "delivery"
bp = df.Blueprint()

# unit ends, retries and progress ticks in one generation: its history stays bounded
GENERATION_EVENTS = 64



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
                PlanInput(request=run.request, run_id=run.run_id, options=run.options), Plan,
                retry, run)
            if run.plan.refusal:
                run.phase, run.message = "refused", run.plan.refusal
                yield from ending.report(context, run, error_message=run.plan.refusal)
                return run.outcome()

        if not run.copying_done:
            run.phase = "copying" if run.plan.sealed is None else "verifying"
            run.failure = yield from _copy_window(context, run, retry)
            if run.failure is None:
                # every generation ends here: the next one starts with a two-event history
                context.continue_as_new(run.to_json())
                return None

        if run.plan.sealed is not None:
            return (yield from ending.report_sealed(context, run, retry))

        failure = run.failure or run.totals.failure_message()
        if failure:
            if run.totals.failed_files:
                yield from wait_out(context, Activity.RECORD_FAILURES, FailuresInput(
                    run_id=run.run_id, chunk_count=run.plan.chunk_count), FailuresRecorded,
                    retry, run)
            return (yield from ending.fail(context, run, failure, retry))

        run.phase = "creating-folders"
        context.set_custom_status(run.progress())
        yield from wait_out(context, Activity.CREATE_FOLDERS, FoldersInput(
            request=run.request, run_id=run.run_id, folder_pages=run.plan.folder_pages),
            FoldersOutcome, retry, run)
        run.phase = "writing-manifest"
        context.set_custom_status(run.progress())
        run.manifest = yield from wait_out(context, Activity.WRITE_MANIFEST, ManifestInput(
            request=run.request, run_id=run.run_id, chunk_count=run.plan.chunk_count,
            options=run.options, holds_claim=run.plan.holds_claim), ManifestOutcome, retry, run)
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
        # (a delivery adding to a folder another delivery holds leaves that one's seal)
        if run.plan.holds_claim:
            run.phase = "sealing"
            context.set_custom_status(run.progress())
            yield from wait_out(context, Activity.SEAL_DELIVERY, SealInput(
                request=run.request, run_id=run.run_id, files=run.totals.verified_files,
                bytes=run.totals.verified_bytes), SealedDelivery, retry, run)
        run.sealed = True
        run.phase = "reporting"
        yield from ending.report(context, run, error_message=None)
        ending.phase_from_report(run)
        if run.options.move_source and run.report is not None \
                and run.report.status in ACKNOWLEDGED:
            yield from ending.move_source(context, run, retry)
        return run.outcome()
    except Exception as error:  # an activity failed after its outage window
        if run.sealed or run.phase in ("reporting", "refused", "failed", "stale"):
            # the copy is done and sealed (or was never started): only telling the website
            # failed, and the stored callback body can be re-sent; never remove delivered data
            raise
        return (yield from ending.fail(
            context, run, f"The transfer failed and was stopped: {first_line(error)}.", retry))


def _copy_window(context: df.DurableOrchestrationContext, run: DeliveryRun,
                 retry: OutageRetry) -> Steps[str | None]:
    """Run the copy window (`shared.core.copy_window.CopyWindow` decides; this schedules): units'
    activities, their retry timers and the progress ticks, until nothing is in flight and it
    is not waiting for its turn (a share of 0, `CopyWindow.waiting_for_turn`). Returns
    the failure that stopped the copy, or None (then all was started, or the generation is
    over and continues as new).

    The window is this delivery's share of the units in flight among the deliveries copying
    at once: asked for before the first unit starts (and at every generation's start), and
    again at every tick with the measurement; the copy's end gives the share back."""
    window = CopyWindow(run, retry, GENERATION_EVENTS)
    tasks: list[tuple[df.Task, Slot]] = []

    def start(slots: list[Slot]) -> None:
        for slot in slots:
            tasks.append((context.call_activity(
                Activity.COPY_CHUNK.value, ChunkInput(request=run.request, chunk=slot.unit)),
                slot))

    asked = yield from _share(context, window.asking())
    start(window.shared(asked) if asked is not None else window.fill())
    # name the units now, not at the first unit's end: the status endpoint reads the progress
    # of the units the status names (a generation's first units can run for minutes)
    context.set_custom_status(run.progress())
    tick = None
    measuring = None  # the measure_progress activity started at the last tick, until it ends
    # a delivery waiting for its turn (a share of 0) has nothing in flight: it keeps ticking and
    # asking until its share lets units start
    while tasks or window.waiting_for_turn:
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
            measuring = context.call_activity(
                Activity.MEASURE_PROGRESS.value,
                window.asking([slot.unit for slot in window.running]))
            continue
        if measuring is not None and finished is measuring:
            measuring = None
            if not isinstance(finished.result, Exception):  # else the next tick measures
                measured = as_model(WindowMeasure, finished.result)
                run.show_moving(measured.bytes_by_unit)
                start(window.shared(measured))
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
    if run.copying_done or window.failure is not None:
        # the copy is over: the other deliveries may have this one's share at their next ask
        yield from _share(context, window.asking(leaving=True))
    return window.failure


def _share(context: df.DurableOrchestrationContext,
           asking: WindowInput) -> Steps[WindowMeasure | None]:
    """Ask `measure_progress` for this delivery's share (or give it back); None when the
    activity failed: the window stays as it was (storage failing fails the units too, and they
    wait the outage out)."""
    try:
        return (yield from steps.call(context, Activity.MEASURE_PROGRESS, asking, WindowMeasure))
    except Exception:  # an activity's failure, whatever the storage error
        return None
