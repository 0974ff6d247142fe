"""Activity: grant the configured readers r-x (and default ACL) on the delivered folder."""

import azure.durable_functions as df

from shared.acl import AccessInput, AccessOutcome
from shared.acl import grant_access as grant_read_access
from shared.config import load_settings

NAME = "grant_access"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="access_input")
def grant_access(access_input: AccessInput) -> AccessOutcome:
    return grant_read_access(access_input, load_settings())
