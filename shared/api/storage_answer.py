"""How an HTTP endpoint answers when storage fails it after the SDK's retries.

A transient failure (5xx, 408, 429, timeouts, resets) is 503 with Retry-After: the same call
can succeed later. Anything else is 502: storage refused the service itself (a role, a missing
account), which no retry of the caller changes; the text says what storage answered, redacted.
Bad input never gets here: it is refused earlier with a 4xx naming the field.
"""

from __future__ import annotations

from typing import Any

from shared.storage.errors import StorageFault, describe_error

RETRY_AFTER_SECONDS = 30


def storage_failure_answer(error: BaseException) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(HTTP status, JSON body, headers) for a storage error an endpoint could not get past."""
    if StorageFault.of(error).retryable:
        return 503, {"error": "Storage is busy or unreachable just now; try again shortly.",
                     "detail": describe_error(error)}, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return 502, {"error": "Storage refused this service's request.",
                 "detail": describe_error(error)}, {}
