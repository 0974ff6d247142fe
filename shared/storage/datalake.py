"""The accounts' Data Lake endpoints, and which kind of account each one is.

ADLS Gen2 accounts have a hierarchical namespace: real directories (empty ones too), listed by
the Data Lake API with `is_directory`, and POSIX ACLs. Plain Blob storage (and Azurite) has
neither: folders there are only name prefixes, or empty "directory marker" blobs as ADLS tools
write them. The app asks each account which kind it is, never assumes:

- with an account key (Azurite, local runs): Get Account Information, whose
  ``x-ms-is-hns-enabled`` says so;
- with Microsoft Entra ID (Azure: the managed identity): Get Account Information is authorized
  only by Shared Key or SAS (its REST reference: "This operation doesn't support OAuth-based
  authorization"), so the Data Lake endpoint is asked for the file system root's access control
  instead: it answers on a hierarchical account, and refuses on a flat one with 400
  ``HierarchicalNamespaceNotEnabled`` (or 409 when the account has soft delete), as Apache
  Arrow's Azure file system detects it.

`lake_file_system` gives a Data Lake client of one container; the service clients are built on
first use and kept for the process (thread-safe, like the credentials they hold).
"""

from __future__ import annotations

import hashlib
import threading

from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient
from azure.storage.filedatalake import DataLakeServiceClient, FileSystemClient

from shared.core.access import Side
from shared.core.config import Settings
from shared.core.models import AccountKind
from shared.storage.clients import STORAGE_RETRY
from shared.storage.identity import storage_credential

_services: dict[tuple[str, str], DataLakeServiceClient] = {}
_services_lock = threading.Lock()


def lake_service(account: str, settings: Settings) -> DataLakeServiceClient:
    url = settings.dfs_account_url(account)
    credential = storage_credential(account, settings)
    account_key = settings.account_key(account)
    # one client per endpoint and credential (an account key is told apart by its hash only)
    key = (url, hashlib.sha256(account_key.encode()).hexdigest() if account_key else "entra")
    with _services_lock:
        service = _services.get(key)
        if service is None:
            timing = STORAGE_RETRY
            service = DataLakeServiceClient(
                url, credential=credential,
                connection_timeout=timing.connect_timeout, read_timeout=timing.read_timeout,
                retry_total=timing.retries)
            _services[key] = service
        return service


def lake_file_system(side: Side, account: str, container: str,
                     settings: Settings) -> FileSystemClient:
    """A source or sink container's Data Lake client; AccessRefused unless allowed."""
    settings.access.check(side, account, container)
    return lake_service(account, settings).get_file_system_client(container)


def account_kind(side: Side, container: ContainerClient, account: str,
                 settings: Settings) -> AccountKind:
    """Ask the account which kind it is (see the module doc). Raises what storage raises when it
    cannot tell (no such container, no permission, storage down)."""
    if isinstance(storage_credential(account, settings), AzureNamedKeyCredential):
        information = container.get_account_information()
        hierarchical = bool(information.get("is_hns_enabled"))
        return AccountKind.HIERARCHICAL if hierarchical else AccountKind.FLAT
    return kind_from_data_lake(
        lake_file_system(side, account, str(container.container_name), settings))


def kind_from_data_lake(file_system: FileSystemClient) -> AccountKind:
    """The kind of account, from its Data Lake endpoint: the root's access control is there
    on a hierarchical account only (a flat one answers 400, or 409 with soft delete on)."""
    try:
        file_system.get_directory_client("/").get_access_control()
    except HttpResponseError as error:
        if error.status_code in (400, 409):
            return AccountKind.FLAT
        raise
    return AccountKind.HIERARCHICAL
