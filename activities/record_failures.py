"""Activity: write the full list of files that did not arrive verified into the work container."""

import azure.durable_functions as df

from shared.copy.failures import record_failures as record_failed_files
from shared.core.config import load_settings
from shared.core.run import FailuresInput
from shared.operations.telemetry import logged_activity

NAME = "record_failures"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="failures_input")
@logged_activity("failed")
def record_failures(failures_input: FailuresInput) -> int:
    return record_failed_files(failures_input.run_id, failures_input.chunk_count, load_settings())
