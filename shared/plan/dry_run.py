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
the tally stops the listing once it passes that many files (`ListingTooLong`), and with a
`Deadline` once that has passed (`DeadlinePassed`, checked at every file listed): the HTTP
endpoint answers small folders at once and hands larger or slower ones to the `dry_run`
orchestration.
"""

from __future__ import annotations

import hashlib
import json

from shared.core.config import Settings
from shared.core.deadline import Deadline
from shared.core.instances import instance_id_for
from shared.core.messages import (
    DestinationOutlook,
    DryRunReport,
    LargestFile,
    MoveOutlook,
    PolicyOutlook,
)
from shared.core.models import BlobLocation, FileEntry
from shared.core.naming import RESERVED_FOLDER
from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest
from shared.plan.planner import build_plan
from shared.storage.clients import list_folder_files, md5_hex_of, shared_clients
from shared.storage.work import WorkStore, plan_page_name, plan_pages_prefix

DRY_RUN_PREFIX = "dryrun-"


class ListingTooLong(Exception):
    """The folder holds more files than a dry run answers while the caller waits."""


def dry_run_id_for(request: DeliveryRequest, options: DeliveryOptions | None = None) -> str:
    """One dry run id per (delivery id, transfer UUID) and options, apart from the delivery's
    own ids (a new attempt of a delivery stops only `delivery-...` instances)."""
    run_id = DRY_RUN_PREFIX + instance_id_for(request).removeprefix("delivery-")
    if options is None or options == DeliveryOptions():
        return run_id
    chosen = json.dumps(options.to_json(), sort_keys=True).encode()
    return f"{run_id}-{hashlib.sha256(chosen).hexdigest()[:8]}"


class _Tally:
    """The largest of the planned files, as the planner lists them."""

    def __init__(self, max_files: int | None, deadline: Deadline) -> None:
        self.max_files = max_files
        self.deadline = deadline
        self.files = 0
        self.largest: FileEntry | None = None

    def __call__(self, entry: FileEntry) -> None:
        self.deadline.check()
        self.files += 1
        if self.max_files is not None and self.files > self.max_files:
            raise ListingTooLong(f"more than {self.max_files} files")
        if self.largest is None or entry.size > self.largest.size:
            self.largest = entry


def dry_run(request: DeliveryRequest, run_id: str, settings: Settings, *,
            max_files: int | None = None,
            options: DeliveryOptions | None = None,
            deadline: Deadline | None = None) -> DryRunReport:
    """The delivery's plan without the delivery (see module doc). Raises ListingTooLong past
    `max_files`, DeadlinePassed past `deadline`, and transient storage errors as the planner
    does. With `options`: what its conflict policy would do with the files there, and what a
    move would delete."""
    options = options or DeliveryOptions()
    deadline = deadline or Deadline.unbounded()
    deadline.check()
    tally = _Tally(max_files, deadline)
    plan = build_plan(request, run_id, settings, policy=options.conflict_policy, dry_run=True,
                      observe=tally)
    deadline.check()
    conflict = plan.destination_conflict
    adds_to = options.looks_first and conflict is None and not plan.storage_problem
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
            adopts_from=plan.adopted_from, delivered=plan.sealed, conflict=conflict,
            adds_to=adds_to),
        refusal=plan.refusal,
        file_list=BlobLocation(account=settings.work_account, container=settings.work_container,
                               path=plan_pages_prefix(run_id) + "/") if plan.chunk_count else None,
        options=options,
        policy_outlook=(policy_outlook(request, run_id, plan.chunk_count, settings, deadline)
                        if adds_to else None),
        move=MoveOutlook(folder=BlobLocation(account=request.source_account,
                                             container=request.source_container,
                                             path=request.source_folder),
                         files=plan.files, bytes=plan.bytes)
        if options.move_source and plan.refusal is None else None,
    )


def policy_outlook(request: DeliveryRequest, run_id: str, chunk_count: int,
                   settings: Settings, deadline: Deadline | None = None) -> PolicyOutlook:
    """The destination folder's files now against the plan's pages: which the delivery would
    keep, copy, compare or replace, and which it would list as present, not delivered (the
    deadline checked at every file listed and every page read)."""
    deadline = deadline or Deadline.unbounded()
    clients = shared_clients(settings)
    sink = clients.sink(request.sink_account, request.sink_container)
    folder = request.sink_folder + "/"
    present: dict[str, tuple[int, str | None]] = {}
    for blob in list_folder_files(sink, request.sink_folder):
        deadline.check()
        if not blob.name.startswith(folder + RESERVED_FOLDER + "/"):
            present[blob.name[len(folder):]] = (blob.size, md5_hex_of(blob.content_settings))
    counts = {"verified_there": 0, "missing": 0, "differing": 0, "compared_when_copied": 0}
    work = WorkStore(clients)
    for page in range(chunk_count):
        deadline.check()
        for record in work.read_lines(plan_page_name(run_id, page)):
            entry = FileEntry.model_validate(record)
            there = present.pop(entry.path, None)
            if there is None:
                counts["missing"] += 1
            elif entry.content_md5 is None:
                counts["compared_when_copied"] += 1
            elif there == (entry.size, entry.content_md5):
                counts["verified_there"] += 1
            else:
                counts["differing"] += 1
    return PolicyOutlook(**counts, present_not_delivered=len(present))
