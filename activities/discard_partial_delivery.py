"""Activity: after a failed run, remove its partial copy from the destination folder."""

import azure.durable_functions as df

from shared.cleanup import discard_partial_delivery as discard
from shared.config import load_settings
from shared.models import DeliveryRequest

NAME = "discard_partial_delivery"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="request")
def discard_partial_delivery(request: DeliveryRequest) -> int:
    return discard(request, load_settings())
