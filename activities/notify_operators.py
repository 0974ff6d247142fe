"""Activity: e-mail the operators how a delivery ended (once per outcome; see
`shared.operations.notify`)."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import NotifyInput, NotifyOutcome
from shared.operations.notify import notify_operators
from shared.operations.telemetry import logged_activity

NAME = Activity.NOTIFY_OPERATORS.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="notify_input")
@logged_activity("notifying")
def notify_operators_activity(notify_input: NotifyInput) -> NotifyOutcome:
    return notify_operators(notify_input, load_settings())
