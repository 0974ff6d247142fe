"""Start devhost: ``python -m devhost [--port 7071] [--app function_app.py] [--state FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from .config import (
    ROLES,
    HostConfigError,
    HostOptions,
    apply_settings,
    build_options,
    read_local_settings,
)
from .engine import DurableEngine
from .event_source import SUBSCRIPTIONS_SETTING, EventSource, SubscriptionError, parse_subscriptions
from .functions import FunctionIndex, InvalidAppError, index_functions, load_app_object
from .identity_standin import IdentityStandIn
from .instances import DurableInstance
from .limits import TimeoutConfigError, format_timespan
from .queue_polling import BackoffPolling, ImmediatePolling
from .server import DevHost
from .store import Store
from .worker_pool import WorkerPool

log = logging.getLogger("devhost")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", default="function_app.py", help="the app module file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEVHOST_PORT", 7071)))
    parser.add_argument("--state", default=None,
                        help="SQLite state file (default: .devhost/state.sqlite3 by the app)")
    parser.add_argument("--settings", default=None,
                        help="local.settings.json to read (default: the app's folder)")
    parser.add_argument("--max-activities", type=int, default=None,
                        help="concurrent activities (default: host.json "
                             "maxConcurrentActivityFunctions)")
    parser.add_argument("--task-hub", default=None)
    parser.add_argument("--function-timeout", default=None,
                        help="functionTimeout as a TimeSpan, e.g. 00:00:02 (default: "
                             "$DEVHOST_FUNCTION_TIMEOUT, else host.json, else 00:30:00)")
    parser.add_argument("--queue-polling", action="store_true",
                        help="find orchestration work as the Azure Storage queues are polled "
                             "(backoff up to maxQueuePollingInterval; or $DEVHOST_QUEUE_POLLING)")
    parser.add_argument("--split-instances", action="store_true",
                        help="HTTP triggers in this process, orchestrations and activities in "
                             "another, sharing only the state file, as on Flex Consumption")
    parser.add_argument("--role", choices=ROLES[1:], default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    app_path = Path(args.app).resolve()
    apply_settings(read_local_settings(app_path.parent,
                                       Path(args.settings) if args.settings else None))
    role = args.role or ("http" if args.split_instances else "single")
    options = build_options(app_path, Path(args.state).resolve() if args.state else None,
                            args.host, args.port, args.max_activities, args.task_hub,
                            args.function_timeout, args.queue_polling, role)
    # as the platform does for an app with a managed identity, before the app is loaded: an
    # identity endpoint (unless the caller gives one) and the app's host name
    identity = None
    if not os.environ.get("IDENTITY_ENDPOINT"):
        identity = IdentityStandIn().start()
        os.environ.update(identity.environ())
    os.environ.setdefault("WEBSITE_HOSTNAME", f"{options.host}:{options.port}")
    subscriptions = (parse_subscriptions(os.environ.get(SUBSCRIPTIONS_SETTING))
                     if options.serves_http else [])
    index = index_functions(load_app_object(app_path))
    pool = WorkerPool(options.worker_threads)
    store = Store(options.state_path, shared=role != "single")
    polling = (BackoffPolling(options.max_queue_polling_interval) if options.queue_polling
               else ImmediatePolling(idle=0.05 if role == "durable" else 1.0))
    engine = DurableEngine(index, store, options.max_activities, options.replace_running,
                           options.function_timeout, pool, polling)
    host = DevHost(options, index, engine, executor=pool)
    durable = None
    if args.split_instances:
        durable = await DurableInstance(args, options.state_path).start()
    keys_file = options.state_path.parent / "keys.json"
    if options.serves_http:
        write_keys(keys_file, options)

    runner = web.AppRunner(host.web_app() if options.serves_http else host.status_app(),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, options.host, options.port).start()
    if options.runs_durable:
        engine.start()
    describe(options, index, keys_file)
    events = None
    if subscriptions:
        events = EventSource(subscriptions, f"{options.base_url}/runtime/webhooks/eventgrid",
                             options.eventgrid_key)
        await asyncio.to_thread(events.start)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("devhost stopping")
    if events is not None:
        events.stop()
    if durable is not None:
        await asyncio.to_thread(durable.stop)
    engine.stop()
    await runner.cleanup()
    pool.shutdown(wait=False)
    store.close()
    if identity is not None:
        identity.stop()


def write_keys(keys_file: Path, options: HostOptions) -> None:
    keys_file.write_text(json.dumps({
        "functionKey": options.function_key, "masterKey": options.master_key,
        "systemKey": options.system_key,
        "systemKeys": {"durabletask_extension": options.system_key,
                       "eventgrid_extension": options.eventgrid_key}}))
    keys_file.chmod(0o600)


def describe(options: HostOptions, index: FunctionIndex, keys_file: Path) -> None:
    """Log what this process serves and how it is configured."""
    polling = (f"queues polled up to {format_timespan(options.max_queue_polling_interval)}"
               if options.queue_polling else "no queue polling delay")
    log.info("devhost %s on %s (app %s, state %s, %d activity slots, %d worker threads, "
             "functionTimeout %s, front end %s, %s, keys in %s)", options.role,
             options.base_url, options.app_path.name, options.state_path,
             options.max_activities, options.worker_threads,
             format_timespan(options.function_timeout) if options.function_timeout else "none",
             f"{options.front_end_seconds:g}s" if options.front_end_seconds else "unlimited",
             polling, keys_file)
    if options.serves_http:
        for function in index.http:
            log.info("  %s: [%s] %s/api/%s (auth %s)", function.name,
                     ",".join(function.methods) or "ANY", options.base_url, function.route,
                     function.auth_level.lower())
        for name in index.event_grid:
            log.info("  %s: eventGridTrigger %s/runtime/webhooks/eventgrid?functionName=%s",
                     name, options.base_url, name)
    if options.runs_durable:
        for name in index.orchestrators:
            log.info("  %s: orchestrationTrigger", name)
        for name in index.activities:
            log.info("  %s: activityTrigger", name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    name = f"%(name)s[{args.role}]" if args.role == "durable" else "%(name)s"
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {name}: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(args))
    except (InvalidAppError, TimeoutConfigError, SubscriptionError, HostConfigError) as exc:
        # what the Functions host would refuse: say so, name the function, do not start
        print(f"devhost cannot start the app:\n{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
