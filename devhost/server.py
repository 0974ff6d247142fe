"""The HTTP side of devhost: the app's HTTP triggers under /api/, and the Durable HTTP APIs.

- ``/api/<route>``: the app's HTTP triggers, with real ``azure.functions.HttpRequest`` and
  ``HttpResponse`` objects and the host's key checks for auth level FUNCTION and ADMIN.
- ``/runtime/webhooks/durabletask/...``: the public Durable HTTP API (what the URLs in
  ``create_check_status_response`` point at), guarded by the system key as on Azure.
- ``/durabletask/...``: the local RPC endpoint the SDK's ``DurableOrchestrationClient`` calls
  (the ``rpcBaseUrl`` of the client binding), on loopback only.
- ``/runtime/webhooks/eventgrid``: the Event Grid extension's webhook (``eventgrid.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import Executor

import azure.functions as func
from aiohttp import web
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

from .config import HostOptions
from .engine import Conflict, DurableEngine, Gone, NotFound
from .eventgrid import EventGridWebhook, FunctionFailed, presented_key
from .front_end import front_end
from .functions import EventGridFunction, FunctionIndex, HttpFunction
from .history import for_display
from .invocation import arguments, call
from .limits import timeout_message

log = logging.getLogger("devhost")
INSTANCE_PLACEHOLDER = "INSTANCEID"
CONTINUATION_HEADER = "x-ms-continuation-token"
DEFAULT_PAGE_SIZE = 100


class DevHost:
    def __init__(self, options: HostOptions, index: FunctionIndex, engine: DurableEngine,
                 executor: Executor | None = None):
        self.options = options
        self.index = index
        self.engine = engine
        self.executor = executor  # where sync functions run: the worker's thread pool
        self.event_grid = EventGridWebhook(
            index, lambda: (options.eventgrid_key, options.master_key), self.invoke_event_grid)

    # urls ---------------------------------------------------------------------------------
    @property
    def webhook_base(self) -> str:
        return f"{self.options.base_url}/runtime/webhooks/durabletask"

    def _webhook_query(self) -> str:
        return f"taskHub={self.options.task_hub}&connection=Storage&code={self.options.system_key}"

    def management_urls(self, instance_id: str = INSTANCE_PLACEHOLDER) -> dict[str, str]:
        instance = f"{self.webhook_base}/instances/{instance_id}"
        query = self._webhook_query()
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        }

    def client_binding(self) -> str:
        """The JSON the host gives a durableClient input binding."""
        code = f"code={self.options.system_key}"
        return json.dumps({
            "taskHubName": self.options.task_hub,
            "creationUrls": {
                "createNewInstancePostUri":
                    f"{self.webhook_base}/orchestrators/{{functionName}}[/{{instanceId}}]?{code}",
                "createAndWaitOnNewInstancePostUri":
                    f"{self.webhook_base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                    f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{code}",
            },
            "managementUrls": self.management_urls(),
            "baseUrl": self.webhook_base,
            "requiredQueryStringParameters": code,
            "rpcBaseUrl": f"{self.options.base_url}/durabletask/",
            "httpBaseUrl": "",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        })

    # app ----------------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=100 * 1024 * 1024,
                              middlewares=[front_end(self.options.front_end_seconds)])
        app.router.add_get("/", self.home)
        # [\s\S]: a decoded path may hold any character, a newline (%0A) too; ".*" would stop
        # there and aiohttp would answer 404 before the function saw the request
        app.router.add_route("*", r"/api/{tail:[\s\S]*}", self.http_trigger)
        app.router.add_route("*", r"/runtime/webhooks/durabletask/{tail:[\s\S]*}",
                             self.public_api)
        app.router.add_route("*", r"/durabletask/{tail:[\s\S]*}", self.rpc_api)
        self.event_grid.add_routes(app)
        return app

    def status_app(self) -> web.Application:
        """What a durable instance serves: its state only (it receives no HTTP traffic)."""
        app = web.Application()
        app.router.add_get("/", self.home)
        return app

    async def home(self, request: web.Request) -> web.Response:
        return web.json_response({"state": "Running", "role": self.options.role,
                                  "functions": self.index.names})

    def _presented_key(self, request: web.Request) -> str | None:
        return presented_key(request)

    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"].strip("/")
        found = self.index.find_http(request.method, path)
        if found is None:  # no route, or none for this method: 404 as on the host
            return web.Response(status=404)
        function, route_params = found
        if not self._authorized(function, self._presented_key(request)):
            return web.Response(status=401)
        body = await request.read()
        http_request = func.HttpRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers),
            params=dict(request.query),
            route_params=route_params,
            body=body,
        )
        try:
            response = await self._invoke(function, http_request)
        except Exception:
            log.exception("function %s raised", function.name)
            return web.Response(status=500)
        return _to_web_response(response)

    def _authorized(self, function: HttpFunction, key: str | None) -> bool:
        level = function.auth_level
        if level == "ANONYMOUS":
            return True
        if level == "ADMIN":
            return key == self.options.master_key
        return key in (self.options.function_key, self.options.master_key)

    async def _invoke(self, function: HttpFunction, http_request: func.HttpRequest):
        kwargs = arguments(function.name, self.options.app_path.parent,
                           (function.trigger_param, http_request), function.client_params,
                           self.client_binding(), function.wants_context)
        return await call(function.user_function, kwargs, self.executor)

    async def invoke_event_grid(self, function: EventGridFunction, event_json: str) -> None:
        """Run one event through an Event Grid function, as the worker binds it: the event
        converted by azure.functions' own EventGrid converter (an ``EventGridEvent``, or a
        ``CloudEvent`` for the CloudEvents schema), under ``functionTimeout``."""
        event = EventGridEventInConverter.decode(meta.Datum(type="json", value=event_json),
                                                 trigger_metadata=None)
        kwargs = arguments(function.name, self.options.app_path.parent,
                           (function.trigger_param, event), function.client_params,
                           self.client_binding(), function.wants_context)
        running = asyncio.ensure_future(call(function.user_function, kwargs, self.executor))
        timeout = self.options.function_timeout
        try:
            await asyncio.wait_for(asyncio.shield(running),
                                   None if timeout is None else timeout.total_seconds())
        except TimeoutError as exc:
            assert timeout is not None
            message = timeout_message(timeout, function.name)
            log.error("%s (it keeps running; its outcome is discarded)", message)
            raise FunctionFailed(message) from exc
        except Exception as exc:
            log.exception("function %s raised", function.name)
            raise FunctionFailed(
                f"Exception while executing function: Functions.{function.name}") from exc
        log.info("event grid function %s completed", function.name)

    # durable http api ---------------------------------------------------------------------
    async def public_api(self, request: web.Request) -> web.StreamResponse:
        if self._presented_key(request) not in (self.options.system_key, self.options.master_key):
            return web.Response(status=401)
        return await self._durable_api(request, request.match_info["tail"])

    async def rpc_api(self, request: web.Request) -> web.StreamResponse:
        if request.remote not in ("127.0.0.1", "::1"):
            return web.Response(status=403)
        return await self._durable_api(request, request.match_info["tail"])

    async def _durable_api(self, request: web.Request, tail: str) -> web.StreamResponse:
        parts = [p for p in tail.split("/") if p]
        method = request.method
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3) and method == "POST":
            return await self._start(request, parts[1], parts[2] if len(parts) == 3 else None)
        if parts[:1] != ["instances"]:
            return web.Response(status=404)
        if len(parts) == 1:
            if method == "GET":
                return self._query(request)
            if method == "DELETE":
                return self._purge_by(request)
        if len(parts) == 2:
            if method == "GET":
                return self._status(request, parts[1])
            if method == "DELETE":
                return self._purge_one(parts[1])
        if len(parts) == 3 and parts[2] == "terminate" and method == "POST":
            return self._call(self.engine.terminate, parts[1], request.query.get("reason", ""))
        if len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
            payload = _serialized_payload(await request.text())
            return self._call(self.engine.raise_event, parts[1], parts[3], payload)
        return web.Response(status=404)

    async def _start(self, request: web.Request, name: str, instance_id: str | None):
        input_json = _serialized_payload(await request.text())
        try:
            started = self.engine.start_new(name, instance_id, input_json)
        except NotFound as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=400)
        except Conflict as exc:
            return web.json_response({"ExceptionMessage": str(exc)}, status=409)
        payload = self.management_urls(started)
        return web.json_response(payload, status=202,
                                 headers={"Location": payload["statusQueryGetUri"]})

    def _status(self, request: web.Request, instance_id: str) -> web.Response:
        current = self.engine.instance(instance_id)
        if current is None:
            return web.Response(status=404, content_type="application/json")
        show_history = _flag(request, "showHistory")
        body = self._status_body(current, _flag(request, "showInput", True))
        if show_history:
            with_output = _flag(request, "showHistoryOutput")
            body["historyEvents"] = [for_display(e, with_output)
                                     for e in self.engine.history(instance_id)]
        status = 202 if current.runtime_status in ("Pending", "Running") else 200
        if current.runtime_status == "Failed" and _flag(request,
                                                         "returnInternalServerErrorOnFailure"):
            status = 500
        return web.json_response(body, status=status)

    @staticmethod
    def _status_body(current, show_input: bool) -> dict:
        body = {
            "name": current.name,
            "instanceId": current.instance_id,
            "runtimeStatus": current.runtime_status,
            "customStatus": _loads(current.custom_status),
            "output": _loads(current.output),
            "createdTime": current.created_time,
            "lastUpdatedTime": current.last_updated_time,
        }
        if show_input:
            body["input"] = _loads(current.input)
        return body

    def _filters(self, request: web.Request) -> dict:
        statuses = request.query.get("runtimeStatus")
        return {
            "statuses": [s for s in statuses.split(",") if s] if statuses else None,
            "created_from": request.query.get("createdTimeFrom"),
            "created_to": request.query.get("createdTimeTo"),
            "prefix": request.query.get("instanceIdPrefix"),
        }

    def _query(self, request: web.Request) -> web.Response:
        """One page of instances: `top` of them (the extension's default page is 100,
        `OrchestrationStatusQueryCondition.PageSize`), the rest behind the continuation token
        the extension's `HttpApiHandler` sends and takes in `x-ms-continuation-token`."""
        found = self.engine.query(**self._filters(request))
        token = request.headers.get(CONTINUATION_HEADER, "")
        start = int(token) if token.isdigit() else 0
        try:
            top = int(request.query.get("top") or DEFAULT_PAGE_SIZE)
        except ValueError:
            top = DEFAULT_PAGE_SIZE
        page = found[start:start + max(top, 1)]
        following = start + len(page)
        show_input = _flag(request, "showInput")
        return web.json_response([self._status_body(i, show_input) for i in page], headers={
            CONTINUATION_HEADER: str(following) if following < len(found) else ""})

    def _purge_one(self, instance_id: str) -> web.Response:
        deleted = self.engine.purge([instance_id])
        if not deleted:
            return web.Response(status=404, content_type="application/json")
        return web.json_response({"instancesDeleted": deleted})

    def _purge_by(self, request: web.Request) -> web.Response:
        candidates = [i.instance_id for i in self.engine.query(**self._filters(request))]
        deleted = self.engine.purge(candidates)
        if not deleted:
            return web.Response(status=404, content_type="application/json")
        return web.json_response({"instancesDeleted": deleted})

    @staticmethod
    def _call(operation, instance_id: str, *args) -> web.Response:
        try:
            operation(instance_id, *args)
        except NotFound:
            return web.json_response(f"No instance with ID '{instance_id}' found.", status=404)
        except Gone:
            return web.json_response(f"Instance with ID '{instance_id}' is gone.", status=410)
        return web.Response(status=202)


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    return value.lower() in ("true", "1", "yes")


def _loads(text: str | None):
    return None if text is None else json.loads(text)


def _serialized_payload(body: str) -> str | None:
    """The serialized input a client sent.

    The SDK posts its already-serialized JSON as a JSON string (``json=df_dumps(x)``); other
    clients (curl) post the JSON value itself. Either way the orchestration gets a JSON text.
    """
    if not body.strip():
        return None
    value = json.loads(body)
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(value)


def _to_web_response(response) -> web.Response:
    if response is None:
        return web.Response(status=204)
    if isinstance(response, str):
        return web.Response(status=200, text=response)
    if not isinstance(response, func.HttpResponse):
        return web.json_response(response)
    headers = {key: value for key, value in response.headers.items()
               if key.lower() != "content-length"}
    if "content-type" not in {key.lower() for key in headers} and response.mimetype:
        charset = f"; charset={response.charset}" if response.charset else ""
        headers["Content-Type"] = f"{response.mimetype}{charset}"
    return web.Response(status=response.status_code, body=response.get_body(), headers=headers)
