"""What the start endpoints share about Durable instances: which states count as still
running, starting an instance once under a fixed id, and starting an attempt of a delivery
(the website's, an operator's or a standing rule's)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

from orchestrators import delivery
from shared.core.config import Settings
from shared.core.instances import (
    attempts_prefix,
    differing_fields,
    differing_options,
    instance_id_for,
    is_earlier_attempt,
    is_same_delivery,
)
from shared.core.options import DeliveryOptions
from shared.core.request import DeliveryRequest
from shared.core.run import DeliveryRun

STILL_RUNNING = [df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running,
                 df.OrchestrationRuntimeStatus.ContinuedAsNew]


@dataclass(frozen=True)
class Attempt:
    """An attempt's instance id; `differing` names the fields in which the request differs from
    the one that started the instance of that id (then nothing was started); `started` is False
    when the instance already existed."""

    instance_id: str
    started: bool
    differing: tuple[str, ...] = ()


async def start_once(client: df.DurableOrchestrationClient, orchestrator: str,
                     instance_id: str, orchestration_input: object) -> None:
    """Start `orchestrator` as `instance_id`; a concurrent start of the same id (the same
    request twice at once) is not a failure, anything else is raised."""
    try:
        await client.start_new(orchestrator, instance_id, orchestration_input)
    except Exception:
        if not await client.get_status(instance_id):
            raise


def input_of(status: DurableOrchestrationStatus) -> object:
    """The orchestration input as JSON (the status API may give it as a JSON string)."""
    value = status.input_
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


async def start_attempt(client: df.DurableOrchestrationClient, settings: Settings,
                        request: DeliveryRequest, options: DeliveryOptions) -> Attempt:
    """Start the delivery attempt of this request once. A new attempt of the same delivery
    (same delivery id, source and sink; another transfer UUID) first stops the earlier ones
    still running; its plan then adopts the folder they claimed."""
    instance_id = instance_id_for(request)
    existing = await client.get_status(instance_id, show_input=True)
    if existing:
        earlier_input = input_of(existing)
        differing = differing_fields(request, earlier_input) + differing_options(options,
                                                                                 earlier_input)
        return Attempt(instance_id, started=False, differing=tuple(differing))
    earlier = await client.get_status_by(instance_id_prefix=attempts_prefix(request),
                                         runtime_status=STILL_RUNNING)
    for attempt in earlier:
        if not attempt.instance_id or not is_earlier_attempt(request, attempt.instance_id):
            continue
        shown = await client.get_status(attempt.instance_id, show_input=True)
        if shown and is_same_delivery(request, input_of(shown)):
            await client.terminate(attempt.instance_id,
                                   f"superseded by the attempt {instance_id}")
    run = DeliveryRun(request=request, run_id=instance_id, options=options,
                      parallel_chunks=settings.parallel_chunks,
                      shared_units=settings.shared_units,
                      progress_seconds=settings.progress_seconds,
                      outage_wait_seconds=settings.outage_wait_minutes * 60)
    await start_once(client, delivery.NAME, instance_id, run.to_json())
    return Attempt(instance_id, started=True)
