"""Telling a delivery's receiver how it ended: the website (`shared.website.callback`), a
standing rule's webhook (`shared.website.webhook`), or the operators only (nothing is POSTed;
they have the status and the e-mail)."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.core.config import Settings
from shared.core.models import ReportOutcome
from shared.core.naming import check_run_id
from shared.core.options import Receiver
from shared.core.request import DeliveryRequest
from shared.storage.clients import shared_clients
from shared.storage.work import REPORTS_PREFIX, WorkStore
from shared.website.callback import (
    WebsiteConfigurationError,
    WebsiteRejectedError,
    WebsiteUnavailableError,
    post_transfer_result,
    read_callback_body,
    transfer_result_body,
)
from shared.website.webhook import post_to_webhook


def report_result(
    request: DeliveryRequest,
    run_id: str,
    error_message: str | None,
    settings: Settings,
    *,
    receiver: Receiver | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReportOutcome:
    """Tell the website (or the delivery's other receiver: a standing rule's webhook, or the
    operators only) how the run ended: `error_message` when given (failure), otherwise the
    stored callback body with the manifest (success). See `post_transfer_result`.

    A refusal no retry can change (token, URL, body size, another 4xx) comes back as status
    `refused`, so the orchestrator decides on the outcome, not on an error's text; only an
    unavailable website raises (WebsiteUnavailableError), to be tried again later."""
    receiver = receiver or Receiver()
    if receiver.kind == "operators":
        return ReportOutcome(status="operators-only", http_status=0, attempts=0)
    if error_message is not None:
        body = transfer_result_body(request, error_message=error_message)
    else:
        body = read_callback_body(run_id, settings)
    if receiver.kind == "webhook":
        assert receiver.webhook is not None
        return post_to_webhook(body, receiver.webhook, settings, sleep=sleep)
    work = WorkStore(shared_clients(settings))
    try:
        outcome = post_transfer_result(body, settings, sleep=sleep)
    except WebsiteUnavailableError as unavailable:
        if unavailable.server_errors and error_message is None:
            work.create_once(website_error_name(run_id))
        raise
    except (WebsiteConfigurationError, WebsiteRejectedError) as refusal:
        return ReportOutcome(status="refused", http_status=refusal.http_status,
                             attempts=refusal.attempts, website_message=str(refusal))
    if error_message is None and outcome.status == "already-recorded" and (
            outcome.server_errors
            or work.container.get_blob_client(website_error_name(run_id)).exists()):
        # a 5xx answered an earlier POST of this result, which the website had saved
        return outcome.model_copy(update={"status": "recorded-after-error"})
    return outcome


def website_error_name(run_id: str) -> str:
    """Created when the website answers a success report 5xx: a later "not in TRANSFERRING
    state" then means it saved the manifest and failed after (its e-mail step)."""
    return f"{REPORTS_PREFIX}/{check_run_id(run_id)}/website-answered-5xx"
