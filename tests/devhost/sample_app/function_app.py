"""A small Durable app that exercises every devhost feature; devhost loads it in its tests."""

import asyncio
import json
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
ACTIVITY_LOG = Path(os.environ.get("SAMPLE_ACTIVITY_LOG", "activity-log.txt"))


class Measure(BaseModel):
    """A pydantic model crossing the Durable boundary, as the host serialises custom objects."""

    label: str
    value: int

    def to_json(self) -> dict:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, document: dict) -> "Measure":
        return cls.model_validate(document)


# --- HTTP: a starter and a client-operations endpoint ----------------------------------------
@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="ops/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def operations(req: func.HttpRequest, client: df.DurableOrchestrationClient):
    op = req.route_params["op"]
    args = req.get_json()
    if op == "status":
        status = await client.get_status(args["id"], show_history=True,
                                         show_history_output=True, show_input=True)
        result = status.to_json() if status else None
    elif op == "query":
        statuses = await client.get_status_by(
            runtime_status=[df.OrchestrationRuntimeStatus(s) for s in args["statuses"]])
        result = sorted(s.instance_id for s in statuses)
    elif op == "raise":
        await client.raise_event(args["id"], args["event"], args.get("data"))
        result = "raised"
    elif op == "terminate":
        await client.terminate(args["id"], args["reason"])
        result = "terminated"
    elif op == "purge":
        result = (await client.purge_instance_history(args["id"])).instances_deleted
    else:
        return func.HttpResponse(status_code=404)
    return func.HttpResponse(json.dumps(result), mimetype="application/json")


