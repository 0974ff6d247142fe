"""Activity: write the full list of files that did not arrive verified into the work container."""

import azure.durable_functions as df

from shared.copy.failures import record_failures as record_failed_files
from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import FailuresInput, FailuresRecorded
from shared.operations.telemetry import logged_activity

NAME = Activity.RECORD_FAILURES.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="failures_input")
@logged_activity("failed")
def record_failures(failures_input: FailuresInput) -> FailuresRecorded:
    return FailuresRecorded(files=record_failed_files(
        failures_input.run_id, failures_input.chunk_count, load_settings()))
