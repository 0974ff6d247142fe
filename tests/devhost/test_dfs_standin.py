"""The Data Lake stand-in, driven by the real azure-storage-file-datalake and -blob clients.

Each test names the Azure behaviour it holds the stand-in to: the Data Lake REST
specification (azure-rest-api-specs, Azure.Storage.Files.DataLake/stable/2026-06-06/
DataLakeStorage.json), the ADLS access control documentation (azure-docs,
articles/storage/blobs/data-lake-storage-access-control.md and the include
azure-storage-data-lake-rbac-acl-limits.md), the Get Account Information reference, and the
service answers recorded in the Azure SDK for .NET's DataLake tests and quoted in Apache Arrow's
azurefs.cc.
"""

from __future__ import annotations

import uuid

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.filedatalake import DataLakeServiceClient

from devhost.dfs_standin import DfsStandIn

HNS, FLAT = "labsmith", "sequencingcore"
READER = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"


@pytest.fixture(scope="module")
def standin(azurite):
    with DfsStandIn(azurite, hierarchical={HNS}) as running:
        yield running


@pytest.fixture
def file_system(standin):
    name = f"fs-{uuid.uuid4().hex[:12]}"
    standin.blob_service(HNS).create_container(name)
    return standin.datalake_service(HNS).get_file_system_client(name)


def _blobs(standin, file_system) -> dict[str, dict]:
    container = standin.blob_service(HNS).get_container_client(file_system.file_system_name)
    return {blob.name: dict(blob.metadata or {})
            for blob in container.list_blobs(include=["metadata"])}


def test_account_information_says_which_accounts_have_a_hierarchical_namespace(standin):
    # Get Account Information: x-ms-is-hns-enabled (version 2019-07-07 and later)
    assert standin.blob_service(HNS).get_account_information()["is_hns_enabled"] is True
    assert standin.blob_service(FLAT).get_account_information()["is_hns_enabled"] is False


def test_list_paths_shows_directories_empty_ones_included(standin, file_system):
    container = standin.blob_service(HNS).get_container_client(file_system.file_system_name)
    container.upload_blob("run/reads/a.fastq.gz", b"reads")
    file_system.create_directory("run/empty/deeper")
    listed = {path.name: path for path in file_system.get_paths(path="run")}
    assert {name: path.is_directory for name, path in listed.items()} == {
        "run/reads": True, "run/reads/a.fastq.gz": False, "run/empty": True,
        "run/empty/deeper": True}
    assert listed["run/reads/a.fastq.gz"].content_length == 5
    assert listed["run/empty"].permissions == "rwxr-x---"  # a new directory, no default ACL
    top_level = [path.name for path in file_system.get_paths(path="run", recursive=False)]
    assert sorted(top_level) == ["run/empty", "run/reads"]


def test_list_paths_pages_with_continuation(standin, file_system):
    for number in range(7):
        file_system.create_directory(f"many/d{number}")
    pages = list(file_system.get_paths(path="many", max_results=3).by_page())
    assert [len(list(page)) for page in pages] == [3, 3, 1]


def test_a_missing_directory_or_file_system_is_not_found(standin, file_system):
    with pytest.raises(ResourceNotFoundError) as missing_path:
        list(file_system.get_paths(path="nowhere"))
    assert missing_path.value.error_code == "PathNotFound"
    gone = standin.datalake_service(HNS).get_file_system_client("no-such-file-system")
    with pytest.raises(ResourceNotFoundError) as missing_file_system:
        list(gone.get_paths())
    assert missing_file_system.value.error_code == "FilesystemNotFound"


def test_blob_writes_make_their_parent_directories_as_adls_does(standin, file_system):
    container = standin.blob_service(HNS).get_container_client(file_system.file_system_name)
    container.upload_blob("a/b/c.txt", b"x")
    blobs = _blobs(standin, file_system)
    assert blobs["a"] == {"hdi_isfolder": "true"} and blobs["a/b"] == {"hdi_isfolder": "true"}


def test_create_directory_if_missing_refuses_an_existing_one(standin, file_system):
    # Path_Create: "To fail if the destination already exists, use ... If-None-Match: *"
    file_system.create_directory("exists")
    with pytest.raises(ResourceExistsError) as refused:
        file_system.create_directory("exists", match_condition=MatchConditions.IfMissing)
    assert refused.value.error_code == "PathAlreadyExists"
    file_system.create_directory("exists")  # without the condition: no error


def test_a_directory_holding_anything_cannot_be_deleted_through_the_blob_api(standin,
                                                                              file_system):
    container = standin.blob_service(HNS).get_container_client(file_system.file_system_name)
    container.upload_blob("full/file.txt", b"x")
    with pytest.raises(ResourceExistsError) as refused:
        container.delete_blob("full")
    assert refused.value.error_code == "DirectoryNotEmpty"
    container.delete_blob("full/file.txt")
    container.delete_blob("full")
    assert "full" not in _blobs(standin, file_system)