@app.route(route="slow/{seconds}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    """Answers after the given seconds; touches the file named by ?done= when it has."""
    await asyncio.sleep(float(req.route_params["seconds"]))
    if req.params.get("done"):
        Path(req.params["done"]).touch()
    return func.HttpResponse("finally")


@app.route(route="hello/{name?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params.get('name', 'world')}")


# --- orchestrators ----------------------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity(square, i) for i in range(count)])
    return results


@app.orchestration_trigger(context_name="context")
def slow_fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_activity(slow_echo, i) for i in range(count)]
    return (yield context.task_all(tasks))


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=3)
    first = yield context.call_activity_with_retry(flaky, retry, context.get_input())
    return first


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry(always_fails, retry, "x")
    except Exception as exc:
        return f"gave up: {'boom' in str(exc)}"
    return "unexpected"


class BackoffRetryOptions(df.RetryOptions):
    """Retry options with the fields a newer SDK sends and the extension reads
    (RetryOptionsConverter: backoffCoefficient, maxRetryIntervalInMilliseconds)."""

    def __init__(self, first_ms: int, attempts: int, coefficient: float, max_ms: int):
        super().__init__(first_ms, attempts)
        self.coefficient, self.max_ms = coefficient, max_ms

    def to_json(self) -> dict:
        return {**super().to_json(), "backoffCoefficient": self.coefficient,
                "maxRetryIntervalInMilliseconds": self.max_ms}


@app.orchestration_trigger(context_name="context")
def retry_schedule(context: df.DurableOrchestrationContext):
    """Three attempts of an activity that always fails, 500 ms apart (the SDK's options)."""
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
    try:
        yield context.call_activity_with_retry(always_fails, retry, "x")
    except Exception:
        return "gave up"
    return "unexpected"


@app.orchestration_trigger(context_name="context")
def retry_backoff(context: df.DurableOrchestrationContext):
    """Four attempts: 300 ms, then doubled, at most 700 ms."""
    retry = BackoffRetryOptions(300, 4, coefficient=2.0, max_ms=700)
    try:
        yield context.call_activity_with_retry(always_fails, retry, "x")
    except Exception:
        return "gave up"
    return "unexpected"


@app.orchestration_trigger(context_name="context")
def with_timer(context: df.DurableOrchestrationContext):
    start_time = context.current_utc_datetime
    yield context.create_timer(start_time + timedelta(seconds=context.get_input()))
    return (context.current_utc_datetime - start_time).total_seconds()


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    doubled = yield context.call_sub_orchestrator(child, context.get_input())
    return {"child_said": doubled, "uuid": context.new_uuid()}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = yield context.call_activity(square, context.get_input())
    return value * 2


@app.orchestration_trigger(context_name="context")
def awaits_event(context: df.DurableOrchestrationContext):
    context.set_custom_status({"phase": "waiting for approval"})
    approval = yield context.wait_for_external_event("approval")
    context.set_custom_status({"phase": "approved"})
    return approval


@app.orchestration_trigger(context_name="context")
def typed(context: df.DurableOrchestrationContext):
    measure = yield context.call_activity(scale, Measure(label="reads", value=21))
    return {"type": type(measure).__name__, "label": measure.label, "value": measure.value}


@app.orchestration_trigger(context_name="context")
def counting_down(context: df.DurableOrchestrationContext):
    remaining = context.get_input()
    yield context.call_activity(square, remaining)
    if remaining > 0:
        context.continue_as_new(remaining - 1)
        return None
    return "done"


REPLAYS = {"count": 0}


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    REPLAYS["count"] += 1  # module state: differs between replays, which Durable forbids
    name = "square" if REPLAYS["count"] == 1 else "slow_echo"
    yield context.call_activity(name, 3)
    yield context.call_activity("square", 4)
    return "should not finish"


@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    yield context.call_activity(square, 1)
    raise ValueError("the orchestrator gave up")


# --- activities -------------------------------------------------------------------------------
@app.activity_trigger(input_name="number")
def square(number: int) -> int:
    return number * number


@app.activity_trigger(input_name="number")
def slow_echo(number: int) -> int:
    time.sleep(0.25)
    with ACTIVITY_LOG.open("a") as log:
        log.write(f"{number}\n")
    return number


ATTEMPTS: dict[str, int] = {}


@app.activity_trigger(input_name="key")
def flaky(key: str) -> dict:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] < 3:
        raise RuntimeError(f"transient failure {ATTEMPTS[key]}")
    return {"key": key, "attempts": ATTEMPTS[key]}


@app.activity_trigger(input_name="key")
def always_fails(key: str) -> str:
    raise RuntimeError("boom")


@app.activity_trigger(input_name="measure")
def scale(measure: Measure) -> Measure:
    assert isinstance(measure, Measure), type(measure)
    return Measure(label=measure.label, value=measure.value * 2)


@app.orchestration_trigger(context_name="context")
def calls_http(context: df.DurableOrchestrationContext):
    yield context.call_http("GET", "http://127.0.0.1:9/")  # durable HTTP: not in devhost
    return "unexpected"


# --- limits devhost enforces as Azure does (tests/devhost/test_azure_limits.py) ---------------
@app.orchestration_trigger(context_name="context")
def big_status(context: df.DurableOrchestrationContext):
    """A small custom status, one activity, then the status given as input and another one."""
    spec = context.get_input()
    context.set_custom_status({"phase": "small"})
    yield context.call_activity(square, 2)
    context.set_custom_status(spec["char"] * spec["count"])
    yield context.call_activity(square, 3)
    return "done"


@app.orchestration_trigger(context_name="context")
def catches_failure(context: df.DurableOrchestrationContext):
    """Return the text of the exception a failing activity raises in the orchestrator."""
    try:
        yield context.call_activity(leaky, context.get_input())
    except Exception as exc:
        return str(exc)
    return "unexpected"


@app.activity_trigger(input_name="message")
def leaky(message: str) -> str:
    raise RuntimeError(message)


@app.orchestration_trigger(context_name="context")
def restarts_then_waits(context: df.DurableOrchestrationContext):
    """Generation 0 continues as new at once; generation 1 waits for the event "go"."""
    generation = context.get_input()
    if generation == 0:
        context.set_custom_status("generation 0")
        context.continue_as_new(1)
        return None
    context.set_custom_status({"generation": generation})
    went = yield context.wait_for_external_event("go")
    return {"generation": generation, "went": went}


HELD_LOCK = threading.Lock()


@app.activity_trigger(input_name="spec")
def held(spec: dict) -> dict:
    """The first attempt of spec["key"] is held (until spec["gate"] exists, or for
    spec["sleep"] seconds); later attempts return at once. Files in spec["dir"] say how far
    each attempt got."""
    folder = Path(spec["dir"])
    key = spec["key"]
    with HELD_LOCK:
        attempts = folder / f"{key}.attempts"
        attempt = len(attempts.read_text().split()) + 1 if attempts.exists() else 1
        with attempts.open("a") as record:
            record.write(f"{attempt}\n")
    if attempt == 1:
        (folder / f"{key}.started").touch()
        gate = Path(spec["gate"]) if spec.get("gate") else None
        until = time.monotonic() + (spec.get("sleep") or 60)
        while time.monotonic() < until and not (gate and gate.exists()):
            time.sleep(0.05)
        (folder / f"{key}.returned").touch()
    return {"key": key, "attempt": attempt}


@app.orchestration_trigger(context_name="context")
def times_out(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=2)
    return (yield context.call_activity_with_retry(held, retry, context.get_input()))


@app.orchestration_trigger(context_name="context")
def loses_its_worker(context: df.DurableOrchestrationContext):
    """"stuck" is held past its timeout; "second" starts after a durable timer, so it is still
    running when the worker is restarted for "stuck"."""
    spec = context.get_input()
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=2)
    stuck = context.call_activity(held, {"dir": spec["dir"], "key": "stuck",
                                         "gate": spec["stuck_gate"]})
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=spec["delay"]))
    yield context.task_any([stuck, timer])  # the timer wins: "stuck" is held
    second = context.call_activity_with_retry(held, retry, {"dir": spec["dir"], "key": "second",
                                                            "gate": spec["gate"]})
    outcomes = []
    for task in (stuck, second):
        try:
            outcomes.append((yield task))
        except Exception as exc:
            outcomes.append(str(exc).partition(" \n ")[0])  # the reason, not the details
    return outcomes
