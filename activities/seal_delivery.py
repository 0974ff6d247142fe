"""Activity: seal the delivered folder (its claim says delivered) before the website is told."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import SealInput
from shared.core.models import SealedDelivery
from shared.destination.claim import seal_delivery as seal_delivered_folder
from shared.operations.telemetry import logged_activity

NAME = Activity.SEAL_DELIVERY.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="seal_input")
@logged_activity("sealing")
def seal_delivery(seal_input: SealInput) -> SealedDelivery:
    return seal_delivered_folder(seal_input, load_settings())
