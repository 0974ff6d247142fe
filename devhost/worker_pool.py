"""The Python worker's thread pool: every sync function of the app runs on one pool.

azure-functions-python-worker ``azure_functions_worker/dispatcher.py`` (4.34, the worker of
Python 3.11 apps): ``_handle__invocation_request`` runs a sync function with
``loop.run_in_executor(self._sync_call_tp, ...)`` and awaits a coroutine function on the
worker's event loop. ``_sync_call_tp`` is one ``ThreadPoolExecutor`` for all sync functions:
HTTP triggers, activities, orchestrator episodes (the Durable SDK's orchestrator handle is
sync), Event Grid triggers. Its size (``_get_sync_tp_max_workers``) is the app setting
``PYTHON_THREADPOOL_THREAD_COUNT`` when it is an integer of at least 1 (else a warning and the
default); from Python 3.9 the default is ``None``, which ``ThreadPoolExecutor`` turns into
``min(32, os.cpu_count() + 4)``: 5 threads on a one-core instance (a 2,048 MB Flex Consumption
instance), 6 on two cores.

So an invocation can wait in the pool's queue behind others (first come, first served) while
the host already counts it as running: the Durable extension's activity and orchestrator slots
(``maxConcurrentActivityFunctions``, ``maxConcurrentOrchestratorFunctions``) are the host's,
the threads are the worker's. Coroutine functions do not take a thread; devhost runs async
activities on one event loop of the "worker", and async HTTP and Event Grid functions on its
server's loop.

A worker restart (after a timed-out invocation) replaces the pool: queued activities are
dropped (they fail at their own timeout, as their results never arrive), queued episodes and
HTTP invocations move to the new pool and run (on Azure they are lost with the process: a
difference devhost/README.md lists), and the threads still running in the old pool run on
outside it (a thread cannot be killed).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("devhost")

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
MAX_DEFAULT_THREADS = 32


def worker_pool_size(setting: str | None, cpu_count: int | None = None) -> int:
    """The pool size the worker gives its sync functions: the setting if valid, else
    ``ThreadPoolExecutor``'s default for the machine's cores."""
    if setting is not None and setting.strip():
        try:
            value = int(setting)
        except ValueError:
            log.warning("%s must be an integer", THREAD_COUNT_SETTING)
        else:
            if value >= 1:
                return value
            log.warning("%s must be set to a value between 1 and sys.maxint. Reverting to "
                        "default value for max_workers", THREAD_COUNT_SETTING)
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return min(MAX_DEFAULT_THREADS, cores + 4)


@dataclass(eq=False)
class _Job:
    run: Callable[[], Any]
    future: Future
    sent_again: bool  # moves to the new pool at a worker restart (else dropped)


class WorkerPool(Executor):
    """A fixed number of threads taking invocations first come, first served."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._generation = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._busy = 0
        self._shutdown = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_threads()

    def _start_threads(self) -> None:
        for number in range(self.size):
            threading.Thread(target=self._work, args=(self._generation, self._queue),
                             name=f"worker-{self._generation}-{number}", daemon=True).start()

    def _work(self, generation: int, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy += 1
            try:
                job.future.set_result(job.run())
            except BaseException as exc:
                job.future.set_exception(exc)
            finally:
                with self._lock:
                    self._busy -= 1
            if generation != self._generation:
                return  # its pool was replaced: this thread leaves with its invocation

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Queue an invocation that moves to the new pool at a worker restart."""
        return self.submit_invocation(lambda: fn(*args, **kwargs), sent_again=True)

    def submit_invocation(self, run: Callable[[], Any], sent_again: bool) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the worker is stopped")
            self._queue.put(_Job(run, future, sent_again))
        return future

    def run_coroutine(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine function's invocation on the worker's event loop; its result."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="worker-loop",
                                 daemon=True).start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def restart(self) -> None:
        """A new worker process: a new pool; queued invocations marked ``sent_again`` move to
        it, the others are dropped; running threads finish outside it."""
        with self._lock:
            old = self._queue
            self._generation += 1
            self._queue = queue.SimpleQueue()
            moved = dropped = 0
            while True:
                try:
                    job = old.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    continue
                if job.sent_again:
                    self._queue.put(job)
                    moved += 1
                else:
                    job.future.cancel()
                    dropped += 1
            for _ in range(self.size):
                old.put(None)
            self._start_threads()
        log.warning("worker restarted: a new pool of %d threads; %d queued invocations sent "
                    "again, %d dropped", self.size, moved, dropped)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            for _ in range(self.size):
                self._queue.put(None)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
