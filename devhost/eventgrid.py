"""The Event Grid extension's webhook, as the Functions host serves it.

Sources (azure-sdk-for-net ``sdk/eventgrid/Microsoft.Azure.WebJobs.Extensions.EventGrid/src``,
azure-functions-host ``src/WebJobs.Script.WebHost``):

- The URL is ``/runtime/webhooks/eventgrid?functionName=<name>``: the host maps
  ``runtime/webhooks/{extensionName}/{*extra}`` to the extension whose configuration section is
  that name, ignoring case (``Controllers/HostController.cs`` ``ExtensionWebHookHandler``,
  ``WebHooks/DefaultScriptWebHookProvider.cs``, a dictionary with ``OrdinalIgnoreCase``); the
  extension's section is ``EventGrid`` (``Config/EventGridExtensionConfigProvider.cs``,
  ``[Extension("EventGrid", "EventGrid")]``). ASP.NET routing ignores the case of the literal
  segments, and ``HttpUtility.ParseQueryString`` the case of parameter names.
- The key: the policy ``AuthLevelSystemKey`` admits the system key named
  ``<extension>_extension`` (``eventgrid_extension``), created per extension on first use
  (``DefaultScriptWebHookProvider.GetKeyName``, ``GetOrCreateExtensionKey``), or the master key
  (``Security/Authorization/Policies/AuthorizationOptionsExtensions.cs``, ``AuthUtility``);
  the key comes from the ``x-functions-key`` header, else the ``code`` query parameter
  (``AuthenticationLevelHandler.GetAuthorizationKeyInfoAsync``). Anything else is 401.
- The function name is looked up as written (a ``Dictionary<string, ...>`` keyed by the
  function's short name): an unknown one is 404 "cannot find function: '<name>'"
  (``EventGridExtensionConfigProvider.ProcessAsync``).
- ``aeg-event-type`` (compared ignoring case, ``TriggerBinding/HttpRequestProcessor.cs``):
  ``SubscriptionValidation`` answers 200 ``{"validationResponse":"<code>"}``, the code read
  from ``[0].data.validationCode`` (Event Grid schema) or from the double-encoded ``data`` of a
  CloudEvent; ``Notification`` takes a JSON array (an object is one event) and runs the
  function once per event, all at once; ``Unsubscribe`` is 202; no or another header is 400. An
  ``OPTIONS`` request is the CloudEvents handshake: 200 with ``WebHook-Allowed-Origin``. A
  Python function binds no .NET event type, so both schemas are accepted.
- After a notification, 202 if every invocation succeeded, else 500 with the first failure's
  message, "Exception while executing function: Functions.<name>" (azure-webjobs-sdk
  ``Executors/FunctionExecutor.cs`` ``GetExceptionDispatchInfo``), which Event Grid retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from .functions import EventGridFunction, FunctionIndex

log = logging.getLogger("devhost")

EXTENSION_NAME = "eventgrid"
SYSTEM_KEY_NAME = f"{EXTENSION_NAME}_extension"
ROUTE = r"/{root:(?i:runtime/webhooks)}/{extension:(?i:eventgrid)}{extra:(/.*)?}"
EVENT_TYPE_HEADER = "aeg-event-type"
PUBLIC_CLOUD_ORIGIN = "eventgrid.azure.net"
KNOWN_ORIGINS = (PUBLIC_CLOUD_ORIGIN, "eventgrid.azure.us", "eventgrid.azure.eaglex.ic.gov",
                 "eventgrid.azure.microsoft.scloud", "eventgrid.azure.cn")
ACCEPTED_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS")

# runs one event through a function; raises what the invocation raised
Invoke = Callable[[EventGridFunction, str], Awaitable[None]]


class FunctionFailed(Exception):
    """An invocation failed; the message is the host's FunctionInvocationException message."""


def presented_key(request: web.Request) -> str | None:
    """The key the host reads: the ``x-functions-key`` header, else ``code`` (any case)."""
    header = request.headers.get("x-functions-key")
    if header is not None:
        return header
    return query_value(request, "code")


def query_value(request: web.Request, name: str) -> str | None:
    """A query parameter, its name compared ignoring case (the first one given)."""
    for key, value in request.query.items():
        if key.lower() == name.lower():
            return value
    return None


class EventGridWebhook:
    """``/runtime/webhooks/eventgrid``: keys, the handshake, notifications."""

    def __init__(self, index: FunctionIndex, keys: Callable[[], tuple[str, str]],
                 invoke: Invoke):
        self.index = index
        self._keys = keys  # (the eventgrid_extension system key, the master key)
        self._invoke = invoke

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", ROUTE, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ACCEPTED_METHODS:
            return web.Response(status=405)
        if presented_key(request) not in self._keys():
            return web.Response(status=401)
        name = query_value(request, "functionName") or ""
        function = self.index.event_grid.get(name)
        if function is None:
            log.info("cannot find function: '%s', available function names: [%s]", name,
                     ", ".join(self.index.event_grid))
            return web.Response(status=404, text=f"cannot find function: '{name}'")
        if request.method == "OPTIONS":
            origin = request.headers.get("WebHook-Request-Origin")
            allowed = origin if origin in KNOWN_ORIGINS else PUBLIC_CLOUD_ORIGIN
            return web.Response(status=200, headers={"WebHook-Allowed-Origin": allowed})
        kind = (request.headers.get(EVENT_TYPE_HEADER) or "").lower()
        if kind == "subscriptionvalidation":
            return await self._validate(request, name)
        if kind == "notification":
            return await self._notify(request, function)
        if kind == "unsubscribe":
            return web.Response(status=202)
        return web.Response(status=400)

    @staticmethod
    async def _validate(request: web.Request, name: str) -> web.Response:
        body = json.loads(await request.text())
        if isinstance(body, list):
            code = body[0]["data"]["validationCode"]
        elif isinstance(body, dict):
            data = body["data"]
            code = (json.loads(data) if isinstance(data, str) else data)["validationCode"]
        else:
            return web.Response(status=500, text="The request content should be parseable "
                                                 "into a JSON object or array.")
        log.info("perform handshake with eventGrid for function: %s", name)
        return web.Response(status=200, text=json.dumps({"validationResponse": str(code)},
                                                         separators=(",", ":")))

    async def _notify(self, request: web.Request, function: EventGridFunction) -> web.Response:
        body = json.loads(await request.text())
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            return web.Response(status=500, text="The request content should be parseable "
                                                 "into a JSON object or array.")
        outcomes = await asyncio.gather(
            *(self._invoke(function, json.dumps(event)) for event in body),
            return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                return web.Response(status=500, text=str(outcome))
        return web.Response(status=202)
