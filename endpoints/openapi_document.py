"""GET /api/openapi.json: the OpenAPI 3.1 description of every endpoint (`shared.api.openapi`)."""

import json

import azure.functions as func

from shared.api.openapi import openapi_document

NAME = "openapi_document"
bp = func.Blueprint()


@bp.function_name(NAME)
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document()), mimetype="application/json")
