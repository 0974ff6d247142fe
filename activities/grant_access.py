"""Activity: grant the configured readers r-x (and default ACL) on the delivered folder."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import AccessInput, AccessOutcome
from shared.destination.grants import grant_access as grant_read_access

NAME = Activity.GRANT_ACCESS.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="access_input")
def grant_access(access_input: AccessInput) -> AccessOutcome:
    return grant_read_access(access_input, load_settings())
