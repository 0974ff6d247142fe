"""A small app with Event Grid triggers; devhost's Event Grid tests load it.

Every invocation appends what the function was given to the JSON-lines file named by
EVENT_LOG. "run_completed" starts an orchestration through its durable client, as the real
app's will; "fails_first" fails the first FAIL_TIMES deliveries of each event.
"""

import json
import os
import threading
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
EVENT_LOG = Path(os.environ.get("EVENT_LOG", "events.jsonl"))
FAIL_TIMES = int(os.environ.get("FAIL_TIMES", "2"))
_LOCK = threading.Lock()
_FAILURES: dict[str, int] = {}


def record(function: str, event, **extra) -> None:
    if isinstance(event, func.EventGridEvent):
        fields = {"topic": event.topic, "event_type": event.event_type,
                  "event_time": event.event_time.isoformat() if event.event_time else None,
                  "data_version": event.data_version}
    else:  # a CloudEvent (the CloudEvents schema)
        fields = {"source": event.source, "event_type": event.type}
    entry = {"function": function, "type": type(event).__name__, "id": event.id,
             "subject": event.subject, "data": event.get_json(), **fields, **extra}
    with _LOCK, EVENT_LOG.open("a") as log:
        log.write(json.dumps(entry) + "\n")


@app.event_grid_trigger(arg_name="event")
@app.durable_client_input(client_name="client")
async def run_completed(event: func.EventGridEvent, client: df.DurableOrchestrationClient):
    instance_id = await client.start_new("echo_subject", None, event.subject)
    record("run_completed", event, instance_id=instance_id)


@app.event_grid_trigger(arg_name="event")
def fails_first(event: func.EventGridEvent) -> None:
    with _LOCK:
        _FAILURES[event.id] = _FAILURES.get(event.id, 0) + 1
        failures = _FAILURES[event.id]
    record("fails_first", event, attempt=failures)
    if failures <= FAIL_TIMES:
        raise RuntimeError(f"failure {failures} of event {event.id}")


@app.orchestration_trigger(context_name="context")
def echo_subject(context: df.DurableOrchestrationContext):
    return (yield context.call_activity(shout, context.get_input()))


@app.activity_trigger(input_name="text")
def shout(text: str) -> str:
    return text.upper()
