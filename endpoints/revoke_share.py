"""DELETE /api/shares/{id}: revoke a share.

The script and the manifest are deleted (their links answer 404 from then on) and the record
says `revoked`. The file links inside a script someone already downloaded are user delegation
SAS: no stored access policy can hold them (Azure refuses one with a delegation key), so they
stay valid until the share's expiry unless an operator revokes every user delegation key of the
source account; the answer says how, and what else that stops.
"""

import asyncio

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from endpoints.answers import json_answer, storage_failure
from endpoints.share_status import bad_id_answer
from shared.core.config import load_settings
from shared.operations.share import revoke_share as revoke

NAME = "revoke_share"
ROUTE_PREFIX = "shares"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route=ROUTE_PREFIX + "/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def revoke_share(req: func.HttpRequest) -> func.HttpResponse:
    share_id = req.route_params.get("id", "")
    refused = bad_id_answer(share_id)
    if refused is not None:
        return refused
    try:
        record = await asyncio.to_thread(revoke, share_id, load_settings())
    except AzureError as error:
        return storage_failure(error)
    if record is None:
        return json_answer({"error": f"No share with id '{share_id}'."}, 404)
    account = record.source.account
    return json_answer({
        "share": record.model_dump(mode="json"),
        "script_and_manifest": "deleted: their links answer 404",
        "file_links": (
            f"valid until {record.expires.isoformat()} in any copy of the script already "
            "downloaded, unless the source account's user delegation keys are revoked: "
            f"az storage account revoke-delegation-keys --name {account} --resource-group "
            "<its resource group>. That voids every user delegation SAS of the account: every "
            "share from it, and the copy requests of deliveries running from it (they fail "
            "and can be restarted)."
            if record.signed_with == "user-delegation-key" else
            f"valid until {record.expires.isoformat()}: signed with the account key, so only "
            "rotating that key voids them"),
    }, 200)
