"""How a delivery ends (the `delivery` orchestrator's last steps, deterministic): tell the
receiver once, while it is down wait longer and try again; a failed attempt's clean-up first
and what it left; a sealed folder's re-verification reported again or refused; after an
acknowledged report, the source removed when the delivery moves it."""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from orchestrators.steps import Outcome, Steps, call, first_line, wait_out
from shared.core.activities import Activity
from shared.core.messages import (
    CleanupOutcome,
    ManifestInput,
    MoveInput,
    PlanInput,
    ReportInput,
    SourceMoved,
)
from shared.core.models import ManifestOutcome, ReportOutcome
from shared.core.outage import OutageRetry
from shared.core.run import DeliveryRun

# after the report activity's own quick retries: wait 1, 2, 4, ... 60 minutes, ~2 days in all
REPORT_ROUNDS = 50
REPORT_FIRST_WAIT = timedelta(minutes=1)
REPORT_LONGEST_WAIT = timedelta(minutes=60)


def move_source(context: df.DurableOrchestrationContext, run: DeliveryRun,
                retry: OutageRetry) -> Steps[None]:
    """Delivered and acknowledged: delete the source folder's planned files, a few pages a
    call. What could not be deleted is the operators' to know; the delivery stays delivered."""
    assert run.plan is not None
    delivered_phase = run.phase
    run.phase = "moving-source"
    context.set_custom_status(run.progress())
    moved = SourceMoved(next_page=0)
    try:
        while moved.next_page is not None and moved.refusal is None:
            part = yield from wait_out(context, Activity.MOVE_SOURCE, MoveInput(
                request=run.request, run_id=run.run_id, chunk_count=run.plan.chunk_count,
                first_page=moved.next_page), SourceMoved, retry, run)
            moved = moved.add(part)
            run.moved = moved
            context.set_custom_status(run.progress())
    except Exception as error:
        moved = moved.model_copy(update={"refusal": f"the source could not all be removed "
                                                    f"({first_line(error)})"})
        run.moved = moved
    run.phase = delivered_phase
    if moved.refusal is not None or moved.files_kept or moved.files_left:
        run.phase = "delivered-source-kept"
        run.message = ((run.message + " ") if run.message else "") + (
            f"Removed {moved.files_removed} of {run.plan.files} source files; "
            f"{_what_stayed(moved)}.")
    else:
        run.message = ((run.message + " ") if run.message else "") + (
            f"The source folder was removed ({moved.files_removed} files"
            + (f", {moved.folders_removed} folder(s)" if moved.folders_removed else "") + ").")


def _what_stayed(moved: SourceMoved) -> str:
    """Why the source folder is not gone: the move's refusal, the files kept as changed since
    they were delivered, the files still there (also those added since the plan)."""
    said = [moved.refusal] if moved.refusal is not None else []
    if moved.files_kept:
        said.append(f"{moved.files_kept} changed since they were delivered and were kept: "
                    f"{', '.join(failure.path for failure in moved.kept)}")
    if moved.files_left:
        said.append(f"the source folder still holds {moved.files_left} file(s): "
                    f"{', '.join(moved.left)}")
    return "; ".join(said)


def phase_from_report(run: DeliveryRun) -> None:
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
    elif run.report.status in ("recorded", "already-recorded", "operators-only"):
        run.phase = "delivered"


def fail(context: df.DurableOrchestrationContext, run: DeliveryRun, failure: str,
         retry: OutageRetry) -> Steps[Outcome]:
    """Remove what this attempt wrote (waited out through an outage), then tell the website
    once: what failed, what is left in the destination, and what a restart will do."""
    run.phase = "removing-partial-copy"
    run.message = failure
    context.set_custom_status(run.progress())
    try:
        cleanup = yield from wait_out(
            context, Activity.DISCARD_PARTIAL_DELIVERY,
            PlanInput(request=run.request, run_id=run.run_id, options=run.options),
            CleanupOutcome,
            retry.for_cleanup(), run)
        after = after_cleanup(run, cleanup)
    except Exception as error:
        after = (f" What this attempt wrote to {run.request.sink_folder} could not be removed "
                 f"({first_line(error)}); the website's restart of the delivery takes the "
                 "folder over, checks what is there and copies the rest.")
    run.phase = "failed"
    run.message = failure + after
    yield from report(context, run, error_message=run.message)
    return run.outcome()


def after_cleanup(run: DeliveryRun, cleanup: CleanupOutcome) -> str:
    folder = run.request.sink_folder
    if cleanup.untouched is not None:
        return f" Nothing was removed from {folder}: {cleanup.untouched}."
    if cleanup.left:
        return (f" This attempt removed what it wrote; {cleanup.left} file(s) it did not write "
                f"(an earlier attempt's) are still in {folder}: the website's restart of the "
                "delivery takes them over, checks them and copies the rest.")
    return (" Nothing of this attempt is left in the destination; the website's restart of "
            "the delivery starts it again.")


def report_sealed(context: df.DurableOrchestrationContext, run: DeliveryRun,
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
        yield from report(context, run, error_message=run.message)
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
        yield from report(context, run, error_message=run.message)
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
    yield from report(context, run, error_message=None)
    phase_from_report(run)
    return run.outcome()


def report(context: df.DurableOrchestrationContext, run: DeliveryRun,
           error_message: str | None) -> Steps[None]:
    """POST the result to the website once; while it is down, wait longer and try again."""
    context.set_custom_status(run.progress())
    message_before = run.message
    wait = REPORT_FIRST_WAIT
    for attempt in range(1, REPORT_ROUNDS + 1):
        try:
            run.report = yield from call(
                context, Activity.REPORT_TO_WEBSITE,
                ReportInput(request=run.request, run_id=run.run_id, error_message=error_message,
                            receiver=run.options.receiver),
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
