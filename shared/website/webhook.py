"""A standing rule's webhook: the website's callback body, POSTed to another receiver.

The body is the one the website gets (`transfer_uuid`, `delivery_id`, and `manifest` or
`error_message`), with `Authorization: Token <secret>` when the rule names a Key Vault secret.
Any 2xx acknowledges the result; a 401, 403, 404, 413 or other 4xx is a refusal a person must
fix (`refused`, never retried); 5xx, 408, 429 and no answer are retried here with growing
delays (`DDD_WEBSITE_RETRY_SECONDS`, `DDD_WEBSITE_ATTEMPTS`), then `WebsiteUnavailableError`,
so the orchestrator tries again later, as for the website.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from shared.core.config import Settings
from shared.core.models import ReportOutcome
from shared.core.options import Webhook
from shared.operations.secrets import SecretRefusedError, SecretUnavailableError, named_secret
from shared.storage.errors import redact
from shared.website.callback import (
    ANSWER_CHARS_KEPT,
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    RETRIED_STATUS,
    USER_AGENT,
    WebsiteUnavailableError,
    encode_body,
)


def post_to_webhook(body: dict[str, Any], webhook: Webhook, settings: Settings, *,
                    sleep: Callable[[float], None] = time.sleep) -> ReportOutcome:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if webhook.token_secret is not None:
        try:
            headers["Authorization"] = f"Token {named_secret(settings, webhook.token_secret)}"
        except SecretRefusedError as refused:
            return ReportOutcome(status="refused", http_status=0, attempts=0,
                                 website_message=f"the webhook's token: {refused}")
        except SecretUnavailableError as unavailable:
            raise WebsiteUnavailableError(f"the webhook's token: {unavailable}") from None
    content = encode_body(body)
    delay, last_problem = settings.website_retry_seconds, "no attempt made"
    with requests.Session() as session:
        for attempt in range(1, settings.website_attempts + 1):
            if attempt > 1:
                sleep(delay)
                delay *= 2
            try:
                response = session.post(webhook.url, data=content, headers=headers,
                                        timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS))
            except requests.RequestException as error:
                last_problem = f"{type(error).__name__} reaching {webhook.url}"
                continue
            answer = redact(" ".join(response.text.split()))[:ANSWER_CHARS_KEPT]
            status = response.status_code
            if 200 <= status < 300:
                return ReportOutcome(status="recorded", http_status=status, attempts=attempt,
                                     website_message=answer)
            if status >= 500 or status in RETRIED_STATUS:
                last_problem = f"HTTP {status}: {answer}"
                continue
            return ReportOutcome(status="refused", http_status=status, attempts=attempt,
                                 website_message=f"the webhook {webhook.url} refused the result "
                                                 f"(HTTP {status}): {answer}")
    raise WebsiteUnavailableError(f"the webhook {webhook.url} did not take the result after "
                                  f"{settings.website_attempts} attempts (last: {last_problem})")
