"""Activity: how many bytes the work units in flight have moved so far (for the status), and
this delivery's share of the units in flight among the deliveries copying now."""

import azure.durable_functions as df

from shared.copy.sharing import measure_window
from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.copy_window import WindowInput, WindowMeasure
from shared.operations.telemetry import logged_activity
from shared.storage.clients import shared_clients
from shared.storage.work import WorkStore

NAME = Activity.MEASURE_PROGRESS.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="progress_input")
@logged_activity("copying")
def measure_progress(progress_input: WindowInput) -> WindowMeasure:
    return measure_window(WorkStore(shared_clients(load_settings())), progress_input)
