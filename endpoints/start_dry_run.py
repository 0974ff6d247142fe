"""POST /api/dry-runs: the website's payload, planned but not delivered.

The same door as `POST /api/operator/deliveries` (`shared.api.operator_request`: 4xx naming the
field, nothing started; the operator's choices are accepted, since a dry run writes nothing and
shows what they would do), then the delivery's own planner without the delivery
(`shared.plan.dry_run`): nothing is written to the destination. A folder of at most
`DDD_DRY_RUN_INSTANT_FILES` files is answered at once (200, the result); a larger one is planned by
the `dry_run` orchestration (202, with `dryRunStatusUri`: `GET /api/dry-runs/{id}` carries the
result once it is done). So is a folder not planned within `DDD_HTTP_DEADLINE_SECONDS` (Azure's
front end cuts a request at 230 s; slow storage, or a destination to compare): the plan made while
the caller waits stops at the deadline (`shared.core.deadline`), and the orchestration plans it
again from the start. One dry run per (delivery id, transfer UUID): while one runs, asking again
answers its status URL; a later answer at once forgets an earlier background one (its status is not
kept).
"""

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError

from endpoints import dry_run_status
from endpoints.answers import json_answer, read_request, storage_failure
from endpoints.instances import STILL_RUNNING, start_once
from orchestrators import dry_run as dry_run_orchestrator
from shared.api.operator_request import parse_operator_request
from shared.core.deadline import Deadline, DeadlinePassed, run_within
from shared.core.messages import DryRunInput
from shared.plan.dry_run import ListingTooLong, dry_run, dry_run_id_for

NAME = "start_dry_run"
ROUTE = "dry-runs"
RETRY_AFTER_SECONDS = 5
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
async def start_dry_run(req: func.HttpRequest,
                        client: df.DurableOrchestrationClient) -> func.HttpResponse:
    read = read_request(lambda settings: parse_operator_request(
        req.headers.get("content-type"), req.get_body(), settings))
    if isinstance(read, func.HttpResponse):
        return read
    settings, (request, options) = read

    run_id = dry_run_id_for(request, options)
    status_url = dry_run_status.status_url(settings, run_id)
    accepted = ({"id": run_id, "dryRunStatusUri": status_url}, 202,
                {"Location": status_url, "Retry-After": str(RETRY_AFTER_SECONDS)})
    running = await client.get_status(run_id)
    if running and running.runtime_status in STILL_RUNNING:
        return json_answer(*accepted)
    deadline = Deadline(settings.http_deadline_seconds)
    try:
        report = await run_within(deadline, lambda: dry_run(
            request, run_id, settings, max_files=settings.dry_run_instant_files,
            options=options, deadline=deadline))
    except (ListingTooLong, DeadlinePassed):
        await start_once(client, dry_run_orchestrator.NAME, run_id,
                         DryRunInput(request=request, run_id=run_id,
                                     options=options).to_json())
        return json_answer(*accepted)
    except AzureError as error:
        return storage_failure(error)
    if running:  # an earlier background dry run of this id is out of date now: forget it
        await client.purge_instance_history(run_id)
    return json_answer({"id": run_id, "runtimeStatus": "Completed",
                        "result": report.to_json()}, 200)
