"""GET /api/shares/{id}: a share's record (source, files, bytes, expiry, state); no link."""

import asyncio

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from endpoints.answers import api_url, bad_id, json_answer, storage_failure
from shared.core.config import Settings, load_settings
from shared.operations.share import check_share_id, read_share

NAME = "share_status"
ROUTE_PREFIX = "shares"
bp = df.Blueprint()


def status_url(settings: Settings, share_id: str) -> str:
    return api_url(settings, f"{ROUTE_PREFIX}/{share_id}")


def bad_id_answer(share_id: str) -> func.HttpResponse | None:
    """400 naming `id` for a share id that cannot be one, else None."""
    try:
        check_share_id(share_id)
    except ValueError as error:
        return bad_id(str(error))
    return None


@bp.function_name(NAME)
@bp.route(route=ROUTE_PREFIX + "/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def share_status(req: func.HttpRequest) -> func.HttpResponse:
    share_id = req.route_params.get("id", "")
    refused = bad_id_answer(share_id)
    if refused is not None:
        return refused
    try:
        record = await asyncio.to_thread(read_share, share_id, load_settings())
    except AzureError as error:
        return storage_failure(error)
    if record is None:
        return json_answer({"error": f"No share with id '{share_id}'."}, 404)
    return json_answer(record.model_dump(mode="json"), 200)
