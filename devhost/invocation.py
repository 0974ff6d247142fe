"""Calling an app function as the Python worker calls it.

The worker (azure-functions-python-worker ``azure_functions_worker/dispatcher.py``,
``_handle__invocation_request``) awaits a coroutine function on its event loop and runs any
other function on its one thread pool for sync functions (``run_in_executor(self._sync_call_tp,
...)``). Its arguments are the trigger's value converted by azure.functions' converter for the
binding, the JSON of a durable client binding (which the Durable SDK's decorator turns into a
client), and ``context`` when the function takes a parameter of that name.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class InvocationContext:
    """The parts of ``azure.functions.Context`` a function may read."""

    invocation_id: str
    function_name: str
    function_directory: str
    trace_context: object = None
    retry_context: object = None


def arguments(function_name: str, app_dir: Path, trigger: tuple[str, Any],
              client_params: list[str], client_binding: str,
              wants_context: bool) -> dict[str, Any]:
    """The keyword arguments of one invocation: the trigger, client bindings, ``context``."""
    name, value = trigger
    kwargs: dict[str, Any] = {name: value}
    for client in client_params:
        kwargs[client] = client_binding
    if wants_context:
        kwargs["context"] = InvocationContext(str(uuid.uuid4()), function_name, str(app_dir))
    return kwargs


def is_async(user_function: Any) -> bool:
    return inspect.iscoroutinefunction(user_function)


async def call(user_function: Any, kwargs: dict[str, Any], executor: Executor | None) -> Any:
    """Await a coroutine function here; run a sync one on ``executor`` (the worker's pool)."""
    if is_async(user_function):
        return await user_function(**kwargs)
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(executor, functools.partial(user_function, **kwargs))
    if inspect.isawaitable(outcome):
        return await outcome
    return outcome
