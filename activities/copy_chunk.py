"""Activity: copy one chunk of the plan server-side and verify every file's MD5."""

import azure.durable_functions as df

from shared.copy.chunk import copy_chunk as copy_and_verify_chunk
from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import ChunkInput
from shared.core.models import ChunkResult
from shared.operations.telemetry import logged_activity

NAME = Activity.COPY_CHUNK.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="chunk_input")
@logged_activity("copying")
def copy_chunk(chunk_input: ChunkInput) -> ChunkResult:
    return copy_and_verify_chunk(chunk_input.chunk, chunk_input.request, load_settings())
