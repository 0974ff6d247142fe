"""Activity: write the manifest and checksum file into the delivered folder, and the callback."""

import azure.durable_functions as df

from shared.core.config import load_settings
from shared.core.models import ManifestOutcome
from shared.core.run import ManifestInput
from shared.operations.telemetry import logged_activity
from shared.website.manifest import write_manifest as write_delivery_manifest

NAME = "write_manifest"
bp = df.Blueprint()


@bp.function_name(NAME)
@bp.activity_trigger(input_name="manifest_input")
@logged_activity("writing-manifest")
def write_manifest(manifest_input: ManifestInput) -> ManifestOutcome:
    return write_delivery_manifest(manifest_input.request, manifest_input.run_id,
                                   manifest_input.chunk_count, load_settings(),
                                   sealed=manifest_input.sealed)
