"""POST /api/summary: the website's project summary of a source folder.

Body: `Source_StorageAccount`, `Source_FileSystem`, `Source_TopLevelFolder` (the website's key
names; an allowed source only). Answer: exactly the website's summary shape, `total_size`,
`file_count`, `folder_count`, `root_folder_count`, `sub_folder_count`, `error_msg`, counted by
the website's own rules (`shared.plan.summary`). What storage refuses is the `error_msg` (200), as
the website shows it; only a transient storage failure is 503.

The caller waits for the count, so it has `DDD_HTTP_DEADLINE_SECONDS` (Azure's front end cuts a
request at 230 s). A folder not counted by then is answered 422 naming `Source_TopLevelFolder`
and what to do instead (its sub-folders, or a dry run, which counts in the background). It is
not counted on in the background: the website asks for a summary to show it on the page it is
making, and has no status URL to come back to. The count itself stops at the deadline
(`shared.core.deadline`).
"""

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from endpoints.answers import json_answer, read_request, storage_failure
from shared.api.source_request import parse_source_request
from shared.core.deadline import Deadline, DeadlinePassed, run_within
from shared.core.request import SourceFolderRequest
from shared.plan.summary import out_of_time
from shared.plan.summary import project_summary as summarize

NAME = "project_summary"
ROUTE = "summary"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def project_summary(req: func.HttpRequest) -> func.HttpResponse:
    read = read_request(lambda settings: parse_source_request(
        req.headers.get("content-type"), req.get_body(), SourceFolderRequest, settings.access))
    if isinstance(read, func.HttpResponse):
        return read
    settings, request = read
    deadline = Deadline(settings.http_deadline_seconds)
    try:
        summary = await run_within(deadline, lambda: summarize(
            request.source_account, request.source_container, request.source_folder, settings,
            deadline))
    except DeadlinePassed:
        return json_answer(out_of_time(request.source_folder, deadline.seconds), 422)
    except AzureError as error:
        return storage_failure(error)
    return json_answer(summary.model_dump(), 200)
