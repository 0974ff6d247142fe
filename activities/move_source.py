"""Activity: delete a delivered source folder's planned files (a move), a few pages a call."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import MoveInput, SourceMoved
from shared.operations.telemetry import logged_activity
from shared.source.move import move_source as delete_moved_source

NAME = Activity.MOVE_SOURCE.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="move_input")
@logged_activity("moving-source")
def move_source(move_input: MoveInput) -> SourceMoved:
    return delete_moved_source(move_input, load_settings())
