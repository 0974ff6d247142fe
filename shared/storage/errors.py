"""What a storage failure means, decided by its type, HTTP status and error code (never its text).

`StorageFault.of(error)` sorts an exception raised by the storage SDK (or by the transport under
it) into what the app does next: retry it (`TRANSIENT`), or refuse at once with words an
operator can act on (`NO_PERMISSION`, `NOT_FOUND`, `ACCOUNT_UNREACHABLE`, `BAD_NAME`), or let
the caller decide from the code (`CONDITION_FAILED`, `MD5_MISMATCH`, `OTHER`).

The SDK gives `error_code` as a `StorageErrorCode` enum for the codes it knows and as a plain
string for the others (``AuthorizationPermissionMismatch`` is not in the enum); `error_code_of`
gives its string value either way, and `has_code(error, StorageErrorCode.X)` compares by value
(``str()`` of the enum is ``StorageErrorCode.X``, never the service's spelling).

A copy from a URL (Put Block From URL, Copy Blob From URL) that could not read its source fails
with ``CannotVerifyCopySource``; what the source answered is in ``x-ms-copy-source-status-code``
(Azure) or, on Azurite, the HTTP status itself, so a busy source is `TRANSIENT` and a missing one
`NOT_FOUND`. `fault_label(error)` names a failure for people from its status and code only.
"""

from __future__ import annotations

import enum
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ResourceModifiedError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import StorageErrorCode

# 403 codes: the identity (or the SAS) is not allowed to do this
_PERMISSION_CODES = frozenset({
    StorageErrorCode.AUTHORIZATION_FAILURE.value,
    "AuthorizationPermissionMismatch",
    "AuthorizationSourceIPMismatch",
    "AuthorizationProtocolMismatch",
    "AuthorizationResourceTypeMismatch",
    "AuthorizationServiceMismatch",
    "KeyBasedAuthenticationNotPermitted",
    StorageErrorCode.INSUFFICIENT_ACCOUNT_PERMISSIONS.value,
    StorageErrorCode.AUTHENTICATION_FAILED.value,
    StorageErrorCode.ACCOUNT_IS_DISABLED.value,
})
_NOT_FOUND_CODES = frozenset({
    StorageErrorCode.CONTAINER_NOT_FOUND.value,
    StorageErrorCode.RESOURCE_NOT_FOUND.value,
    StorageErrorCode.BLOB_NOT_FOUND.value,
    StorageErrorCode.CANNOT_VERIFY_COPY_SOURCE.value,
})
_NAME_CODES = frozenset({
    StorageErrorCode.INVALID_RESOURCE_NAME.value,
    StorageErrorCode.INVALID_URI.value,
    StorageErrorCode.OUT_OF_RANGE_INPUT.value,
})
_CONDITION_CODES = frozenset({
    StorageErrorCode.CONDITION_NOT_MET.value,
    StorageErrorCode.SOURCE_CONDITION_NOT_MET.value,
    StorageErrorCode.TARGET_CONDITION_NOT_MET.value,
})
_TRANSIENT_CODES = frozenset({
    StorageErrorCode.SERVER_BUSY.value,
    StorageErrorCode.OPERATION_TIMED_OUT.value,
    StorageErrorCode.INTERNAL_ERROR.value,
})
TRANSIENT_HTTP_STATUS = frozenset({408, 429})


COPY_SOURCE_STATUS_HEADER = "x-ms-copy-source-status-code"
# getaddrinfo's answers that a host name has no address: the account does not exist (Azure
# publishes a DNS name for every account). Any other failure to resolve, EAI_AGAIN ("Temporary
# failure in name resolution") above all, says nothing about the name and is transient.
_NAME_HAS_NO_ADDRESS = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


def error_code_of(error: BaseException) -> str | None:
    """The storage error code as the service spells it (``Md5Mismatch``), or None."""
    code = getattr(error, "error_code", None)
    if code is None:
        return None
    if isinstance(code, StorageErrorCode):
        return str(code.value)
    return str(code)


def has_code(error: BaseException, code: StorageErrorCode) -> bool:
    """True when the error carries this storage error code (the enum, or its string value)."""
    return error_code_of(error) == code.value


