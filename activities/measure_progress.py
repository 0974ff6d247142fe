"""Activity: how many bytes the work units in flight have moved so far (for the status)."""

import azure.durable_functions as df

from shared.copy.progress import bytes_moving
from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import ProgressInput, UnitsMoving
from shared.operations.telemetry import logged_activity
from shared.storage.clients import shared_clients
from shared.storage.work import WorkStore

NAME = Activity.MEASURE_PROGRESS.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="progress_input")
@logged_activity("copying")
def measure_progress(progress_input: ProgressInput) -> UnitsMoving:
    return bytes_moving(WorkStore(shared_clients(load_settings())), progress_input)
