"""The real `delivery` orchestrator with fake activities under the real NAMEs, to test its
failure paths through devhost: a chunk that fails while the rest of its wave is still copying.
"""

import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

import orchestrators.delivery as delivery_orchestrator
from activities import copy_chunk, plan_delivery
from shared.core.messages import ChunkInput, PlanInput
from shared.core.models import ChunkResult, Plan
from tests.orchestration.fake_activities import failed_delivery_end
from tests.orchestration.fake_activities import record as record_event

# one attempt, no waiting: the failure reaches the orchestrator at once
EVENTS = Path(os.environ["FAULT_EVENTS"])
SLOW_CHUNK_SECONDS = 1.5

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(delivery_orchestrator.bp)
app.register_functions(failed_delivery_end(EVENTS))


def record(kind: str, **fields) -> None:
    record_event(EVENTS, kind, **fields)


@app.function_name(plan_delivery.NAME)
@app.activity_trigger(input_name="plan_input")
def fake_plan(plan_input: PlanInput) -> Plan:
    return Plan(run_id=plan_input.run_id, files=3, bytes=3, chunk_count=3)


@app.function_name(copy_chunk.NAME)
@app.activity_trigger(input_name="chunk_input")
def fake_copy_chunk(chunk_input: ChunkInput) -> ChunkResult:
    index = chunk_input.chunk.index
    if index == 0:
        record("chunk-failed", index=index)
        raise RuntimeError("storage unavailable for chunk 0")
    time.sleep(SLOW_CHUNK_SECONDS)
    record("chunk-copied", index=index)
    return ChunkResult(index=index, files=1, bytes=1, verified_files=1, verified_bytes=1,
                       failed_files=0)
