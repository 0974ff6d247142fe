"""The delivery website (D4S2) as this service's client sees it: `POST /api/v2/az-transfers/`.

`report_result` sends a run's result: its error message, or on success the callback body that
`shared.website.manifest.write_manifest` stored in the work container (`read_callback_body`).
`post_transfer_result` sends one result (a manifest, or an error message) and classifies the
answer as the website does (docs/website-contract.md):

- 2xx: recorded;
- 400 "not in TRANSFERRING state": an earlier POST was recorded (already delivered): success;
- 400 "Unable to find delivery": the website started a newer attempt: stale, stop, no retry;
- 401/403: the token is refused: read it again from Key Vault once
  (`shared.operations.secrets`), and if it was rotated send again at once with the new one;
  else `WebsiteConfigurationError` (also 404 and 413: wrong URL, body too large); any other
  4xx: `WebsiteRejectedError`;
- 5xx, 408, 429, timeouts, refused connections: retried here with growing delays
  (DDD_WEBSITE_RETRY_SECONDS, doubling, DDD_WEBSITE_ATTEMPTS attempts), then
  `WebsiteUnavailableError`, so the orchestrator can wait and try again later.

The token goes only into the Authorization header; no message or log line holds it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import requests

from shared.core.config import Settings
from shared.core.models import ReportOutcome
from shared.core.request import DeliveryRequest
from shared.operations.secrets import (
    SecretRefusedError,
    SecretUnavailableError,
    reread_website_token,
    website_token,
    website_token_source,
)
from shared.storage.clients import StorageClients
from shared.storage.errors import redact
from shared.storage.work import WorkStore, callback_name

logger = logging.getLogger(__name__)

TRANSFER_RESULT_PATH = "/api/v2/az-transfers/"
USER_AGENT = "ddd-transfer/0.1"
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 60
ANSWER_CHARS_KEPT = 500
ALREADY_RECORDED_TEXT = "not in TRANSFERRING state"
STALE_TEXT = "Unable to find delivery"
RETRIED_STATUS = frozenset({408, 425, 429})


class WebsiteError(RuntimeError):
    """The website did not record the result."""

    def __init__(self, message: str, *, http_status: int = 0, attempts: int = 0,
                 server_errors: int = 0) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.attempts = attempts
        self.server_errors = server_errors


class WebsiteConfigurationError(WebsiteError):
    """The website refused us (token, URL, body size): a person must fix a setting."""


class WebsiteRejectedError(WebsiteError):
    """The website answered a 4xx this client does not expect; retrying will not help."""


class WebsiteUnavailableError(WebsiteError):
    """The website did not answer usefully after every attempt: try again later."""


def encode_body(body: dict[str, Any]) -> bytes:
    """The exact bytes POSTed for a body (so its size can be measured before sending)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def transfer_result_body(
    request: DeliveryRequest, *, manifest: Any = None, error_message: str | None = None
) -> dict[str, Any]:
    """The body the website expects: transfer_uuid and delivery_id as received, and either a
    manifest (success) or an error_message (failure, shown to people)."""
    if (manifest is None) == (error_message is None):
        raise ValueError("a transfer result has either a manifest or an error message")
    body: dict[str, Any] = {
        "transfer_uuid": str(request.transfer_uuid),
        "delivery_id": request.delivery_id,
    }
    if manifest is not None:
        body["manifest"] = manifest
    else:
        body["error_message"] = error_message
    return body


def transfer_result_url(settings: Settings) -> str:
    return settings.website_url + TRANSFER_RESULT_PATH


def _answer_text(response: requests.Response) -> str:
    """The website's answer, trimmed and redacted: an error page may echo request headers."""
    return redact(" ".join(response.text.split()))[:ANSWER_CHARS_KEPT]


