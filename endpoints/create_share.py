"""POST /api/shares: a pull-mode share of a source folder, for a recipient without storage.

Body: `Source_StorageAccount`, `Source_FileSystem`, `Source_TopLevelFolder` (an allowed source)
and `Share_ExpiresInSeconds` (at most `DDD_SHARE_MAX_HOURS` hours). Answer 201: the share's
record, `script_url` (the download script) and `manifest_url` (sizes and MD5s), read-only links
valid until the share expires (`shared.operations.share`). The links are in this answer only (and
the file links in the stored script): nothing of a share passes through Durable Functions.

The caller waits while the folder is listed and its files without a stored MD5 are hashed, so
that has `DDD_HTTP_DEADLINE_SECONDS` (Azure's front end cuts a request at 230 s). A share not
made by then is answered 422 naming `Source_TopLevelFolder` and what to do instead (its
sub-folders, MD5s stored at upload, a delivery), and nothing of it is kept. It is not made in
the background: its links would then pass through Durable Functions' state. The listing and the
hashing stop at the deadline (`shared.core.deadline`).
"""

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from endpoints import share_status
from endpoints.answers import json_answer, read_request, storage_failure
from shared.api.source_request import check_share_expiry, parse_source_request
from shared.core.config import Settings
from shared.core.deadline import Deadline, DeadlinePassed, run_within
from shared.core.request import ShareRequest
from shared.operations.share import ShareRefused, out_of_time
from shared.operations.share import create_share as make_share

NAME = "create_share"
ROUTE = "shares"
bp = df.Blueprint()
# the answer holds links: no cache may keep it
NO_STORE = {"Cache-Control": "no-store"}


def _answer(body: dict, status_code: int, headers: dict | None = None) -> func.HttpResponse:
    return json_answer(body, status_code, {**NO_STORE, **(headers or {})})


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def create_share(req: func.HttpRequest) -> func.HttpResponse:
    def parse(settings: Settings) -> ShareRequest:
        request = parse_source_request(req.headers.get("content-type"), req.get_body(),
                                       ShareRequest, settings.access)
        check_share_expiry(request, settings.share_max_hours)
        return request

    read = read_request(parse, NO_STORE)
    if isinstance(read, func.HttpResponse):
        return read
    settings, request = read
    deadline = Deadline(settings.http_deadline_seconds)
    try:
        created = await run_within(deadline, lambda: make_share(request, settings,
                                                                deadline=deadline))
    except DeadlinePassed:
        refused = out_of_time(request, deadline.seconds)
        return _answer(refused.body(), refused.status)
    except ShareRefused as refused:
        return _answer(refused.body(), refused.status)
    except AzureError as error:
        return storage_failure(error, NO_STORE)
    share = created.share
    location = share_status.status_url(settings, share.id)
    return _answer({"id": share.id, "expires": share.expires.isoformat(),
                  "script_url": created.script_url, "manifest_url": created.manifest_url,
                  "shareStatusUri": location, "share": share.model_dump(mode="json")},
                 201, {"Location": location})
