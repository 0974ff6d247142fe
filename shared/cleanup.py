"""Remove what a failed run wrote to the destination folder, so the website's retry can start.

The plan proved the destination folder empty before any copy (a run whose destination held
anything is refused and never gets here), so everything under it afterwards is this run's
own work. The source is never touched: removing the partial copy loses nothing, and the
per-file results in the work container still record what happened.
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError

from shared.config import Settings
from shared.models import DeliveryRequest
from shared.storage import StorageClients


def discard_partial_delivery(request: DeliveryRequest, settings: Settings) -> int:
    """Delete every blob under the sink folder; returns how many were deleted.

    Deepest paths go first, so that on ADLS Gen2 a directory is empty when its turn comes.
    Idempotent: a blob already gone is skipped.
    """
    with StorageClients(settings) as clients:
        sink = clients.container(request.sink_account, request.sink_container)
        names = [blob.name for blob in sink.list_blobs(name_starts_with=request.sink_folder + "/")]
        names.sort(key=lambda name: (-name.count("/"), name))
        deleted = 0
        for name in [*names, request.sink_folder]:
            try:
                sink.delete_blob(name)
                deleted += 1
            except ResourceNotFoundError:
                continue
        return deleted
