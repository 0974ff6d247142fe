"""A dry run: the delivery's own plan, made without claiming or writing the destination.

`dry_run` calls the planner of the real delivery (`shared.plan.planner.build_plan`) with
`dry_run=True`, so its numbers are the delivery's by construction: the same listing, the same
files skipped (ADLS directory markers), the same names refused, the same chunking. The
destination is looked at (free, held by an earlier attempt of the same delivery that the
delivery would take over, or held by something else) but nothing is written there; the plan's
pages (the list of files the delivery would copy, JSON Lines) go to the work container as a
delivery's do, under the dry run's id.

A tally watches the planned files for what the plan itself does not keep: the folders the
delivery creates (counted as the manifest counts them) and the largest file. With `max_files`,
the tally stops the listing once it passes that many files (`ListingTooLong`): the HTTP endpoint
answers small folders at once and hands larger ones to the `dry_run` orchestration.
"""

from __future__ import annotations

from shared.core.config import Settings
from shared.core.instances import instance_id_for
from shared.core.messages import DestinationOutlook, DryRunReport, LargestFile
from shared.core.models import BlobLocation, FileEntry
from shared.core.request import DeliveryRequest
from shared.plan.planner import build_plan
from shared.storage.work import plan_pages_prefix

DRY_RUN_PREFIX = "dryrun-"


class ListingTooLong(Exception):
    """The folder holds more files than a dry run answers while the caller waits."""


def dry_run_id_for(request: DeliveryRequest) -> str:
    """One dry run id per (delivery id, transfer UUID), apart from the delivery's own ids (a
    new attempt of a delivery stops only `delivery-...` instances)."""
    return DRY_RUN_PREFIX + instance_id_for(request).removeprefix("delivery-")


class _Tally:
    """The largest of the planned files, as the planner lists them."""

    def __init__(self, max_files: int | None) -> None:
        self.max_files = max_files
        self.files = 0
        self.largest: FileEntry | None = None

    def __call__(self, entry: FileEntry) -> None:
        self.files += 1
        if self.max_files is not None and self.files > self.max_files:
            raise ListingTooLong(f"more than {self.max_files} files")
        if self.largest is None or entry.size > self.largest.size:
            self.largest = entry


def dry_run(request: DeliveryRequest, run_id: str, settings: Settings, *,
            max_files: int | None = None) -> DryRunReport:
    """The delivery's plan without the delivery (see module doc). Raises ListingTooLong past
    `max_files`, and transient storage errors as the planner does."""
    tally = _Tally(max_files)
    plan = build_plan(request, run_id, settings, dry_run=True, observe=tally)
    conflict = plan.destination_conflict
    return DryRunReport(
        run_id=run_id,
        source=BlobLocation(account=request.source_account, container=request.source_container,
                            path=request.source_folder),
        destination=BlobLocation(account=request.sink_account, container=request.sink_container,
                                 path=request.sink_folder),
        files=plan.files,
        bytes=plan.bytes,
        files_without_md5=plan.files_without_md5,
        folders=plan.folders if plan.files else 0,  # every folder, empty ones too
        largest_file=(LargestFile(path=tally.largest.path, size=tally.largest.size)
                      if tally.largest is not None and plan.files else None),
        work_units=plan.unit_count,
        chunks=plan.chunk_count,
        destination_outlook=DestinationOutlook(
            free=None if plan.storage_problem else conflict is None,
            adopts_from=plan.adopted_from, delivered=plan.sealed, conflict=conflict),
        refusal=plan.refusal,
        file_list=BlobLocation(account=settings.work_account, container=settings.work_container,
                               path=plan_pages_prefix(run_id) + "/") if plan.chunk_count else None,
    )
