"""The destination claim: which attempt of which delivery owns a destination folder.

Before copying, a run writes `<sink folder>/_ddd_transfer/run.json` (run id, delivery id,
transfer UUID, source) into the folder it found empty, only if no claim exists (If-None-Match
`*`): of two runs that found the folder empty, exactly one owns it. The claim stays with the
delivered data (the manifest lists it), so that:

- a failed run removes only a folder it claimed (`shared.cleanup`);
- a new attempt of the same delivery (the website's "restart transfer": same delivery id and
  source, a new transfer UUID) adopts the folder an earlier attempt claimed, by replacing the
  claim only if it is still the one it read (If-Match its ETag); a claim by another delivery
  is refused as the website's "already exists".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient

from shared.models import DeliveryRequest
from shared.naming import RESERVED_FOLDER

CLAIM_FILE = "run.json"


def claim_path(request: DeliveryRequest) -> str:
    return f"{request.sink_folder}/{RESERVED_FOLDER}/{CLAIM_FILE}"


def source_of(request: DeliveryRequest) -> str:
    return f"{request.source_account}/{request.source_container}/{request.source_folder}"


@dataclass(frozen=True)
class Claim:
    run_id: str | None
    delivery_id: int | str | None
    source: str | None
    etag: str

    def is_same_delivery(self, request: DeliveryRequest) -> bool:
        """An attempt of the delivery `request` is, from the same source folder."""
        return (str(self.delivery_id) == str(request.delivery_id)
                and self.source == source_of(request))


def _claim_document(request: DeliveryRequest, run_id: str) -> bytes:
    return json.dumps({"run_id": run_id, "delivery_id": request.delivery_id,
                       "transfer_uuid": request.transfer_uuid,
                       "source": source_of(request)}).encode()


def read_claim(sink: ContainerClient, request: DeliveryRequest) -> Claim | None:
    try:
        downloader = sink.get_blob_client(claim_path(request)).download_blob()
    except ResourceNotFoundError:
        return None
    etag = downloader.properties.etag
    try:
        document = json.loads(downloader.readall())
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    delivery_id = document.get("delivery_id")
    return Claim(run_id=str(document["run_id"]) if "run_id" in document else None,
                 delivery_id=delivery_id if isinstance(delivery_id, int | str) else None,
                 source=document.get("source"), etag=etag)


def claim_owner(sink: ContainerClient, request: DeliveryRequest) -> str | None:
    """The run id that claimed the destination folder, or None when nobody has."""
    claim = read_claim(sink, request)
    return claim.run_id if claim else None


def claim_destination(sink: ContainerClient, request: DeliveryRequest, run_id: str) -> bool:
    """Create the claim only if none exists; True when this run owns the folder."""
    try:
        sink.get_blob_client(claim_path(request)).upload_blob(
            _claim_document(request, run_id), overwrite=False)
    except ResourceExistsError:
        return claim_owner(sink, request) == run_id
    return True


def adopt_claim(sink: ContainerClient, request: DeliveryRequest, run_id: str,
                earlier: Claim) -> bool:
    """Replace an earlier attempt's claim with this run's, only if it is still `earlier`;
    True when this run owns the folder now (it won, or had won on an earlier try)."""
    try:
        sink.get_blob_client(claim_path(request)).upload_blob(
            _claim_document(request, run_id), overwrite=True, etag=earlier.etag,
            match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
        return claim_owner(sink, request) == run_id
    return True
