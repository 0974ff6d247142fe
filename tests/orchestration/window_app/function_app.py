"""The real `delivery` orchestrator with fake activities: units that take seconds, more of them
in flight than the host has activity slots, and a `measure_progress` that records when it ran.
Everything each activity does is one JSON line in WINDOW_EVENTS. The last chunk's file fails,
so the delivery ends on the (faked) failure path: this app is about the copy window only.
"""

import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

import orchestrators.delivery as delivery_orchestrator
from activities import copy_chunk, measure_progress, plan_delivery
from shared.core.copy_window import WindowInput, WindowMeasure
from shared.core.messages import ChunkInput, PlanInput, unit_key
from shared.core.models import ChunkResult, FileFailure, Plan
from tests.orchestration.fake_activities import failed_delivery_end
from tests.orchestration.fake_activities import record as record_event

EVENTS = Path(os.environ["WINDOW_EVENTS"])
# how long each chunk copies: the first ends while the measurement waits behind chunks 2 and 3
CHUNK_SECONDS = [4.0, 12.0, 6.0, 6.0, 1.0, 1.0]
UNIT_BYTES = 1000

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(delivery_orchestrator.bp)
app.register_functions(failed_delivery_end(EVENTS))


@app.function_name(plan_delivery.NAME)
@app.activity_trigger(input_name="plan_input")
def fake_plan(plan_input: PlanInput) -> Plan:
    chunks = len(CHUNK_SECONDS)
    return Plan(run_id=plan_input.run_id, files=chunks, bytes=chunks * UNIT_BYTES,
                chunk_count=chunks)


@app.function_name(copy_chunk.NAME)
@app.activity_trigger(input_name="chunk_input")
def fake_copy_chunk(chunk_input: ChunkInput) -> ChunkResult:
    index = chunk_input.chunk.index
    record_event(EVENTS, "chunk-started", index=index)
    time.sleep(CHUNK_SECONDS[index])
    record_event(EVENTS, "chunk-copied", index=index)
    if index == len(CHUNK_SECONDS) - 1:
        return ChunkResult(index=index, files=1, bytes=0, verified_files=0, verified_bytes=0,
                           failed_files=1, failures=[FileFailure(path="last", reason="faked")])
    return ChunkResult(index=index, files=1, bytes=UNIT_BYTES, verified_files=1,
                       verified_bytes=UNIT_BYTES, failed_files=0)


@app.function_name(measure_progress.NAME)
@app.activity_trigger(input_name="progress_input")
def fake_measure_progress(progress_input: WindowInput) -> WindowMeasure:
    keys = [unit_key(unit) for unit in progress_input.units]
    # asking for the share only (before the first unit, at the copy's end) measures nothing
    record_event(EVENTS, "measured" if keys else "asked", units=keys)
    return WindowMeasure(bytes_by_unit={key: UNIT_BYTES // 2 for key in keys})
