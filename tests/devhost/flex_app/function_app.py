"""A small Durable app shaped like the real one on Flex Consumption (9 activity slots, 4
orchestrator slots, queues polled up to 3 s); devhost's tests of the worker's thread pool,
queue polling and split instances load it.

"copy_units" fans out activities that hold their thread until a gate file exists, as long copy
units do; "heartbeat" is a short orchestration that needs episodes and an activity meanwhile,
as measure_progress does.
"""

import json
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
REMEMBERED: dict[str, str] = {}


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], None,
                                         json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="remember/{value}", methods=["POST"])
def remember(req: func.HttpRequest) -> func.HttpResponse:
    """Module state set by an HTTP function (sync: it runs on the worker's pool)."""
    REMEMBERED["value"] = req.route_params["value"]
    return func.HttpResponse(json.dumps(REMEMBERED), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def recall(context: df.DurableOrchestrationContext):
    return (yield context.call_activity(recall_value, None))


@app.activity_trigger(input_name="unused")
def recall_value(unused) -> str | None:
    """What an activity sees of the module state an HTTP function set."""
    return REMEMBERED.get("value")


@app.orchestration_trigger(context_name="context")
def copy_units(context: df.DurableOrchestrationContext):
    spec = context.get_input()
    units = [context.call_activity(copy_unit, {"dir": spec["dir"], "gate": spec["gate"],
                                               "unit": unit})
             for unit in range(spec["units"])]
    return (yield context.task_all(units))


@app.activity_trigger(input_name="spec")
def copy_unit(spec: dict) -> int:
    (Path(spec["dir"]) / f"unit-{spec['unit']}.started").touch()
    gate = Path(spec["gate"])
    until = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < until:
        time.sleep(0.05)
    return spec["unit"]


@app.orchestration_trigger(context_name="context")
def heartbeat(context: df.DurableOrchestrationContext):
    beats = []
    for beat in range(3):
        beats.append((yield context.call_activity(tick, beat)))
    return beats


@app.activity_trigger(input_name="beat")
def tick(beat: int) -> int:
    return beat


@app.orchestration_trigger(context_name="context")
def waits(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime
                               + timedelta(seconds=context.get_input()))
    return "waited"
