"""Activity: write the manifest and checksum file into the delivered folder, and the callback."""

import azure.durable_functions as df

from shared.core.activities import Activity
from shared.core.config import load_settings
from shared.core.messages import ManifestInput
from shared.core.models import ManifestOutcome
from shared.operations.telemetry import logged_activity
from shared.website.manifest import write_manifest as write_delivery_manifest

NAME = Activity.WRITE_MANIFEST.value
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="manifest_input")
@logged_activity("writing-manifest")
def write_manifest(manifest_input: ManifestInput) -> ManifestOutcome:
    return write_delivery_manifest(manifest_input.request, manifest_input.run_id,
                                   manifest_input.chunk_count, load_settings(),
                                   sealed=manifest_input.sealed,
                                   options=manifest_input.options,
                                   holds_claim=manifest_input.holds_claim)
