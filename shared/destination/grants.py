"""Grant read access on the delivered folder, as the website's own delivery code once did.

For a sink named in `DDD_DELIVERED_FOLDER_READERS` (`shared.core.readers`), every principal there
gets ``r-x`` on the delivered folder and on every path under it, and the same as default ACL on
every directory, so files written there later inherit it. This runs after every file is
copied and verified and the manifest is written, and before the website is told.

It uses the Data Lake API's recursive ACL update (mode ``modify``: entries are added or changed,
the others kept), which the service applies in batches; one activity runs at most
`BATCHES_PER_ACTIVITY` batches and hands back the service's continuation token, so each
activity stays short whatever the number of paths, and the orchestrator calls it again with
the token. Granting the same entries again changes nothing, so a retried activity is harmless.

Only a hierarchical-namespace account has ACLs: grants configured for a flat sink make the plan
refuse the delivery before anything is copied (`grant_refusal`).

The app's identity needs no more than Storage Blob Data Contributor for this: it created the
delivered folder and everything in it, so it owns them, and an owner may change their ACLs
(ADLS: "Storage Blob Data Contributor ... can modify the ACL of items that are owned by the
security principal").
"""

from __future__ import annotations

from azure.core.exceptions import AzureError
from azure.storage.blob import ContainerClient
from azure.storage.filedatalake import AccessControlChanges

from shared.core.config import Settings
from shared.core.messages import AccessInput, AccessOutcome
from shared.core.models import AccountKind
from shared.core.readers import Reader
from shared.core.request import DeliveryRequest
from shared.storage.clients import shared_clients
from shared.storage.datalake import account_kind, lake_file_system
from shared.storage.errors import describe_error

BATCH_SIZE = 2000  # paths per service batch (the service's own default)
BATCHES_PER_ACTIVITY = 50  # 100,000 paths per activity
FAILURES_NAMED = 3


class AccessGrantError(RuntimeError):
    """The service refused the ACL change on some paths; the message names the first ones."""


def readers_of(request: DeliveryRequest, settings: Settings) -> tuple[Reader, ...]:
    return settings.delivered_folder_readers.for_sink(request.sink_account,
                                                      request.sink_container)


def acl_spec(readers: tuple[Reader, ...]) -> str:
    return ",".join(entry for reader in readers for entry in reader.acl_entries())


def grant_refusal(sink: ContainerClient, request: DeliveryRequest,
                  settings: Settings) -> str | None:
    """Why the configured grants cannot be made on this sink (a flat account), or None."""
    if not readers_of(request, settings):
        return None
    if account_kind("sink", sink, request.sink_account, settings) is AccountKind.HIERARCHICAL:
        return None
    return (f"Read access on the delivered folder is configured for "
            f"'{request.sink_account}/{request.sink_container}' (DDD_DELIVERED_FOLDER_READERS), "
            f"but storage account '{request.sink_account}' has no hierarchical namespace, so it "
            "has no ACLs; remove the entry or use an ADLS Gen2 account.")


def grant_access(access_input: AccessInput, settings: Settings) -> AccessOutcome:
    """Grant the readers on the delivered folder, at most BATCHES_PER_ACTIVITY batches."""
    request = access_input.request
    readers = readers_of(request, settings)
    if not readers:
        return AccessOutcome(readers=0)
    sink = shared_clients(settings).sink(request.sink_account, request.sink_container)
    refusal = grant_refusal(sink, request, settings)
    if refusal:
        raise AccessGrantError(refusal)
    directory = lake_file_system("sink", request.sink_account, request.sink_container,
                                 settings) \
        .get_directory_client(request.sink_folder)
    failures: list[str] = []

    def note_failures(changes: AccessControlChanges) -> None:
        for failure in changes.batch_failures[: FAILURES_NAMED - len(failures)]:
            failures.append(f"{failure.name}: {failure.error_message}")

    try:
        result = directory.update_access_control_recursive(
            acl=acl_spec(readers), continuation_token=access_input.continuation,
            batch_size=BATCH_SIZE, max_batches=BATCHES_PER_ACTIVITY,
            progress_hook=note_failures)
    except AzureError as error:
        raise AccessGrantError(f"Read access on '{request.sink_folder}' could not be granted: "
                               f"{describe_error(error)}") from None
    counters = result.counters
    assert counters is not None  # the SDK always sets them on a result
    if counters.failure_count:
        raise AccessGrantError(
            f"Read access on '{request.sink_folder}' could not be granted on "
            f"{counters.failure_count} path(s): {'; '.join(failures)}")
    return AccessOutcome(readers=len(readers), directories=counters.directories_successful,
                         files=counters.files_successful, continuation=result.continuation)

