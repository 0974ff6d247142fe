"""Activity: how many bytes the work units in flight have moved so far (for the status)."""

import azure.durable_functions as df

from shared.copy.progress import ProgressInput, UnitsMoving, bytes_moving
from shared.core.config import load_settings
from shared.operations.telemetry import logged_activity
from shared.storage.clients import WorkStore, shared_clients

NAME = "measure_progress"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="progress_input")
@logged_activity("copying")
def measure_progress(progress_input: ProgressInput) -> UnitsMoving:
    return bytes_moving(WorkStore(shared_clients(load_settings())), progress_input)