def status_of(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def copy_source_status_of(error: BaseException) -> int | None:
    """What the source answered the service, for a copy from a URL that could not read it."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get(COPY_SOURCE_STATUS_HEADER) if headers is not None else None
    if value is not None and str(value).strip().isdigit():
        return int(str(value).strip())
    if has_code(error, StorageErrorCode.CANNOT_VERIFY_COPY_SOURCE):
        return status_of(error)
    return None


def _fault_of_status(status: int) -> StorageFault | None:
    if status in TRANSIENT_HTTP_STATUS or status >= 500:
        return StorageFault.TRANSIENT
    if status in (401, 403):
        return StorageFault.NO_PERMISSION
    if status == 404:
        return StorageFault.NOT_FOUND
    if status in (304, 412):
        return StorageFault.CONDITION_FAILED
    return None


def fault_label(error: BaseException) -> str:
    """``HTTP 503 ServerBusy``, ``HTTP 500 CannotVerifyCopySource (the source answered 503)``,
    ``ServiceResponseError (no HTTP answer)``: status, code and type only, never the text."""
    status = status_of(error)
    if status is None:
        return f"{type(error).__name__} (no HTTP answer)"
    code = error_code_of(error)
    label = f"HTTP {status} {code}" if code else f"HTTP {status}"
    source_status = copy_source_status_of(error)
    if has_code(error, StorageErrorCode.CANNOT_VERIFY_COPY_SOURCE) and source_status is not None \
            and source_status != status:
        label += f" (the source answered {source_status})"
    return label


# A storage answer dated this far from the app's clock means the clocks disagree (SAS start
# and expiry times are the app's; the service judges them by its own).
CLOCK_SKEW_NAMED = timedelta(minutes=2)


def _answer_date(error: BaseException) -> datetime | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Date") if headers is not None else None
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None


def clock_skew_of(error: BaseException, now: datetime | None = None) -> timedelta | None:
    """How far the app's clock is ahead of (positive) or behind the storage service's, from
    the `Date` of the service's answer; None when they agree within CLOCK_SKEW_NAMED."""
    dated = _answer_date(error)
    if dated is None or dated.tzinfo is None:
        return None
    skew = (now or datetime.now(UTC)) - dated
    return skew if abs(skew) >= CLOCK_SKEW_NAMED else None


def skew_date(error: BaseException) -> str:
    dated = _answer_date(error)
    return dated.strftime("%Y-%m-%d %H:%M:%S UTC") if dated else "unknown"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (``inner_exception``, ``__cause__``, ``__context__``)."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "inner_exception", None), current.__cause__,
                       current.__context__, *current.args):
            if isinstance(linked, BaseException):
                pending.append(linked)


class StorageFault(enum.Enum):
    TRANSIENT = "transient"  # 5xx, 408, 429, timeouts, resets: retry
    NO_PERMISSION = "no-permission"  # 401/403: a role (or a SAS) is missing
    NOT_FOUND = "not-found"  # 404: account path, container or blob missing
    ACCOUNT_UNREACHABLE = "account-unreachable"  # the account's host name has no address
    BAD_NAME = "bad-name"  # 400 about a name the service will not take
    CONDITION_FAILED = "condition-failed"  # 412 / 304: an ETag condition did not hold
    MD5_MISMATCH = "md5-mismatch"  # the service refused bytes whose MD5 differs
    OTHER = "other"  # anything else: not retried by the caller's own loops

    @property
    def retryable(self) -> bool:
        return self is StorageFault.TRANSIENT

    @classmethod
    def of(cls, error: BaseException) -> StorageFault:
        if any(isinstance(cause, socket.gaierror) and cause.errno in _NAME_HAS_NO_ADDRESS
               for cause in _causes(error)):
            return cls.ACCOUNT_UNREACHABLE
        code = error_code_of(error)
        status = status_of(error)
        if code == StorageErrorCode.MD5_MISMATCH.value:
            return cls.MD5_MISMATCH
        if code == StorageErrorCode.CANNOT_VERIFY_COPY_SOURCE.value:
            source_status = copy_source_status_of(error)
            by_source = _fault_of_status(source_status) if source_status is not None else None
            return by_source or cls.NOT_FOUND
        if isinstance(error, ResourceModifiedError) or code in _CONDITION_CODES \
                or status in (304, 412):
            return cls.CONDITION_FAILED
        if code in _PERMISSION_CODES or isinstance(error, ClientAuthenticationError) \
                or status in (401, 403):
            return cls.NO_PERMISSION
        if code in _NOT_FOUND_CODES or status == 404:
            return cls.NOT_FOUND
        if code in _NAME_CODES:
            return cls.BAD_NAME
        if code in _TRANSIENT_CODES or status in TRANSIENT_HTTP_STATUS:
            return cls.TRANSIENT
        if isinstance(status, int) and status >= 500:
            return cls.TRANSIENT
        if isinstance(error, ServiceRequestError | ServiceResponseError | TimeoutError
                      | ConnectionError | IncompleteReadError):
            return cls.TRANSIENT
        if isinstance(error, HttpResponseError) and error.response is None and status is None:
            return cls.TRANSIENT  # a response body cut off while streaming
        return cls.OTHER


_SAS_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s'\"<>]+")


_ACCOUNT_KEY = re.compile(r"(?i)(AccountKey=)[^;\s'\"<>]+")


_AUTHORIZATION = re.compile(r"(?i)\b(Token|Bearer|SharedKey)(\s+|=)[^\s'\"<>,;]+")


def redact(text: str) -> str:
    """The text with any SAS signature, account key or authorization credential (``Token x``,
    ``Bearer x``, ``SharedKey a:b``) replaced by REDACTED."""
    text = _SAS_SIGNATURE.sub(r"\1REDACTED", text)
    text = _ACCOUNT_KEY.sub(r"\1REDACTED", text)
    return _AUTHORIZATION.sub(r"\1\2REDACTED", text)


def describe_error(error: BaseException) -> str:
    """A one-paragraph, redacted description of an exception, for results and re-raised errors."""
    error_code = error_code_of(error)  # the service's spelling, not the enum's str()
    status_code = getattr(error, "status_code", None)
    first_line = (str(error).strip().splitlines() or [""])[0]
    details = [f"HTTP {status_code}"] if status_code else []
    if error_code:
        details.append(error_code)
    label = f"{type(error).__name__} ({', '.join(details)})" if details else type(error).__name__
    return redact(f"{label}: {first_line}")[:500]
