"""GET /api/openapi.json: the OpenAPI 3.1 description of every endpoint (`shared.api.openapi`).

Served without a key (auth level ANONYMOUS), unlike every other endpoint. The document holds no
secret and nothing of a deployment: it is built from the code alone (no setting, no URL but the
relative "/api"), the same for every app and the same as this repository holds, so reading it
tells nobody more than the source does. A newcomer or a client generator can read it before
having a key, and it says which key each operation needs.

A JSON 401 body instead was not to be had: for auth level FUNCTION or ADMIN the Functions host
checks the key and answers 401 with an empty body before the function runs (devhost does the
same), and no host setting changes that answer. Only an anonymous function can choose its 401,
and then it would have to check the key itself, which it cannot: the host keeps its keys, and
does not hand them to the worker.
"""

import json

import azure.functions as func

from shared.api.openapi import openapi_document

NAME = "openapi_document"
bp = func.Blueprint()


@bp.function_name(NAME)
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document()), mimetype="application/json")
