"""The real `delivery` orchestrator with fake activities, for the end of a delivery that
succeeded: folders, manifest, read grants (in parts, the service's continuation token handed
back each time, or failing when GRANT_FAILS is set), then the report."""

import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

import orchestrators.delivery as delivery_orchestrator
from activities import (
    copy_chunk,
    create_folders,
    discard_partial_delivery,
    grant_access,
    plan_delivery,
    report_to_website,
    seal_delivery,
    write_manifest,
)
from shared.core.messages import (
    AccessInput,
    AccessOutcome,
    ChunkInput,
    CleanupOutcome,
    FoldersInput,
    FoldersOutcome,
    ManifestInput,
    PlanInput,
    ReportInput,
    SealInput,
)
from shared.core.models import (
    AccountKind,
    BlobLocation,
    ChunkResult,
    ManifestOutcome,
    Plan,
    ReportOutcome,
    SealedDelivery,
)
from tests.orchestration.fake_activities import record as record_event

EVENTS = Path(os.environ["GRANT_EVENTS"])
GRANT_FAILS = bool(os.environ.get("GRANT_FAILS"))
CONTINUATIONS = {None: "part-2", "part-2": "part-3", "part-3": None}

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(delivery_orchestrator.bp)


def record(kind: str, **fields) -> None:
    record_event(EVENTS, kind, **fields)


@app.function_name(plan_delivery.NAME)
@app.activity_trigger(input_name="plan_input")
def fake_plan(plan_input: PlanInput) -> Plan:
    return Plan(run_id=plan_input.run_id, files=1, bytes=1, chunk_count=1, folders=3,
                folder_pages=1)


@app.function_name(copy_chunk.NAME)
@app.activity_trigger(input_name="chunk_input")
def fake_copy_chunk(chunk_input: ChunkInput) -> ChunkResult:
    return ChunkResult(index=0, files=1, bytes=1, verified_files=1, verified_bytes=1,
                       failed_files=0)


@app.function_name(create_folders.NAME)
@app.activity_trigger(input_name="folders_input")
def fake_create_folders(folders_input: FoldersInput) -> FoldersOutcome:
    record("folders-created", pages=folders_input.folder_pages)
    return FoldersOutcome(kind=AccountKind.HIERARCHICAL, folders=4, created=4)


@app.function_name(write_manifest.NAME)
@app.activity_trigger(input_name="manifest_input")
def fake_manifest(manifest_input: ManifestInput) -> ManifestOutcome:
    record("manifest-written")
    where = BlobLocation(account="labsmith", container="incoming", path="m")
    return ManifestOutcome(file_count=1, folder_count=3, total_size=1, manifest=where,
                           checksums=where, callback=where, callback_bytes=10, truncated=False)


@app.function_name(grant_access.NAME)
@app.activity_trigger(input_name="access_input")
def fake_grant(access_input: AccessInput) -> AccessOutcome:
    record("granted", continuation=access_input.continuation)
    if GRANT_FAILS:
        raise RuntimeError("HTTP 403 AuthorizationPermissionMismatch")
    return AccessOutcome(readers=2, directories=1, files=1,
                         continuation=CONTINUATIONS[access_input.continuation])


@app.function_name(seal_delivery.NAME)
@app.activity_trigger(input_name="seal_input")
def fake_seal(seal_input: SealInput) -> SealedDelivery:
    record("sealed")
    return SealedDelivery(run_id=seal_input.run_id, files=seal_input.files)


@app.function_name(discard_partial_delivery.NAME)
@app.activity_trigger(input_name="discard_input")
def fake_discard(discard_input: PlanInput) -> CleanupOutcome:
    record("discarded")
    return CleanupOutcome(removed=1)


@app.function_name(report_to_website.NAME)
@app.activity_trigger(input_name="report_input")
def fake_report(report_input: ReportInput) -> ReportOutcome:
    record("reported", error_message=report_input.error_message)
    return ReportOutcome(status="recorded", http_status=200, attempts=1)
