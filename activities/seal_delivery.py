"""Activity: seal the delivered folder (its claim says delivered) before the website is told."""

import azure.durable_functions as df

from shared.core.config import load_settings
from shared.destination.claim import SealInput
from shared.destination.claim import seal_delivery as seal_delivered_folder
from shared.operations.telemetry import logged_activity

NAME = "seal_delivery"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="seal_input")
@logged_activity("sealing")
def seal_delivery(seal_input: SealInput) -> bool:
    seal_delivered_folder(seal_input, load_settings())
    return True
