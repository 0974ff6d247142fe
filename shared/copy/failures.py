"""Every file that did not arrive verified, kept in the work container for people to read.

The custom status shows only the first few failures (it has a size budget); when a delivery
ends with failed files, `record_failures` writes the whole list, one JSON line per file
(`path`, `reason`), to `reports/<run id>/failures.jsonl`, and the status endpoint reads it back
(`read_failures`) for `GET /api/deliveries/{id}`.
"""

from __future__ import annotations

from collections.abc import Iterator

from shared.core.config import Settings
from shared.core.models import FileFailure, FileResult
from shared.core.naming import check_run_id
from shared.storage.clients import StorageClients
from shared.storage.work import REPORTS_PREFIX, WorkStore, result_page_name

# What the status endpoint returns at most; the full list stays in the work container.
FAILURES_SERVED = 1000


def failures_name(run_id: str) -> str:
    return f"{REPORTS_PREFIX}/{check_run_id(run_id)}/failures.jsonl"


def _failed_results(work: WorkStore, run_id: str, chunk_count: int) -> Iterator[FileFailure]:
    for index in range(chunk_count):
        for record in work.read_lines(result_page_name(run_id, index)):
            result = FileResult.model_validate(record)
            if not result.verified:
                yield FileFailure(path=result.path, reason=result.error or "not verified")


def record_failures(run_id: str, chunk_count: int, settings: Settings) -> int:
    """Write the list of failed files of a run (read from its result pages); returns how many.
    Idempotent: the same pages give the same list."""
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        failures = list(_failed_results(work, run_id, chunk_count))
        work.write_lines(failures_name(run_id), failures)
        return len(failures)


def read_failures(run_id: str, settings: Settings,
                  limit: int = FAILURES_SERVED) -> list[dict[str, str]] | None:
    """The first `limit` failures recorded for a run, or None when none were recorded."""
    with StorageClients(settings) as clients:
        work = WorkStore(clients)
        if not work.container.get_blob_client(failures_name(run_id)).exists():
            return None
        failures: list[dict[str, str]] = []
        for record in work.read_lines(failures_name(run_id)):
            if len(failures) >= limit:
                break
            failures.append({"path": record["path"], "reason": record["reason"]})
        return failures
