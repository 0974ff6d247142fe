"""One file's attempts at being copied, and what a failure means: for the file, or for the unit.

A file is tried in place, `FILE_ATTEMPTS` times (the storage SDK has already retried each
request), `FILE_RETRY_WAIT_SECONDS` and twice that apart (`FileTries`):

- a failure of the file itself is its result at once: its source changed or was deleted after
  planning, a name at the destination it may not replace (`FileFailed`); an MD5 mismatch
  (`Mismatch`) is tried once more before it is final (a read corrupted on the way must not fail
  a good file);
- storage failing for a moment on every attempt is not the file's fault: the unit stops
  (`Breaker`, a `ChunkAbort` that is `transient`) and the orchestrator tries it again later;
- storage refusing what no retry changes (no permission, an account or container missing) stops
  the unit as a refusal (`ChunkAbort`, not transient), worded by `refusal_of`: a SAS refused
  while the service's clock is minutes from this machine's names the clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import NoReturn

from azure.storage.blob import StorageErrorCode

from shared.core.models import FileEntry, FileResult
from shared.storage import sas as source_sas
from shared.storage.errors import (
    StorageFault,
    clock_skew_of,
    describe_error,
    fault_label,
    has_code,
    skew_date,
)
from shared.storage.sas import SAS_CLOCK_SKEW

FILE_ATTEMPTS = 3


# before the 2nd attempt; twice that before the 3rd (the SDK has already retried each request)
FILE_RETRY_WAIT_SECONDS = 2.0


MISMATCH_TRIES = 2  # a mismatch is final the second time


class FileFailed(Exception):
    """A per-file failure: the file's result carries this reason."""


class Mismatch(FileFailed):
    """An MD5 or size mismatch: tried once more before it is final (a read corrupted on the
    way must not fail a good file)."""


class ChunkAbort(Exception):
    """Storage failed in a way that is not about one file: the chunk stops. `transient`: it
    failed for a moment (try the unit again later); else it refused (no retry changes it)."""

    def __init__(self, what: str, error: BaseException, *, transient: bool) -> None:
        super().__init__(what)
        self.what = what
        self.error = error
        self.transient = transient


def refusal_of(entry: FileEntry, error: BaseException, fault: StorageFault) -> str:
    """Why storage refused a file's copy in a way no retry changes, naming what to fix: a SAS
    refused while the service's clock is minutes from the app's names the clock."""
    skew = clock_skew_of(error, now=source_sas.utc_now())
    if fault is StorageFault.NO_PERMISSION and skew is not None:
        direction = "ahead of" if skew > timedelta(0) else "behind"
        return (f"{entry.path}: the storage service refused the copy's read-only SAS "
                f"({fault_label(error)}), and this machine's clock is "
                f"{abs(skew).total_seconds() / 60:.0f} minutes {direction} the storage "
                f"service's (its answer is dated {skew_date(error)}): a SAS is valid from "
                f"{SAS_CLOCK_SKEW.total_seconds() / 60:.0f} minutes before this machine's time "
                "for a few minutes only, so set this machine's clock right (NTP) and deliver "
                "again")
    return f"{entry.path}: {fault.value} ({fault_label(error)})"


def _not_about_one_file(error: BaseException, fault: StorageFault) -> bool:
    return fault in (StorageFault.NO_PERMISSION, StorageFault.ACCOUNT_UNREACHABLE) or has_code(
        error, StorageErrorCode.CONTAINER_NOT_FOUND
    )


class Breaker:
    """Trips at the first file that failed for a moment after all its attempts: storage is
    failing, not that file, so the unit stops and is tried again later as a whole (the
    orchestrator waits the outage out; the retry resumes at the file). Once tripped, every
    file raises the same ChunkAbort."""

    def __init__(self) -> None:
        self._tripped: ChunkAbort | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        with self._lock:
            if self._tripped is not None:
                raise self._tripped

    def trip(self, abort: ChunkAbort) -> None:
        with self._lock:
            if self._tripped is None:
                self._tripped = abort
            raise self._tripped


class FileTries:
    """One file's attempts: what follows each failed one. Shared by the threaded copies
    (`shared.copy.file.FileCopier.attempts`) and the asyncio ones (`shared.copy.service`);
    `failed` makes the file's result for a failure of its own."""

    def __init__(self, entry: FileEntry, breaker: Breaker,
                 failed: Callable[[FileEntry, str], FileResult]) -> None:
        self._entry = entry
        self._breaker = breaker
        self._failed = failed
        self._mismatches = 0
        self._last_error: BaseException | None = None

    def after(self, error: BaseException, attempt: int) -> FileResult | float:
        """After attempt number `attempt` failed with `error`: the file's final result, or the
        seconds to wait before the next attempt. Raises ChunkAbort for a failure that is not
        about this file."""
        entry = self._entry
        if isinstance(error, Mismatch):
            self._mismatches += 1
            if self._mismatches < MISMATCH_TRIES and attempt < FILE_ATTEMPTS:
                return 0.0
            return self._failed(entry, str(error))
        if isinstance(error, FileFailed):
            return self._failed(entry, str(error))
        fault = StorageFault.of(error)
        if _not_about_one_file(error, fault):
            raise ChunkAbort(refusal_of(entry, error, fault), error, transient=False) from None
        if not fault.retryable:
            return self._failed(entry, describe_error(error))
        self._last_error = error
        return FILE_RETRY_WAIT_SECONDS * attempt if attempt < FILE_ATTEMPTS else 0.0

    def exhausted(self) -> NoReturn:
        """Every attempt failed for a moment: storage is failing, the unit stops (ChunkAbort,
        transient) and is tried again later."""
        assert self._last_error is not None
        self._breaker.trip(ChunkAbort(
            f"{self._entry.path}: still failing after {FILE_ATTEMPTS} attempts "
            f"({fault_label(self._last_error)})", self._last_error, transient=True))
        raise AssertionError("a tripped breaker raises")
