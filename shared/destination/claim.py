"""The destination claim: which attempt of which delivery owns a destination folder, and
whether that folder was delivered (sealed).

Before copying, a run writes `<sink folder>/_ddd_transfer/run.json` (run id, delivery id,
transfer UUID, source, state) into the folder it found empty, only if no claim exists
(If-None-Match `*`). The claim stays with the delivered data (the manifest lists it), so that:

- a new attempt of the same delivery (the website's "restart transfer": same delivery id and
  source, a new transfer UUID) adopts a folder an earlier attempt claimed, by replacing the
  claim only if it is still the one it read (If-Match its ETag); a claim by another delivery
  is refused as the website's "already exists";
- right before the website is told of a success, the claim is **sealed** (state `delivered`,
  with the counts and the time): from then on no attempt of any delivery copies over or
  removes anything there (`shared.destination.cleanup` refuses a sealed folder; a new attempt
  of the same delivery only verifies it, `shared.plan.planner`). A claim written before
  sealing existed has no state: it counts as sealed when the folder holds its manifest;
- no delivery folder lies inside another one: a folder under a claimed one, or holding one, is
  refused (`nesting_conflict`). Claims of one sink container are made under one lock
  (`SinkLock`, a blob lease in the app's work container), so two starts that race for nested
  folders cannot both win.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContainerClient

from shared.core.config import Settings
from shared.core.messages import SealInput
from shared.core.models import SealedDelivery
from shared.core.naming import RESERVED_FOLDER
from shared.core.request import DeliveryRequest
from shared.storage.clients import shared_clients
from shared.storage.work import WorkStore

CLAIM_FILE = "run.json"
MANIFEST_FILE = "manifest.json"
ClaimState = Literal["copying", "delivered"]
# how long one claim's lock is held at most (a blob lease: 15 to 60 s), and waited for
LOCK_LEASE_SECONDS = 30
LOCK_WAIT_SECONDS = 90


def claim_path_in(folder: str) -> str:
    return f"{folder}/{RESERVED_FOLDER}/{CLAIM_FILE}"


def claim_path(request: DeliveryRequest) -> str:
    return claim_path_in(request.sink_folder)


def source_of(request: DeliveryRequest) -> str:
    return f"{request.source_account}/{request.source_container}/{request.source_folder}"


@dataclass(frozen=True)
class Claim:
    folder: str
    run_id: str | None
    delivery_id: int | str | None
    transfer_uuid: str | None
    source: str | None
    etag: str
    state: ClaimState | None  # None: written before claims had a state
    sealed: SealedDelivery | None

    def is_same_delivery(self, request: DeliveryRequest) -> bool:
        """An attempt of the delivery `request` is, from the same source folder."""
        return (str(self.delivery_id) == str(request.delivery_id)
                and self.source == source_of(request))


def _claim_document(request: DeliveryRequest, run_id: str, state: ClaimState,
                    sealed: SealedDelivery | None = None) -> bytes:
    document: dict[str, object] = {
        "run_id": run_id, "delivery_id": request.delivery_id,
        "transfer_uuid": request.transfer_uuid, "source": source_of(request), "state": state}
    if sealed is not None:
        document["delivered"] = sealed.to_json()
    return json.dumps(document).encode()


def read_claim_in(sink: ContainerClient, folder: str) -> Claim | None:
    """The claim of `folder`, or None when nobody claimed it. A claim without a state (written
    before sealing existed) is sealed when the folder holds its manifest."""
    try:
        downloader = sink.get_blob_client(claim_path_in(folder)).download_blob()
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
    state = document.get("state")
    sealed: SealedDelivery | None = None
    if state == "delivered" and isinstance(document.get("delivered"), dict):
        sealed = SealedDelivery.from_json(document["delivered"])
    elif state not in ("copying", "delivered"):
        state = None
        manifest = sink.get_blob_client(f"{folder}/{RESERVED_FOLDER}/{MANIFEST_FILE}")
        try:
            delivered_at = manifest.get_blob_properties().last_modified
        except ResourceNotFoundError:
            pass
        else:
            sealed = SealedDelivery(run_id=str(document.get("run_id", "")) or "unknown",
                                    transfer_uuid=document.get("transfer_uuid"),
                                    delivered_at=delivered_at)
    return Claim(folder=folder,
                 run_id=str(document["run_id"]) if "run_id" in document else None,
                 delivery_id=delivery_id if isinstance(delivery_id, int | str) else None,
                 transfer_uuid=document.get("transfer_uuid"),
                 source=document.get("source"), etag=etag,
                 state=state if state in ("copying", "delivered") else None, sealed=sealed)


def read_claim(sink: ContainerClient, request: DeliveryRequest) -> Claim | None:
    return read_claim_in(sink, request.sink_folder)


def claim_owner(sink: ContainerClient, request: DeliveryRequest) -> str | None:
    """The run id that claimed the destination folder, or None when nobody has."""
    claim = read_claim(sink, request)
    return claim.run_id if claim else None


def claim_destination(sink: ContainerClient, request: DeliveryRequest, run_id: str) -> bool:
    """Create the claim only if none exists; True when this run owns the folder."""
    try:
        sink.get_blob_client(claim_path(request)).upload_blob(
            _claim_document(request, run_id, "copying"), overwrite=False)
    except ResourceExistsError:
        return claim_owner(sink, request) == run_id
    return True


def adopt_claim(sink: ContainerClient, request: DeliveryRequest, run_id: str,
                earlier: Claim) -> bool:
    """Replace an earlier attempt's claim with this run's, only if it is still `earlier`;
    True when this run owns the folder now (it won, or had won on an earlier try)."""
    try:
        sink.get_blob_client(claim_path(request)).upload_blob(
            _claim_document(request, run_id, "copying"), overwrite=True, etag=earlier.etag,
            match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError, ResourceExistsError):
        return claim_owner(sink, request) == run_id
    return True


def seal_delivery(seal_input: SealInput, settings: Settings) -> SealedDelivery:
    """Seal the folder `seal_input.run_id` delivered (see `seal_claim`); the seal."""
    request = seal_input.request
    sink = shared_clients(settings).sink(request.sink_account, request.sink_container)
    sealed = SealedDelivery(
        run_id=seal_input.run_id, transfer_uuid=request.transfer_uuid,
        delivered_at=datetime.now(UTC), files=seal_input.files, bytes=seal_input.bytes)
    seal_claim(sink, request, seal_input.run_id, sealed)
    return sealed


class SealRefused(RuntimeError):
    """The claim no longer names this run: another attempt took the folder over."""


def seal_claim(sink: ContainerClient, request: DeliveryRequest, run_id: str,
               sealed: SealedDelivery) -> None:
    """Mark the folder delivered (before the website is told), only while this run's claim
    is the one there. Idempotent: a claim already sealed by this run stays as it is."""
    claim = read_claim(sink, request)
    if claim is None or claim.run_id != run_id:
        raise SealRefused(f"the claim of '{request.sink_folder}' no longer names this attempt "
                          f"({claim.run_id if claim else 'no claim'})")
    if claim.state == "delivered":
        return
    sink.get_blob_client(claim_path(request)).upload_blob(
        _claim_document(request, run_id, "delivered", sealed), overwrite=True,
        etag=claim.etag, match_condition=MatchConditions.IfNotModified)


def ancestors_of(folder: str) -> Iterator[str]:
    """`a/b/c` -> `a`, `a/b`: every folder the delivered folder lies in."""
    parts = folder.split("/")
    for depth in range(1, len(parts)):
        yield "/".join(parts[:depth])


def nesting_conflict(sink: ContainerClient, request: DeliveryRequest, *,
                     look_inside: bool) -> str | None:
    """The delivery folder the sink folder lies in, or (with `look_inside`: a folder that
    already holds something) one that lies inside it; None when there is none. Only claimed
    folders count: a plain folder of the recipient's may hold deliveries."""
    for ancestor in ancestors_of(request.sink_folder):
        try:
            sink.get_blob_client(claim_path_in(ancestor)).get_blob_properties()
        except ResourceNotFoundError:
            continue
        return ancestor
    if look_inside:
        own = claim_path(request)
        suffix = f"/{RESERVED_FOLDER}/{CLAIM_FILE}"
        for blob in sink.list_blobs(name_starts_with=request.sink_folder + "/"):
            if blob.name.endswith(suffix) and blob.name != own:
                return blob.name[: -len(suffix)]
    return None


class LockBusy(TimeoutError):
    """Another activity held the sink container's claim lock for too long; try again later
    (a timeout: the storage fault classification retries it)."""


def lock_name(request: DeliveryRequest) -> str:
    return f"locks/{request.sink_account}/{request.sink_container}.lock"


@contextmanager
def sink_lock(work: WorkStore, request: DeliveryRequest, *,
              wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the claim lock of the request's sink container: a lease on a blob of the app's
    own work container. Claims, adoptions and their nesting checks are made under it."""
    blob = work.container.get_blob_client(lock_name(request))
    with suppress(ResourceExistsError):
        blob.upload_blob(b"", overwrite=False)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            lease = blob.acquire_lease(lease_duration=LOCK_LEASE_SECONDS)
            break
        except HttpResponseError as error:
            if error.status_code != 409:  # 409 LeaseAlreadyPresent: another holds it
                raise
            if time.monotonic() > deadline:
                raise LockBusy(f"the claim lock of {request.sink_account}/"
                               f"{request.sink_container} stayed busy for {wait_seconds:.0f} s"
                               ) from None
            time.sleep(0.25)
    try:
        yield
    finally:
        # expired, or storage failing: it ends by itself within the lease's time
        with suppress(HttpResponseError):
            lease.release()
