"""Remove what a failed run wrote to the destination folder, so the website's retry can start.

The plan found the destination folder empty and claimed it (`shared.claim.claim_destination`
creates `_ddd_transfer/run.json` only if no other run did), so while the claim names this run,
everything under the folder is this run's own work. A folder claimed by another run, or by
none, is left alone. The source is never touched: removing the partial copy loses nothing, and
the per-file results in the work container still record what happened.
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError

from shared.claim import claim_owner, claim_path
from shared.config import Settings
from shared.models import DeliveryRequest
from shared.storage import StorageClients


def discard_partial_delivery(request: DeliveryRequest, run_id: str, settings: Settings, *,
                             keep_claim: bool = False) -> int:
    """Delete every blob under the sink folder this run claimed; returns how many were deleted.

    `keep_claim`: leave the claim marker (and so the folder) in place, for a cancelled run whose
    copy activities may still be finishing: a later discard can still find the folder its own,
    and the website's retry of the delivery adopts it.

    Deepest paths go first, so that on ADLS Gen2 a directory is empty when its turn comes, and
    the claim marker last of the files. Idempotent: a blob already gone is skipped; once the
    claim is gone (an earlier attempt finished), nothing more is deleted.
    """
    with StorageClients(settings) as clients:
        sink = clients.container(request.sink_account, request.sink_container)
        if claim_owner(sink, request) != run_id:
            return 0
        claim = claim_path(request)
        # on ADLS Gen2 the claim's folder is a directory (listed too): it goes after the claim
        claim_folder = claim.rpartition("/")[0]
        names = [blob.name for blob in sink.list_blobs(name_starts_with=request.sink_folder + "/")
                 if blob.name not in (claim, claim_folder)]
        names.sort(key=lambda name: (-name.count("/"), name))
        if keep_claim:  # the claim, its directory and the folder stay
            tail: list[str] = []
        else:
            tail = [claim, claim_folder, request.sink_folder]
        deleted = 0
        for name in [*names, *tail]:
            try:
                sink.delete_blob(name)
                deleted += 1
            except ResourceNotFoundError:
                continue
        return deleted
