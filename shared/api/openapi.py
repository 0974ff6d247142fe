"""The OpenAPI 3.1 description of the app's HTTP API, generated from the pydantic models.

Schemas come from `shared.core.models.DeliveryRequest` (the website's start payload, by its own
key names) and `shared.api.schemas` (answers, and the callback the app POSTs to the website,
described under `webhooks`). Served at GET /api/openapi.json; `make test` validates it with
openapi-spec-validator and checks real answers against its schemas.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from pydantic import BaseModel

from shared.api import schemas as api_schemas
from shared.core.messages import DryRunReport
from shared.core.options import OperatorChoices
from shared.core.request import DeliveryRequest, ShareRequest, SourceFolderRequest
from shared.operations.admin import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, RUNTIME_STATUSES
from shared.operations.share import ShareRecord
from shared.plan.summary import ProjectSummary

REF = "#/components/schemas/{model}"
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "StartPayload": DeliveryRequest,
    "StartAccepted": api_schemas.StartAccepted,
    "ErrorAnswer": api_schemas.ErrorAnswer,
    "DeliveryStatus": api_schemas.DeliveryStatus,
    "DeliveryList": api_schemas.DeliveryList,
    "ActionAccepted": api_schemas.ActionAccepted,
    "TransferResult": api_schemas.TransferResult,
    "DryRunAnswer": api_schemas.DryRunAnswer,
    "DryRunReport": DryRunReport,
    "SummaryPayload": SourceFolderRequest,
    "ProjectSummary": ProjectSummary,
    "SharePayload": ShareRequest,
    "ShareAnswer": api_schemas.ShareAnswer,
    "ShareRecord": ShareRecord,
    "ShareRevoked": api_schemas.ShareRevoked,
    "OperatorChoices": OperatorChoices,
    "RuleList": api_schemas.RuleList,
    "RuleTest": api_schemas.RuleTest,
}
FUNCTION_KEY: list[dict[str, list[str]]] = [{"functionKeyHeader": []}, {"functionKeyQuery": []}]
ADMIN_KEY: list[dict[str, list[str]]] = [{"masterKeyHeader": []}, {"masterKeyQuery": []}]


def _schemas() -> dict[str, Any]:
    """Every model's JSON Schema (2020-12, as OpenAPI 3.1 takes it), nested models included."""
    schemas: dict[str, Any] = {}
    for name, model in SCHEMA_MODELS.items():
        schema = model.model_json_schema(by_alias=True, ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schema["title"] = name
        schemas[name] = schema
    return schemas


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=schema_name)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "A field is not valid; each is named.", 401: "No key, or the wrong one.",
             404: "No such delivery.", 409: "Not now: the answer says why.",
             413: "The body is over 16 KiB.", 415: "The body is not application/json.",
             422: "Valid, but not done within DDD_HTTP_DEADLINE_SECONDS while you wait; the "
                  "answer names the field and what to do instead.",
             503: "Storage is unavailable for now; try again (Retry-After)."}
    answers = {str(status): _json("ErrorAnswer", texts[status]) for status in statuses if
               status != 401}
    if 401 in statuses:
        answers["401"] = {"description": texts[401]}
    return answers


def _id_parameter(what: str = "delivery") -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "description":
            f"The {what}'s id as the create call answered it.",
            "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$"}}


def _body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {
        "schema": {"$ref": REF.format(model=schema_name)}}}}


def _operator_body() -> dict[str, Any]:
    """The website's payload with the operator's choices."""
    return {"required": True, "content": {"application/json": {"schema": {"allOf": [
        {"$ref": REF.format(model="StartPayload")},
        {"$ref": REF.format(model="OperatorChoices")}]}}}}


def _operator_paths() -> dict[str, Any]:
    """An operator's start and the standing rules (admin key)."""
    return {
        "/operator/deliveries": {"post": {
            "operationId": "startOperatorDelivery", "security": ADMIN_KEY,
            "summary": "Start a delivery with an operator's choices: conflict policy, moving "
                       "the source, who is told (admin key).",
            "requestBody": _operator_body(),
            "responses": {"202": _json("StartAccepted", "Started, or already started."),
                          **_errors(400, 401, 409, 413, 415)},
        }},
        "/operator/rules": {"get": {
            "operationId": "listRules", "security": ADMIN_KEY,
            "summary": "The standing rules and their Event Grid filters (admin key).",
            "responses": {"200": _json("RuleList", "The rules."), **_errors(401)},
        }},
        "/operator/rules/test": {"get": {
            "operationId": "testRule", "security": ADMIN_KEY,
            "summary": "What a completion flag at a path would start; starts nothing.",
            "parameters": [{"name": name, "in": "query", "required": True,
                            "schema": {"type": "string"}}
                           for name in ("account", "container", "path")],
            "responses": {"200": _json("RuleTest", "The delivery it would start, or none."),
                          **_errors(400, 401)},
        }},
    }


