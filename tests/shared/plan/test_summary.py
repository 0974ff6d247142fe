"""The website's project summary against Azurite, checked against the website's own counting.

The oracle is the website's code (`AzureProjectSummary.apply_path_dict`, restated in
`tests/website_summary.py`) fed as the website fed it: an ADLS recursive `get_paths` of the
folder (`adls_paths`). The service's answer must equal it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from shared.core.config import Settings
from shared.core.deadline import Deadline, DeadlinePassed
from shared.plan.summary import ProjectSummary, out_of_time, project_summary
from tests.fault_proxy import Exchange, FaultProxy
from tests.shared.delivery_setup import Delivery
from tests.website_summary import project_summary as website_project_summary

FOLDER = "jdoe/mouse-rnaseq"


def website_summary(path_dicts: list[dict[str, Any]]) -> dict[str, Any]:
    """The website's counting (`tests/website_summary.py`, its code restated), path by path, over
    what ADLS `get_paths(folder)` lists; with no error."""
    return {**asdict(website_project_summary(path_dicts)), "error_msg": None}


def adls_paths(folder: str, files: dict[str, bytes], empty_dirs: tuple[str, ...] = ()) -> list:
    """What a recursive ADLS listing of `folder` gives: every directory below it and every file,
    with full names."""
    directories = set(empty_dirs)
    for relative in files:
        parts = relative.split("/")
        directories.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    return ([{"name": f"{folder}/{d}", "is_directory": True} for d in sorted(directories)]
            + [{"name": f"{folder}/{r}", "is_directory": False, "content_length": len(c)}
               for r, c in files.items()])


FILES = {
    "SampleSheet.csv": b"x" * 120,
    "CopyComplete.txt": b"",
    "Data/Intensities/BaseCalls/A_S1_R1.fastq.gz": b"y" * 5000,
    "Data/Intensities/BaseCalls/A_S1_R2.fastq.gz": b"z" * 7000,
    "InterOp/QMetricsOut.bin": b"q" * 300,
    "Notes/Résumé du run – Müller lab.txt": "Läuft gut.\n".encode(),
}


def test_the_summary_counts_as_the_website_does(delivery: Delivery, settings: Settings) -> None:
    for path, content in FILES.items():
        delivery.seed(path, content)
    delivery.source.upload_blob("jdoe/other-project/x.txt", b"not this folder")
    delivery.source.upload_blob("jdoe/mouse-rnaseq-2/y.txt", b"nor this one")

    summary = project_summary(delivery.request.source_account, delivery.source.container_name,
                              FOLDER, settings)

    assert summary.model_dump() == website_summary(adls_paths(FOLDER, FILES))
    assert (summary.root_folder_count, summary.sub_folder_count, summary.file_count) == (3, 2, 6)


def test_adls_directory_markers_count_as_folders_even_when_empty(
        delivery: Delivery, settings: Settings) -> None:
    delivery.seed("Data/r1.fastq.gz", b"r" * 10)
    # ADLS Gen2 lists its directories through the blob API as empty blobs so marked
    for directory in ("jdoe/mouse-rnaseq/Data", "jdoe/mouse-rnaseq/Empty",
                      "jdoe/mouse-rnaseq/Empty/Deeper"):
        delivery.source.upload_blob(directory, b"", metadata={"hdi_isfolder": "true"})

    summary = project_summary(delivery.request.source_account, delivery.source.container_name,
                              FOLDER, settings)

    expected = website_summary(adls_paths(FOLDER, {"Data/r1.fastq.gz": b"r" * 10},
                                          empty_dirs=("Empty", "Empty/Deeper")))
    assert summary.model_dump() == expected
    assert (summary.folder_count, summary.root_folder_count, summary.sub_folder_count) == (3, 2, 1)


def test_a_missing_folder_or_container_is_the_website_s_not_found_text(
        delivery: Delivery, settings: Settings) -> None:
    account = delivery.request.source_account
    missing = project_summary(account, delivery.source.container_name, FOLDER, settings)
    assert missing == ProjectSummary(error_msg=f"No project found at {FOLDER}.")
    no_container = project_summary(account, "no-such-container", FOLDER, settings)
    assert no_container.error_msg == f"No project found at {FOLDER}."


def test_an_empty_adls_directory_is_a_project_with_nothing_in_it(
        delivery: Delivery, settings: Settings) -> None:
    delivery.source.upload_blob(FOLDER, b"", metadata={"hdi_isfolder": "true"})
    summary = project_summary(delivery.request.source_account, delivery.source.container_name,
                              FOLDER, settings)
    assert summary == ProjectSummary()


def test_a_folder_past_the_bound_is_not_counted_on(delivery: Delivery, settings: Settings) -> None:
    for index in range(4):
        delivery.seed(f"f{index}.txt", b"x")
    bounded = settings.model_copy(update={"summary_max_entries": 3})
    summary = project_summary(delivery.request.source_account, delivery.source.container_name,
                              FOLDER, bounded)
    assert summary.file_count == 0
    assert summary.error_msg is not None and "more than 3 files and folders" in summary.error_msg
    exact = settings.model_copy(update={"summary_max_entries": 4})
    assert project_summary(delivery.request.source_account, delivery.source.container_name,
                           FOLDER, exact).file_count == 4


def test_storage_refusing_the_service_is_the_website_s_permission_text(
        delivery: Delivery, core_environ: dict[str, str]) -> None:
    """Azurite refuses a wrong key with 403, as Azure refuses an identity without a role."""
    from shared.core.config import load_settings
    from shared.plan.summary import PERMISSION_LIMITATIONS
    from tests.shared.delivery_setup import SOURCE_ACCOUNT

    delivery.seed("a.txt", b"a")
    keys = ";".join(
        f"{account}:{key if account != SOURCE_ACCOUNT else 'd3Jvbmcga2V5' * 8}"
        for account, _, key in (pair.partition(":") for pair in
                                core_environ["DDD_STORAGE_ACCOUNT_KEYS"].split(";")))
    refused = load_settings({**core_environ, "DDD_STORAGE_ACCOUNT_KEYS": keys})
    summary = project_summary(SOURCE_ACCOUNT, delivery.source.container_name, FOLDER, refused)
    assert summary.error_msg is not None and summary.error_msg.startswith(PERMISSION_LIMITATIONS)
    assert "Storage Blob Data Reader on 'sequencingcore'" in summary.error_msg
    assert summary.file_count == 0


def test_a_count_past_its_deadline_stops_and_says_what_to_do_instead(
        delivery: Delivery, proxied: Settings, proxy: FaultProxy) -> None:
    for path, content in FILES.items():
        delivery.seed(path, content)
    deadline = Deadline(60)

    def listing(exchange: Exchange) -> bool:
        return exchange.query.get("comp") == "list" and \
            exchange.query.get("prefix") == FOLDER + "/"

    # the deadline passes while the first page of the listing is on its way
    proxy.before_forward.append(lambda exchange: deadline.stop() if listing(exchange) else None)

    with pytest.raises(DeadlinePassed):
        project_summary(delivery.request.source_account, delivery.source.container_name,
                        FOLDER, proxied, deadline)

    assert len([exchange for exchange in proxy.exchanges if listing(exchange)]) == 1
    answer = out_of_time(FOLDER, 45)
    assert answer["errors"] == [{"field": "Source_TopLevelFolder", "message": answer["error"]}]
    assert FOLDER in answer["error"] and "45 s" in answer["error"]
    assert "DDD_HTTP_DEADLINE_SECONDS" in answer["error"]
    assert "POST /api/dry-runs" in answer["error"]  # what to do instead
    # within its deadline, the same count is the website's
    assert project_summary(delivery.request.source_account, delivery.source.container_name,
                           FOLDER, proxied, Deadline(60)).model_dump() == \
        website_summary(adls_paths(FOLDER, FILES))
