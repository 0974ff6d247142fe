"""Blob Storage events from Azurite: a poller that sees committed blobs and names the writes.

Azurite raises no events, so devhost lists an account's blobs every poll and compares the
listing with the one before: a blob with a new name or a new ETag was written, and becomes a
``Microsoft.Storage.BlobCreated`` event in the shape Azure Blob Storage publishes
("Azure Blob Storage as an Event Grid source",
https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage; MicrosoftDocs/azure-docs
``articles/event-grid/event-schema-blob-storage.md``). The first listing is the snapshot taken
when the subscription starts: what exists then raises nothing, as Azure raises events on writes
only.

What a poller cannot see as Azure does:

- a blob is seen once committed (Put Blob, Put Block List, Copy Blob), as Azure raises the
  event; staged blocks alone raise nothing there either;
- writes between two polls coalesce: a blob written twice raises one event (Azure raises two),
  and a blob written and deleted in between raises none;
- ``data.api`` is read from the blob: ``PutBlockList`` when it has committed blocks, else
  ``PutBlob``; a Copy Blob is reported as one of those;
- ``requestId``, ``clientRequestId`` and ``storageDiagnostics.batchId`` are made up (the write's
  own ids are not in a listing), ``eventTime`` is the blob's Last-Modified (whole seconds),
  ``url`` is the blob's local URL, and ``sequencer`` grows with each event of the poller;
- on an account with a hierarchical namespace (the Data Lake stand-in), a directory (a marker
  blob with ``hdi_isfolder=true``) raises ``Microsoft.Storage.DirectoryCreated`` with
  ``api`` ``CreateDirectory``, as Azure does for the Data Lake Create Directory operation; the
  poller cannot tell a directory made explicitly from the parents the stand-in makes for a
  blob, so it raises one for each. On a flat account a marker blob is a blob;
- append and page blobs raise an event when they first appear only (Azure raises none for
  Append Block or Put Page); deletions, renames and tier changes raise nothing.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from azure.core.credentials import AzureNamedKeyCredential
from azure.storage.blob import BlobServiceClient

log = logging.getLogger("devhost")

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
DIRECTORY_CREATED = "Microsoft.Storage.DirectoryCreated"
# "The $logs and $blobchangefeed containers aren't integrated with Event Grid"
SILENT_CONTAINERS = ("$logs", "$blobchangefeed")
ENDPOINT_TEMPLATE_SETTING = "DDD_STORAGE_ENDPOINT_TEMPLATE"
ACCOUNT_KEYS_SETTING = "DDD_STORAGE_ACCOUNT_KEYS"


@dataclass(frozen=True)
class BlobState:
    etag: str
    blob_type: str
    content_type: str | None
    size: int
    last_modified: datetime | None
    is_directory: bool


def topic(subscription_id: str, resource_group: str, account: str) -> str:
    """The storage account's resource id, which is the events' ``topic``."""
    return (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Storage/storageAccounts/{account}")


def event_time(moment: datetime | None) -> str:
    """ISO 8601 with seven fractional digits and ``Z``, as Event Grid writes times."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 10:07d}Z"


def account_client(account: str) -> tuple[BlobServiceClient, str]:
    """A client of ``account`` as the app reaches it: the endpoint from the app's
    ``DDD_STORAGE_ENDPOINT_TEMPLATE``, the key from ``DDD_STORAGE_ACCOUNT_KEYS``, else the
    app's managed identity (``DefaultAzureCredential``)."""
    template = os.environ.get(ENDPOINT_TEMPLATE_SETTING) or "http://127.0.0.1:10000/{account}"
    endpoint = template.format(account=account)
    keys = dict(pair.split(":", 1) for pair in
                (os.environ.get(ACCOUNT_KEYS_SETTING) or "").split(";") if ":" in pair)
    credential: Any
    if account in keys:
        credential = AzureNamedKeyCredential(account, keys[account])
    else:
        from azure.identity import DefaultAzureCredential
        credential = DefaultAzureCredential()
    return BlobServiceClient(endpoint, credential=credential), endpoint