def _other_paths() -> dict[str, Any]:
    """Dry runs, the project summary and shares."""
    return {
        "/dry-runs": {"post": {
            "operationId": "startDryRun", "security": FUNCTION_KEY,
            "summary": "Plan the website's payload (with an operator's choices, if any) "
                       "without delivering it.",
            "requestBody": _operator_body(),
            "responses": {"200": _json("DryRunAnswer", "Planned at once: the result."),
                          "202": _json("DryRunAnswer", "Planning in the background: more "
                                       "than DDD_DRY_RUN_INSTANT_FILES files, or not planned "
                                       "within DDD_HTTP_DEADLINE_SECONDS."),
                          **_errors(400, 401, 413, 415, 503)},
        }},
        "/dry-runs/{id}": {"get": {
            "operationId": "getDryRun", "security": FUNCTION_KEY,
            "summary": "A background dry run, and its result once done.",
            "parameters": [_id_parameter("dry run")],
            "responses": {"200": _json("DryRunAnswer", "Its state and result."),
                          **_errors(400, 401, 404)},
        }},
        "/summary": {"post": {
            "operationId": "projectSummary", "security": FUNCTION_KEY,
            "summary": "The website's project summary of a source folder.",
            "requestBody": _body("SummaryPayload"),
            "responses": {"200": _json("ProjectSummary", "The summary, by the website's rules."),
                          **_errors(400, 401, 413, 415, 422, 503)},
        }},
        "/shares": {"post": {
            "operationId": "createShare", "security": FUNCTION_KEY,
            "summary": "A pull-mode share of a source folder: read-only links that expire.",
            "requestBody": _body("SharePayload"),
            "responses": {"201": _json("ShareAnswer", "The share and its links."),
                          **_errors(400, 401, 413, 415, 422, 503)},
        }},
        "/shares/{id}": {
            "get": {"operationId": "getShare", "security": FUNCTION_KEY,
                    "summary": "A share's record (no link).",
                    "parameters": [_id_parameter("share")],
                    "responses": {"200": _json("ShareRecord", "The record."),
                                  **_errors(400, 401, 404, 503)}},
            "delete": {"operationId": "revokeShare", "security": FUNCTION_KEY,
                       "summary": "Revoke a share.", "parameters": [_id_parameter("share")],
                       "responses": {"200": _json("ShareRevoked", "Revoked."),
                                     **_errors(400, 401, 404, 503)}},
        },
    }


def _paths() -> dict[str, Any]:
    return {
        "/deliveries": {
            "post": {
                "operationId": "startDelivery", "summary": "Start a delivery (the website).",
                "security": FUNCTION_KEY,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": REF.format(model="StartPayload")}}}},
                "responses": {"202": _json("StartAccepted", "Started, or already started."),
                              **_errors(400, 401, 409, 413, 415)},
            },
            "get": {
                "operationId": "listDeliveries", "summary": "List deliveries (admin key).",
                "security": ADMIN_KEY,
                "parameters": [
                    {"name": "status", "in": "query", "description": "Comma-separated: "
                     + ", ".join(RUNTIME_STATUSES), "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "description": "Created at or after "
                     "(ISO 8601).", "schema": {"type": "string"}},
                    {"name": "top", "in": "query", "schema": {
                        "type": "integer", "minimum": 1, "maximum": PAGE_SIZE_MAX,
                        "default": PAGE_SIZE_DEFAULT}},
                    {"name": "continuationToken", "in": "query",
                     "description": "From the previous page.", "schema": {"type": "string"}},
                ],
                "responses": {"200": _json("DeliveryList", "One page of deliveries."),
                              **_errors(400, 401)},
            },
        },
        "/deliveries/{id}": {"get": {
            "operationId": "getDeliveryStatus", "summary": "A delivery's status.",
            "security": FUNCTION_KEY, "parameters": [_id_parameter()],
            "responses": {"200": _json("DeliveryStatus", "Its phase, counts and failures."),
                          **_errors(400, 401, 404)},
        }},
        "/deliveries/{id}/resend": {"post": {
            "operationId": "resendDelivery", "security": ADMIN_KEY,
            "summary": "POST the delivery's stored result to the website again (admin key).",
            "parameters": [_id_parameter()],
            "responses": {"202": _json("ActionAccepted", "Re-sending."),
                          **_errors(400, 401, 404, 409)},
        }},
        "/deliveries/{id}/cancel": {"post": {
            "operationId": "cancelDelivery", "security": ADMIN_KEY,
            "summary": "Stop a planning or copying delivery, remove its partial copy and tell "
                       "the website (admin key).",
            "parameters": [_id_parameter(), {"name": "reason", "in": "query",
                                             "schema": {"type": "string", "maxLength": 300}}],
            "responses": {"202": _json("ActionAccepted", "Cancelling."),
                          **_errors(400, 401, 404, 409)},
        }},
        "/openapi.json": {"get": {
            "operationId": "getOpenApi", "summary": "This document (no key needed).",
            "security": [],
            "responses": {"200": {"description": "The OpenAPI 3.1 document.", "content": {
                "application/json": {"schema": {"type": "object"}}}}},
        }},
    }


def _key(name: str, where: str, description: str) -> dict[str, Any]:
    return {"type": "apiKey", "name": name, "in": where, "description": description}


def openapi_document() -> dict[str, Any]:
    """The whole document (built once; a copy each call)."""
    return copy.deepcopy(_built())


@functools.cache
def _built() -> dict[str, Any]:
    function_key = "A function key of the function, or the host key."
    master_key = "The host's master key (admin level)."
    return {
        "openapi": "3.1.0",
        "info": {"title": "ddd-transfer", "version": "0.1.0", "description":
                 "Delivers a sequencing core's folder into a customer's storage account "
                 "for the D4S2 delivery website, and reports the result back to it."},
        "servers": [{"url": "/api"}],
        "paths": {**_paths(), **_other_paths(), **_operator_paths()},
        "webhooks": {"transferResult": {"post": {
            "summary": "The result the app POSTs to the website's /api/v2/az-transfers/, "
                       "with Authorization: Token <key>.",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model="TransferResult")}}}},
            "responses": {"200": {"description": "Recorded."}, "400": {
                "description": "A newer attempt exists, or a result was already recorded."}},
        }}},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "functionKeyHeader": _key("x-functions-key", "header", function_key),
                "functionKeyQuery": _key("code", "query", function_key),
                "masterKeyHeader": _key("x-functions-key", "header", master_key),
                "masterKeyQuery": _key("code", "query", master_key),
            },
        },
    }
