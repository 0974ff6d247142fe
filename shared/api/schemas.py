"""The bodies the app's HTTP API answers, and the callback it POSTs, as pydantic models: the
source of the OpenAPI document's schemas (`shared.api.openapi`). The endpoints build these bodies
as plain JSON; tests validate real answers against the schemas made from these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Schema(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldProblem(_Schema):
    field: str = Field(description="The request's field (the website's key), or 'body'.")
    message: str


class ErrorAnswer(_Schema):
    """Every 4xx (and the 5xx of a misconfigured app): what is wrong, by field when it can."""

    error: str
    errors: list[FieldProblem] | None = None


class StartAccepted(_Schema):
    id: str = Field(description="The delivery's id: delivery-<delivery id>-<transfer uuid>.")
    deliveryStatusUri: str = Field(description="GET it (with a key) for the delivery's status.")


class Counts(_Schema):
    files: int | None = None
    bytes: int | None = None
    chunks: int | None = None


class FileProblem(_Schema):
    path: str
    reason: str


class OperatorAction(_Schema):
    """An operator's cancel or resend of a delivery, as its orchestration shows it."""

    runtimeStatus: str | None = None
    createdTime: str | None = None
    lastUpdatedTime: str | None = None
    action: str | None = None
    phase: str | None = None
    report: dict[str, Any] | None = None


class DeliveryStatus(_Schema):
    """GET /api/deliveries/{id}."""

    id: str | None
    runtimeStatus: str | None = Field(description="Pending, Running, Completed, Failed or "
                                                  "Terminated (the Durable runtime status).")
    phase: str | None = Field(description="planning, copying, verifying (a folder delivered "
                                          "before), creating-folders, writing-manifest, "
                                          "granting-access, sealing, reporting, "
                                          "moving-source, delivered, delivered-source-kept, "
                                          "delivered-website-error, refused, "
                                          "removing-partial-copy, failed, stale, unreported "
                                          "or cancelled.")
    createdTime: str | None
    lastUpdatedTime: str | None
    planned: Counts
    copied: Counts
    verified: Counts
    failed: Counts
    failures: list[FileProblem] = Field(description="The first failed files (all of them once "
                                                    "it has ended).")
    message: str | None
    manifest: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    error: Any = None
    failures_list: dict[str, Any] | None = None
    options: dict[str, Any] | None = Field(None, description="An operator's or a standing "
                                           "rule's choices: conflict_policy, move_source, told "
                                           "(website, webhook, operators), rule.")
    sourceRemoved: dict[str, Any] | None = Field(None, description="A move: the source files "
                                                 "removed, their bytes, the files kept "
                                                 "(changed since they were delivered) and "
                                                 "the files the source folder still holds.")
    operatorActions: dict[str, OperatorAction] = Field(default_factory=dict)


class DeliverySummary(_Schema):
    id: str | None
    runtimeStatus: str | None
    phase: str | None
    delivery_id: int | str | None
    transfer_uuid: str | None
    createdTime: str | None
    lastUpdatedTime: str | None
    planned: Counts
    verified: Counts
    failed: Counts
    message: str | None


class DeliveryList(_Schema):
    """GET /api/deliveries (admin key): one page."""

    deliveries: list[DeliverySummary]
    continuationToken: str | None = Field(description="Give it back for the next page.")
    next: str | None = Field(description="The next page's URL (without a key), or null.")


class ActionAccepted(_Schema):
    id: str
    actionId: str = Field(description="The action's orchestration: cancel-<id> or resend-<id>.")
    deliveryStatusUri: str


class ContentSettings(_Schema):
    content_type: str | None = None
    content_md5: str | None = Field(None, description="Lowercase hex MD5 of the bytes.")


class ManifestEntry(_Schema):
    """One path of the manifest, with the ADLS Gen2 property names the website reads."""

    name: str = Field(description="The full path in the file system.")
    is_directory: bool
    content_length: int | None = None
    last_modified: str | None = None
    etag: str | None = None
    content_settings: ContentSettings | None = None


class TransferResult(_Schema):
    """The callback the app POSTs to the website's /api/v2/az-transfers/ (Authorization:
    Token ...): a manifest on success, an error_message on failure."""

    transfer_uuid: str
    delivery_id: int | str
    manifest: list[ManifestEntry] | dict[str, Any] | None = Field(
        None, description="The manifest: a list of paths (a compact document when the full "
                          "list is over the body limit).")
    error_message: str | None = None


class DryRunAnswer(_Schema):
    """POST /api/dry-runs (200 with the result at once, or 202 with its status URL) and
    GET /api/dry-runs/{id}."""

    id: str
    runtimeStatus: str | None = None
    dryRunStatusUri: str | None = None
    createdTime: str | None = None
    lastUpdatedTime: str | None = None
    result: dict[str, Any] | None = Field(None, description="A DryRunReport once done.")
    error: Any = None


class ShareAnswer(_Schema):
    """POST /api/shares (201): the share and its two links (in this answer only)."""

    id: str
    expires: str
    script_url: str
    manifest_url: str
    shareStatusUri: str
    share: dict[str, Any] = Field(description="A ShareRecord.")


class ShareRevoked(_Schema):
    """DELETE /api/shares/{id}: the record, and what still works and how to stop it."""

    share: dict[str, Any] = Field(description="A ShareRecord.")
    script_and_manifest: str
    file_links: str


class RuleList(_Schema):
    """GET /api/operator/rules: each standing rule, with the Event Grid filter it needs."""

    rules: list[dict[str, Any]] = Field(description="The rule (name, source, flags, sink, move, "
                                                    "conflict_policy, notify) and event_filter.")


class RuleStart(_Schema):
    rule: str
    run_folder: str
    instance_id: str
    request: dict[str, Any]
    options: dict[str, Any]
    existing: str | None = Field(description="The runtime status of that delivery when it "
                                             "exists (then a flag landing starts nothing).")
    message: str


class RuleTest(_Schema):
    """GET /api/operator/rules/test: what a flag blob at a path would start."""

    starts: RuleStart | None
    message: str | None = None
