"""The front end's limit on an HTTP response: 230 seconds.

"Regardless of the function app timeout setting, 230 seconds is the maximum amount of time
that an HTTP triggered function can take to respond to a request. This is because of the
default idle timeout of Azure Load Balancer." (MicrosoftDocs/azure-docs
``includes/functions-timeout-duration.md``); "If a function that uses the HTTP trigger doesn't
complete within 230 seconds, the Azure Load Balancer will time out and return an HTTP 502
error. The function will continue running but will be unable to return an HTTP response."
(``articles/azure-functions/functions-bindings-http-webhook-trigger.md``, Limits;
https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#limits).
Users have also reported a 500 in that case (MicrosoftDocs/azure-docs issues #94418 and
#112130); devhost answers the documented 502.

devhost applies it to every request from outside (triggers, the Durable HTTP API, webhooks;
not the Durable client's local RPC endpoint, which does not pass the front end): past the
limit the client gets 502 and the invocation runs on, its response discarded. The limit is
``DEVHOST_HTTP_FRONT_END_SECONDS`` (default 230; 0 turns it off), so a test can use 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("devhost")

FRONT_END_SETTING = "DEVHOST_HTTP_FRONT_END_SECONDS"
AZURE_FRONT_END_SECONDS = 230.0
TIMED_OUT_STATUS = 502
LOCAL_RPC_PREFIX = "/durabletask/"  # the Durable client binding's rpcBaseUrl, host-local

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def front_end_seconds(configured: str | None = None) -> float | None:
    """The limit from ``DEVHOST_HTTP_FRONT_END_SECONDS`` (``None``: no limit)."""
    text = configured if configured is not None else os.environ.get(FRONT_END_SETTING)
    if text is None or not text.strip():
        return AZURE_FRONT_END_SECONDS
    seconds = float(text)
    return seconds if seconds > 0 else None


def front_end(seconds: float | None):
    """aiohttp middleware: answer 502 when the app has not answered within ``seconds``."""

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if seconds is None or request.path.startswith(LOCAL_RPC_PREFIX):
            return await handler(request)
        answering = asyncio.ensure_future(handler(request))
        try:
            return await asyncio.wait_for(asyncio.shield(answering), seconds)
        except TimeoutError:
            log.warning("front end: %s %s not answered within %.0f s: 502 to the client; the "
                        "invocation runs on and its response is discarded", request.method,
                        request.path, seconds)
            answering.add_done_callback(_discarded)
            return web.Response(status=TIMED_OUT_STATUS,
                                text="502 Bad Gateway: the app did not answer in time.")

    return limit


def _discarded(answering: asyncio.Future) -> None:
    if answering.cancelled():
        return
    failure = answering.exception()
    log.warning("front end: a response discarded after the limit (%s)",
                f"{type(failure).__name__}" if failure else "completed")