def test_recursive_acl_reaches_every_path_and_defaults_only_directories(standin, file_system):
    container = standin.blob_service(HNS).get_container_client(file_system.file_system_name)
    container.upload_blob("top/sub/file.txt", b"x")
    file_system.create_directory("top/empty")
    spec = f"user:{READER}:r-x,default:user:{READER}:r-x"
    result = file_system.get_directory_client("top").update_access_control_recursive(acl=spec)
    assert (result.counters.directories_successful, result.counters.files_successful,
            result.counters.failure_count) == (3, 1, 0)
    for name, is_directory in (("top", True), ("top/sub", True), ("top/empty", True),
                               ("top/sub/file.txt", False)):
        acl = file_system.get_directory_client(name).get_access_control()["acl"].split(",")
        assert f"user:{READER}:r-x" in acl and "mask::r-x" in acl, (name, acl)
        assert (f"default:user:{READER}:r-x" in acl) is is_directory, (name, acl)
    # the default ACL is what a path created later takes (ADLS: "Default permissions on new
    # files and directories")
    container.upload_blob("top/sub/later.txt", b"y")
    later = file_system.get_file_client("top/sub/later.txt").get_access_control()
    assert f"user:{READER}:r-x" in later["acl"] and later["permissions"].endswith("+")


def test_recursive_acl_in_batches_with_continuation(standin, file_system):
    for number in range(5):
        file_system.create_directory(f"batched/d{number}")
    calls = []
    result = file_system.get_directory_client("batched").update_access_control_recursive(
        acl=f"group:{READER}:r-x", batch_size=2,
        progress_hook=lambda changes: calls.append(changes.batch_counters.directories_successful))
    assert calls == [2, 2, 2] and result.counters.directories_successful == 6


def test_set_and_get_access_control_of_one_path(standin, file_system):
    file_system.create_directory("one")
    directory = file_system.get_directory_client("one")
    directory.set_access_control(acl=f"user::rwx,group::r-x,other::---,user:{READER}:r--")
    control = directory.get_access_control()
    assert control["acl"] == f"user::rwx,user:{READER}:r--,group::r-x,mask::r-x,other::---"
    assert control["permissions"] == "rwxr-x---+"


def test_an_invalid_acl_is_refused_in_the_services_words(standin, file_system):
    # the Azure SDK for .NET's recorded tests: SetAccessControl(acl: "asdf") answers 400
    # "InvaldAccessControlList", "The access control list value is invalid."
    file_system.create_directory("invalid")
    with pytest.raises(HttpResponseError) as refused:
        file_system.get_directory_client("invalid").set_access_control(acl="asdf")
    assert refused.value.status_code == 400
    assert refused.value.error_code == "InvaldAccessControlList"
    assert "The access control list value is invalid." in str(refused.value)


def test_more_than_32_entries_are_refused(standin, file_system):
    # "32 ACL entries (effectively 28 ACL entries) per file, ... default and access ACL
    # entries each": the base entries and the mask take 4 of them
    file_system.create_directory("crowded")
    directory = file_system.get_directory_client("crowded")
    named = [f"user:{uuid.UUID(int=number)}:r-x" for number in range(29)]
    directory.update_access_control_recursive(acl=",".join(named[:28]))
    with pytest.raises(HttpResponseError) as refused:
        directory.set_access_control(
            acl="user::rwx,group::r-x,other::---," + ",".join(named))
    assert refused.value.error_code == "InvaldAccessControlList"


def test_a_flat_account_has_no_access_control(standin):
    # Apache Arrow's azurefs.cc quotes the service: "BadRequest - This operation is only
    # supported on a hierarchical namespace account."
    name = f"flat-{uuid.uuid4().hex[:10]}"
    standin.blob_service(FLAT).create_container(name)
    root = standin.datalake_service(FLAT).get_file_system_client(name) \
        .get_directory_client("/")
    with pytest.raises(HttpResponseError) as refused:
        root.get_access_control()
    assert refused.value.status_code == 400
    assert refused.value.error_code == "HierarchicalNamespaceNotEnabled"


def test_a_request_signed_with_another_key_is_refused(standin, file_system):
    wrong = DataLakeServiceClient(standin.account_url(HNS), credential={
        "account_name": HNS, "account_key": "d3Jvbmcga2V5"})
    with pytest.raises(ClientAuthenticationError) as refused:
        list(wrong.get_file_system_client(file_system.file_system_name).get_paths())
    assert refused.value.status_code == 403
