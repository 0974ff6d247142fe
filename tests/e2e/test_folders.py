"""Folders as folders, on both kinds of account: every folder of the source, empty ones and
nested ones included, arrives; the manifest's folder entries give the website's summary the
right counts; read access, when configured, is on every delivered path (ADLS Gen2 only)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import (
    GRANTED_CONTAINER,
    READER_GROUP,
    READER_USER,
    SINK_ACCOUNT,
    SOURCE_ACCOUNT,
)
from tests.website_summary import project_summary

FILES = {
    "SampleSheet.csv": b"Sample_ID,index\nA,ACGT\n",
    "Data/Intensities/BaseCalls/L001/A_R1.fastq.gz": b"reads one" * 100,
    "Data/Intensities/BaseCalls/L001/A_R2.fastq.gz": b"reads two" * 90,
    "Logs/run.log": b"",
}
EMPTY_FOLDERS = ["Empty", "Data/Intensities/Empty Lane", "Nested/Deeper/Deepest"]
FOLDERS = {"Data", "Data/Intensities", "Data/Intensities/BaseCalls",
           "Data/Intensities/BaseCalls/L001", "Data/Intensities/Empty Lane", "Logs", "Empty",
           "Nested", "Nested/Deeper", "Nested/Deeper/Deepest"}
SERVICE_FOLDER = "_ddd_transfer"


@pytest.fixture(scope="module", params=["flat", "hierarchical"])
def app(request):
    return request.getfixturevalue(
        {"flat": "flat_delivery_app", "hierarchical": "hns_delivery_app"}[request.param])


def deliver_tree(app, sink_container: str = "incoming"):
    delivery = app.new_delivery(FILES, sink_container=sink_container)
    folder = delivery.payload["Source_TopLevelFolder"]
    for relative in EMPTY_FOLDERS:
        app.make_folder(SOURCE_ACCOUNT, "deliveries", f"{folder}/{relative}")
    return app.deliver(delivery)


@pytest.fixture(scope="module")
def delivered(app):
    return deliver_tree(app)


def delivered_folders(app, delivery, container: str = "incoming") -> set[str]:
    """The folders under the delivered folder, as the sink shows them: Data Lake directories on
    ADLS Gen2, directory marker blobs on flat storage."""
    folder = delivery.payload["Sink_TopLevelFolder"]
    if app.dfs is not None:
        file_system = app.dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(container)
        names = {path.name for path in file_system.get_paths(path=folder) if path.is_directory}
    else:
        names = {blob.name for blob in app.container(SINK_ACCOUNT, container).list_blobs(
            name_starts_with=folder + "/", include=["metadata"])
            if (blob.metadata or {}).get("hdi_isfolder") == "true"}
    return {name[len(folder) + 1:] for name in names} - {SERVICE_FOLDER}


def test_every_folder_arrives_empty_and_nested_ones_included(app, delivered):
    assert delivered.view["phase"] == "delivered", delivered.view
    assert delivered_folders(app, delivered) == FOLDERS
    sink = app.container(SINK_ACCOUNT, "incoming")
    folder = delivered.payload["Sink_TopLevelFolder"]
    for relative, content in FILES.items():
        assert sink.download_blob(f"{folder}/{relative}").readall() == content
    if app.dfs is not None:  # ADLS Gen2: no read access granted where none is configured
        acl = app.dfs.datalake_service(SINK_ACCOUNT).get_file_system_client("incoming") \
            .get_directory_client(folder).get_access_control()["acl"]
        assert READER_USER not in acl and READER_GROUP not in acl


def test_the_manifest_gives_the_websites_summary_the_right_folder_counts(app, delivered):
    manifest = app.posts_for(delivered)[-1]["body"]["manifest"]
    assert isinstance(manifest, list)  # the website iterates a list
    folder = delivered.payload["Sink_TopLevelFolder"]
    assert {entry["name"] for entry in manifest if entry["is_directory"]} == {
        f"{folder}/{relative}" for relative in FOLDERS}
    for entry in manifest:
        assert {"name", "is_directory", "content_length", "last_modified", "etag",
                "content_settings"} <= set(entry)
    summary = project_summary(manifest)  # the website's own counting
    assert (summary.total_size, summary.file_count) == (
        sum(len(content) for content in FILES.values()), len(FILES))
    assert (summary.folder_count, summary.root_folder_count, summary.sub_folder_count) == \
        (10, 4, 6)


def test_read_access_is_on_the_delivered_folder_and_every_path_under_it(hns_delivery_app):
    app = hns_delivery_app
    delivery = deliver_tree(app, sink_container=GRANTED_CONTAINER)
    assert delivery.view["phase"] == "delivered", delivery.view
    folder = delivery.payload["Sink_TopLevelFolder"]
    file_system = app.dfs.datalake_service(SINK_ACCOUNT).get_file_system_client(
        GRANTED_CONTAINER)
    paths = [(folder, True)] + [(path.name, path.is_directory)
                                for path in file_system.get_paths(path=folder)]
    relative = {name[len(folder) + 1:] for name, _ in paths[1:]}
    assert FOLDERS | set(FILES) | {SERVICE_FOLDER, f"{SERVICE_FOLDER}/manifest.json"} <= relative
    for name, is_directory in paths:
        acl = file_system.get_directory_client(name).get_access_control()["acl"].split(",")
        for principal in (f"user:{READER_USER}", f"group:{READER_GROUP}"):
            assert f"{principal}:r-x" in acl, (name, acl)
            assert (f"default:{principal}:r-x" in acl) is is_directory, (name, acl)


def test_read_access_configured_for_a_flat_sink_refuses_before_copying(flat_delivery_app):
    app = flat_delivery_app
    delivery = app.deliver(app.new_delivery(FILES, sink_container=GRANTED_CONTAINER))
    assert delivery.view["phase"] == "refused", delivery.view
    message = app.posts_for(delivery)[-1]["body"]["error_message"]
    assert "no hierarchical namespace" in message and "DDD_DELIVERED_FOLDER_READERS" in message
    folder = delivery.payload["Sink_TopLevelFolder"]
    assert list(app.container(SINK_ACCOUNT, GRANTED_CONTAINER).list_blobs(
        name_starts_with=folder + "/")) == []
