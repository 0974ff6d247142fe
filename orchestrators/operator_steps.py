"""Orchestration steps for the operators' side, used by the orchestrators (deterministic).

`notify_operators` schedules the e-mail activity once an outcome is known. It never raises:
a mail that cannot be sent must not fail or hold up a delivery, so no retry policy either.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities import notify_operators as notify_activity
from shared.notify import NotifyInput
from shared.progress import DeliveryRun


def notify_operators(context: df.DurableOrchestrationContext, run: DeliveryRun,
                     error: BaseException | None = None):
    notify_input = NotifyInput(request=run.request, run_id=run.run_id, progress=run.progress(),
                               error=_first_line(error) if error is not None else None)
    try:
        outcome: Any = yield context.call_activity(notify_activity.NAME, notify_input)
    except Exception:
        return None
    return outcome


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
