"""The real `delivery` orchestrator with fake activities: one chunk whose every file failed
with a long path and reason, so that an unbounded custom status would be far over 16 KB.
With STATUS_BUDGET=off the status's bounds are lifted, to show what Azure does then.
"""

import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

import orchestrators.delivery as delivery_orchestrator
import shared.core.run as run
import shared.core.status as status
from activities import copy_chunk, plan_delivery
from shared.core.messages import ChunkInput, PlanInput
from shared.core.models import ChunkResult, FileFailure, Plan
from tests.orchestration.fake_activities import failed_delivery_end

if os.environ.get("STATUS_BUDGET") == "off":
    for module in (run, status):  # the bounds, where they are defined and where they are used
        for bound in ("FAILURES_SHOWN", "FAILURE_PATH_CHARS", "FAILURE_REASON_CHARS",
                      "MESSAGE_CHARS", "STATUS_BUDGET_CHARS"):
            if hasattr(module, bound):
                setattr(module, bound, 10**9)
EVENTS = Path(os.environ["STATUS_EVENTS"])
FAILED_FILES = 20

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(delivery_orchestrator.bp)
app.register_functions(failed_delivery_end(EVENTS))


@app.function_name(plan_delivery.NAME)
@app.activity_trigger(input_name="plan_input")
def fake_plan(plan_input: PlanInput) -> Plan:
    return Plan(run_id=plan_input.run_id, files=FAILED_FILES, bytes=FAILED_FILES, chunk_count=1)


@app.function_name(copy_chunk.NAME)
@app.activity_trigger(input_name="chunk_input")
def fake_copy_chunk(chunk_input: ChunkInput) -> ChunkResult:
    failures = [FileFailure(path=f"lane-{n}/" + "deep-folder/" * 80 + f"reads-{n}.fastq.gz",
                            reason="the source changed after planning " * 12)
                for n in range(FAILED_FILES)]
    return ChunkResult(index=0, files=FAILED_FILES, bytes=FAILED_FILES, verified_files=0,
                       verified_bytes=0, failed_files=FAILED_FILES, failures=failures)