class BlobWatcher:
    """One storage account: its listing, and the events its changes make."""

    def __init__(self, account: str, subscription_id: str, resource_group: str):
        self.account = account
        self.topic = topic(subscription_id, resource_group, account)
        self.client, self.endpoint = account_client(account)
        self.hierarchical = False
        self._known: dict[tuple[str, str], BlobState] = {}
        self._sequence = itertools.count(1)

    def snapshot(self) -> int:
        """Take the starting listing (nothing in it raises an event); its size."""
        try:
            self.hierarchical = bool(self.client.get_account_information().get(
                "is_hns_enabled"))
        except Exception:  # an older emulator without the operation: a flat account
            self.hierarchical = False
        self._known = self._listing()
        return len(self._known)

    def poll(self) -> list[dict[str, Any]]:
        """The events for what was written since the last poll (Event Grid schema)."""
        current = self._listing()
        events = []
        for key, state in current.items():
            before = self._known.get(key)
            if before is not None and (before.etag == state.etag
                                       or state.blob_type != "BlockBlob"):
                continue
            events.append(self._event(key[0], key[1], state))
        self._known = current
        return events

    def _listing(self) -> dict[tuple[str, str], BlobState]:
        found: dict[tuple[str, str], BlobState] = {}
        for container in self.client.list_containers():
            if container.name in SILENT_CONTAINERS:
                continue
            blobs = self.client.get_container_client(container.name)
            for blob in blobs.list_blobs(include=["metadata"]):
                metadata = {k.lower(): v for k, v in (blob.metadata or {}).items()}
                blob_type = getattr(blob.blob_type, "value", str(blob.blob_type))
                found[(container.name, blob.name)] = BlobState(
                    etag=str(blob.etag), blob_type=blob_type,
                    content_type=blob.content_settings.content_type, size=blob.size or 0,
                    last_modified=blob.last_modified,
                    is_directory=metadata.get("hdi_isfolder", "").lower() == "true")
        return found

    def _api(self, container: str, name: str, state: BlobState) -> str:
        if state.blob_type != "BlockBlob":
            return "PutBlob"
        try:
            committed, _ = self.client.get_blob_client(container, name).get_block_list(
                "committed")
        except Exception:  # gone again since the listing
            return "PutBlob"
        return "PutBlockList" if committed else "PutBlob"

    def _event(self, container: str, name: str, state: BlobState) -> dict[str, Any]:
        subject = f"/blobServices/default/containers/{container}/blobs/{name}"
        url = f"{self.endpoint}/{container}/{quote(name)}"
        request_id = str(uuid.uuid4())
        common = {"clientRequestId": str(uuid.uuid4()), "requestId": request_id}
        diagnostics = {"sequencer": f"{next(self._sequence):032X}",
                       "storageDiagnostics": {"batchId": str(uuid.uuid4())}}
        if self.hierarchical and state.is_directory:
            return {"topic": self.topic, "subject": subject, "eventType": DIRECTORY_CREATED,
                    "eventTime": event_time(state.last_modified), "id": request_id,
                    "data": {"api": "CreateDirectory", **common, "url": url, **diagnostics},
                    "dataVersion": "1", "metadataVersion": "1"}
        etag = state.etag if state.etag.startswith('"') else f'"{state.etag}"'
        data = {"api": self._api(container, name, state), **common, "eTag": etag,
                "contentType": state.content_type or "application/octet-stream",
                "contentLength": state.size, "blobType": state.blob_type, "url": url,
                **diagnostics}
        return {"topic": self.topic, "subject": subject, "eventType": BLOB_CREATED,
                "eventTime": event_time(state.last_modified), "id": request_id, "data": data,
                "dataVersion": "", "metadataVersion": "1"}
