"""Activity: make every delivered folder, empty ones included, exist in the sink."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import FoldersInput, FoldersOutcome
from shared.destination.folders import create_folders as create_delivered_folders

NAME = Activity.CREATE_FOLDERS.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="folders_input")
def create_folders(folders_input: FoldersInput) -> FoldersOutcome:
    return create_delivered_folders(folders_input, load_settings())