def post_transfer_result(
    body: dict[str, Any],
    settings: Settings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ReportOutcome:
    """POST one transfer result to the website and say what became of it (see module doc)."""
    url = transfer_result_url(settings)
    content = encode_body(body)
    token = _token_or_raise(settings, reread=None)
    assert token is not None
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    delay = settings.website_retry_seconds
    last_problem = "no attempt made"
    token_reread = resend_now = False
    attempt = server_errors = 0
    with requests.Session() as session:
        while attempt < settings.website_attempts or resend_now:
            if not resend_now:
                attempt += 1
                if attempt > 1:
                    sleep(delay)
                    delay *= 2
            resend_now = False
            try:
                response = session.post(
                    url,
                    data=content,
                    headers=headers,
                    timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
                )
            except requests.RequestException as error:
                last_problem = f"{type(error).__name__} reaching {url}"
                logger.warning("website attempt %d: %s", attempt, last_problem)
                continue
            status = response.status_code
            answer = _answer_text(response)
            if 200 <= status < 300:
                return ReportOutcome(status="recorded", http_status=status, attempts=attempt,
                                     website_message=answer, server_errors=server_errors)
            if status == 400 and ALREADY_RECORDED_TEXT in answer:
                return ReportOutcome(status="already-recorded", http_status=status,
                                     attempts=attempt, website_message=answer,
                                     server_errors=server_errors)
            if status == 400 and STALE_TEXT in answer:
                return ReportOutcome(status="stale", http_status=status, attempts=attempt,
                                     website_message=answer, server_errors=server_errors)
            if status in (401, 403) and not token_reread:
                # the secret may have been rotated since it was cached: read it once more and,
                # if it changed, send again at once (that POST is not counted as an attempt)
                token_reread = True
                fresh = _token_or_raise(settings, reread=token)
                if fresh is not None:
                    token = fresh
                    headers["Authorization"] = f"Token {token}"
                    resend_now = True
                    continue
            if status in (401, 403):
                raise WebsiteConfigurationError(
                    f"the website refused the token (HTTP {status}) at {url}: check "
                    f"{website_token_source(settings)} and that its user is in the group "
                    "transfer_poster", http_status=status, attempts=attempt,
                )
            if status == 404:
                raise WebsiteConfigurationError(
                    f"the website has no {TRANSFER_RESULT_PATH} at {url} (HTTP 404): "
                    "check DDD_WEBSITE_URL", http_status=status, attempts=attempt,
                )
            if status == 413:
                raise WebsiteConfigurationError(
                    f"the website refused a body of {len(content)} bytes as too large "
                    "(HTTP 413): lower DDD_CALLBACK_MAX_BYTES", http_status=status,
                    attempts=attempt,
                )
            if status >= 500 or status in RETRIED_STATUS:
                server_errors += status >= 500
                last_problem = f"HTTP {status}: {answer}"
                logger.warning("website attempt %d: %s", attempt, last_problem)
                continue
            raise WebsiteRejectedError(f"the website refused the result (HTTP {status}): {answer}",
                                       http_status=status, attempts=attempt)
    raise WebsiteUnavailableError(
        f"the website did not record the result after {settings.website_attempts} attempts "
        f"(last: {last_problem})", server_errors=server_errors,
    )


def _token_or_raise(settings: Settings, *, reread: str | None) -> str | None:
    """The website token (`reread` None), or after the website refused `reread` the vault's
    newer one (None when unchanged); a vault that refuses is a setting a person must fix."""
    try:
        if reread is None:
            return website_token(settings)
        return reread_website_token(settings, reread)
    except SecretRefusedError as refused:
        raise WebsiteConfigurationError(f"the website token could not be read: {refused}") \
            from None
    except SecretUnavailableError as unavailable:
        raise WebsiteUnavailableError(f"the website token could not be read: {unavailable}") \
            from None


def read_callback_body(run_id: str, settings: Settings) -> dict[str, Any]:
    """The callback body `write_manifest` stored for a run (to POST, or POST again)."""
    with StorageClients(settings) as clients:
        body: dict[str, Any] = WorkStore(clients).read_json(callback_name(run_id))
        return body


