"""Event Grid trigger: a blob landed in a core's account (`Microsoft.Storage.BlobCreated`).
When it is a standing rule's completion flag, that run folder's delivery starts, once: its
instance id comes from the rule and the run folder, so an event Event Grid delivers again, or a
flag written twice, starts nothing more. Any other blob is ignored."""

import azure.durable_functions as df
import azure.functions as func

from endpoints.instances import start_attempt
from shared.core.config import load_settings
from shared.core.rules import created_blob, match, run_delivery
from shared.operations.telemetry import log_event

NAME = "run_completed"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def run_completed(event: func.EventGridEvent, client: df.DurableOrchestrationClient,
                        ) -> None:
    settings = load_settings()
    blob = created_blob(event.event_type, event.topic or "", event.subject)
    matched = match(settings.standing_rules, *blob) if blob is not None else None
    if matched is None:
        log_event("rule.ignored", event_id=event.id, subject=event.subject)
        return
    rule, completed = matched
    request, options = run_delivery(rule, completed)
    attempt = await start_attempt(client, settings, request, options)
    log_event("rule.started" if attempt.started else "rule.already_started", rule=rule.name,
              run_folder=completed.run_folder, instance_id=attempt.instance_id,
              event_id=event.id, differing=list(attempt.differing) or None)
