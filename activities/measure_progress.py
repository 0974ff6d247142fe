"""Activity: how many bytes the work units in flight have moved so far (for the status)."""

import azure.durable_functions as df

from shared.config import load_settings
from shared.storage import WorkStore, shared_clients
from shared.telemetry import logged_activity
from shared.unit_progress import ProgressInput, UnitsMoving, bytes_moving

NAME = "measure_progress"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="progress_input")
@logged_activity("copying")
def measure_progress(progress_input: ProgressInput) -> UnitsMoving:
    return bytes_moving(WorkStore(shared_clients(load_settings())), progress_input)
