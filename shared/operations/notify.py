"""E-mail to the operators when a delivery ends badly (and, if wanted, when it succeeds).

Sent through Azure Communication Services (`azure-communication-email`) with the app's managed
identity, from `DDD_NOTIFY_SENDER` to `DDD_NOTIFY_TO`, at `DDD_NOTIFY_EMAIL_ENDPOINT`; with
those unset nothing is sent. A delivery that failed, was refused, went stale or could not be
reported is always mailed, and so is one the website recorded after answering an error (it
may not have e-mailed the recipients); a delivered one when `DDD_NOTIFY_ON_SUCCESS` is true.
The mail names the delivery id, source, destination, what happened, the counts, and the status
URL.

Once per outcome: a marker in the work container (`notifications/<run id>/<phase>.json`, created
only if absent) is claimed before sending, so a second run of the activity (a host restart, a
replay) sends nothing more; a crash in the moment between the claim and the send loses that
mail rather than sending it twice. A mail that cannot be sent is a `failed` outcome (logged),
never an error: it neither fails nor holds up the delivery, and the send is bounded
(`SEND_TIMEOUT_SECONDS`, 10 s / 30 s per request, 2 retries).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from azure.communication.email import EmailClient
from azure.core.exceptions import AzureError

from shared.core.config import Settings
from shared.core.messages import NotifyInput, NotifyOutcome
from shared.core.operator_settings import notify_recipients
from shared.operations.telemetry import log_event
from shared.storage import identity
from shared.storage.clients import shared_clients
from shared.storage.errors import redact
from shared.storage.transport import RETRIES, bounded_transport
from shared.storage.work import WorkStore

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 60
POLL_SECONDS = 2
NOTIFICATIONS_PREFIX = "notifications"
ALWAYS_MAILED = ("failed", "refused", "stale", "unreported", "cancelled",
                 "delivered-website-error", "delivered-source-kept")
DELIVERED_TEXT = "every file was copied and verified, and the website recorded the manifest."
WHAT_HAPPENED = {
    "delivered": "was delivered",
    "failed": "failed",
    "refused": "was refused",
    "stale": "went stale (the website has a newer attempt)",
    "unreported": "could not be reported to the website",
    "cancelled": "was cancelled by an operator",
    "delivered-website-error": ("was delivered, but the website may not have e-mailed the "
                                "recipients"),
    "delivered-source-kept": "was delivered, but its source folder could not all be removed",
}


_clients: dict[tuple[str, str | None], EmailClient] = {}
_clients_lock = threading.Lock()


def outcome_of(notify_input: NotifyInput) -> str:
    phase = str(notify_input.progress.get("phase") or "")
    if notify_input.error is not None and phase not in ALWAYS_MAILED:
        return "failed"
    return phase


def notification_name(run_id: str, outcome: str) -> str:
    return f"{NOTIFICATIONS_PREFIX}/{run_id}/{outcome}.json"


def status_url(settings: Settings, run_id: str) -> str | None:
    """The delivery's status URL on this app (WEBSITE_HOSTNAME, set by the platform)."""
    base = settings.public_base_url
    return f"{base}/api/deliveries/{run_id}" if base else None


def compose(notify_input: NotifyInput, outcome: str, settings: Settings) -> dict[str, Any]:
    """The EmailMessage: subject and plain text for people, no secret."""
    request, progress = notify_input.request, notify_input.progress
    happened = WHAT_HAPPENED.get(outcome, outcome)
    message = notify_input.error or progress.get("message") or \
        (DELIVERED_TEXT if outcome == "delivered" else happened)
    lines = [
        f"Delivery {request.delivery_id} {happened}.",
        "",
        f"What happened: {message}",
        f"Source: {request.source_account}/{request.source_container}/{request.source_folder}",
        f"Destination: {request.sink_account}/{request.sink_container}/{request.sink_folder}",
        f"Files: {progress.get('files_planned')} planned, {progress.get('files_verified')} "
        f"verified, {progress.get('files_failed')} failed",
        f"Bytes: {progress.get('bytes_planned')} planned, {progress.get('bytes_verified')} "
        "verified",
        f"Delivery id: {request.delivery_id}; transfer UUID: {request.transfer_uuid}",
        f"Instance: {notify_input.run_id}",
    ]
    url = status_url(settings, notify_input.run_id)
    if url:
        lines.append(f"Status: {url} (with a function key)")
    return {
        "senderAddress": settings.notify_sender,
        "recipients": {"to": [{"address": address}
                              for address in notify_recipients(settings.notify_to)]},
        "content": {"subject": f"[ddd-transfer] Delivery {request.delivery_id} {happened}",
                    "plainText": redact("\n".join(lines))},
    }


