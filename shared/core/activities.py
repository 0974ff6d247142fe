"""The names of the app's activities: the one vocabulary orchestrators call them by.

Each activity module (`activities/`) registers its function under its name here (its `NAME`),
so an orchestrator names an activity without importing the module, and with it the copy engine
and the Azure SDK, into deterministic code.
"""

from __future__ import annotations

from enum import StrEnum


class Activity(StrEnum):
    PLAN_DELIVERY = "plan_delivery"
    COPY_CHUNK = "copy_chunk"
    MEASURE_PROGRESS = "measure_progress"
    RECORD_FAILURES = "record_failures"
    CREATE_FOLDERS = "create_folders"
    WRITE_MANIFEST = "write_manifest"
    GRANT_ACCESS = "grant_access"
    SEAL_DELIVERY = "seal_delivery"
    REPORT_TO_WEBSITE = "report_to_website"
    DISCARD_PARTIAL_DELIVERY = "discard_partial_delivery"
    DISCARD_CANCELLED_DELIVERY = "discard_cancelled_delivery"
    MOVE_SOURCE = "move_source"
    NOTIFY_OPERATORS = "notify_operators"
    PLAN_DRY_RUN = "plan_dry_run"
