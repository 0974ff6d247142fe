"""What the start endpoints share about Durable instances: which states count as still
running, and starting an instance once under a fixed id."""

import azure.durable_functions as df

STILL_RUNNING = [df.OrchestrationRuntimeStatus.Pending, df.OrchestrationRuntimeStatus.Running,
                 df.OrchestrationRuntimeStatus.ContinuedAsNew]


async def start_once(client: df.DurableOrchestrationClient, orchestrator: str,
                     instance_id: str, orchestration_input: object) -> None:
    """Start `orchestrator` as `instance_id`; a concurrent start of the same id (the same
    request twice at once) is not a failure, anything else is raised."""
    try:
        await client.start_new(orchestrator, instance_id, orchestration_input)
    except Exception:
        if not await client.get_status(instance_id):
            raise