def _email_client(settings: Settings) -> EmailClient:
    assert settings.notify_email_endpoint is not None
    key = (settings.notify_email_endpoint, settings.azure_client_id)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = EmailClient(settings.notify_email_endpoint,
                                 identity.azure_ad_credential(settings),
                                 transport=bounded_transport(settings.notify_email_endpoint),
                                 retry_total=RETRIES)
            _clients[key] = client
        return client


def notify_operators(notify_input: NotifyInput, settings: Settings) -> NotifyOutcome:
    """Mail the operators about this outcome, once (see the module doc); log the outcome as
    `ddd.delivery.outcome` whether or not a mail is wanted (the alert on failed deliveries
    counts these lines)."""
    outcome = outcome_of(notify_input)
    progress = notify_input.progress
    log_event("delivery.outcome", logging.INFO if outcome == "delivered" else logging.WARNING,
              instance_id=notify_input.run_id, delivery_id=notify_input.request.delivery_id,
              transfer_uuid=notify_input.request.transfer_uuid, phase=outcome,
              files_planned=progress.get("files_planned"),
              files_verified=progress.get("files_verified"),
              files_failed=progress.get("files_failed"),
              bytes_verified=progress.get("bytes_verified"),
              message=redact(str(notify_input.error or progress.get("message") or ""))[:300])
    if settings.notify_email_endpoint is None:
        return NotifyOutcome(status="not-configured")
    # a delivery whose receiver is the operators: they hear every outcome
    told_operators = (progress.get("options") or {}).get("told") == "operators"
    if outcome not in ALWAYS_MAILED and not told_operators and not (
            outcome == "delivered" and settings.notify_on_success):
        return NotifyOutcome(status="not-wanted", detail=outcome)
    marker = notification_name(notify_input.run_id, outcome)
    store = WorkStore(shared_clients(settings))
    store.ensure_container()
    if not store.create_once(marker):
        return NotifyOutcome(status="already-sent", detail=marker)
    sent = _send(compose(notify_input, outcome, settings), settings)
    store.write_json(marker, sent.to_json())
    log = logger.info if sent.status == "sent" else logger.warning
    log("notification for %s (%s): %s %s", notify_input.run_id, outcome, sent.status,
        sent.detail)
    return sent


def _send(message: dict[str, Any], settings: Settings) -> NotifyOutcome:
    try:
        poller = _email_client(settings).begin_send(message, polling_interval=POLL_SECONDS)
        result = poller.result(timeout=SEND_TIMEOUT_SECONDS)
    except AzureError as error:
        return NotifyOutcome(status="failed", detail=_describe(error))
    if not poller.done() or not isinstance(result, dict):
        return NotifyOutcome(status="failed",
                             detail=f"not confirmed within {SEND_TIMEOUT_SECONDS} s")
    if result.get("status") != "Succeeded":
        return NotifyOutcome(status="failed", detail=f"status {result.get('status')}: "
                                                     f"{result.get('error')}")
    return NotifyOutcome(status="sent", detail=str(result.get("id", "")))


def _describe(error: AzureError) -> str:
    status = getattr(error, "status_code", None)
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return redact(f"{type(error).__name__}{f' (HTTP {status})' if status else ''}: {first}")[:300]
