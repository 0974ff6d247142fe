"""The Durable engine of devhost: instances, episodes and their commits, client operations.

It plays the part of the Durable extension and the Durable Task Framework: it keeps each
instance's history, hands the whole history to the SDK's own ``Orchestrator`` every episode
(replaying from the start, as the host does; ``episode.py``), checks the replayed actions
against the history (``replay.py``), and commits what is new in one transaction. Activities
run at least once, under ``functionTimeout`` (``activities.py``). Episodes and sync
activities run on the worker's one thread pool (``worker_pool.py``); the dispatcher looks for
work at once or as the Azure Storage queues are polled (``queue_polling.py``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import replace
from datetime import timedelta

from .activities import ActivityRunner
from .episode import Episode, admit, execution_started, run_episode
from .functions import FunctionIndex
from .history import EventType, event, timestamp
from .jsontypes import JsonObject, JsonValue
from .queue_polling import BackoffPolling, ImmediatePolling
from .replay import continue_as_new_action
from .store import Instance, Store, WorkItem
from .worker_pool import WorkerPool

log = logging.getLogger("devhost")

# continue-as-new runs the next execution in the same work item, as DTFx does; an orchestrator
# that continues this many times without waiting for anything goes back through the inbox, so
# that a terminate can still reach it
MAX_INLINE_GENERATIONS = 100


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


class Gone(Exception):
    pass


class DurableEngine:
    def __init__(self, index: FunctionIndex, store: Store, max_activities: int = 8,
                 replace_running: bool = True,
                 function_timeout: timedelta | None = timedelta(minutes=30),
                 pool: WorkerPool | None = None,
                 polling: ImmediatePolling | BackoffPolling | None = None):
        self.index = index
        self.store = store
        self.max_activities = max_activities
        self.replace_running = replace_running
        self.pool = pool or WorkerPool(max_activities + 1)
        self.polling = polling or ImmediatePolling()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self.activities = ActivityRunner(index, store, max_activities, function_timeout,
                                         self._wake.set, self.pool)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="orchestrations",
                                            daemon=True)

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        with self.store.lock:
            pending = self.store.all_work()
        self.activities.start()
        for work in pending:
            log.info("activity %s instance=%s task=%s resumed after restart", work.name,
                     work.instance_id, work.task_id)
            self.activities.submit(work)
        self._dispatcher.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self.activities.stop()
        if self._dispatcher.is_alive():
            self._dispatcher.join(timeout=10)

    # client operations ----------------------------------------------------------------------
    def start_new(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        if name not in self.index.orchestrators:
            raise NotFound(f"The function '{name}' doesn't exist, is disabled, or is not an "
                           "orchestrator function.")
        instance_id = instance_id or uuid.uuid4().hex
        with self.store.transaction():
            existing = self.store.get_instance(instance_id)
            if existing is not None and not existing.is_terminal and not self.replace_running:
                raise Conflict(f"An Orchestration instance with the status "
                               f"{existing.runtime_status} already exists.")
            if existing is not None:  # a new execution replaces the old one, as on Azure
                self.store.delete_instance(instance_id)
            self._create_instance(instance_id, name, input_json, None, None)
        self._wake.set()
        log.info("started %s instance=%s", name, instance_id)
        return instance_id

    def _create_instance(self, instance_id: str, name: str, input_json: str | None,
                         parent_id: str | None, parent_task_id: int | None) -> None:
        now = timestamp()
        created = Instance(instance_id, name, "Pending", input_json, None, None, now, now,
                           parent_id, parent_task_id)
        self.store.put_instance(created)
        self.store.add_inbox(instance_id, 0, execution_started(created), time.time())

    def instance(self, instance_id: str) -> Instance | None:
        with self.store.lock:
            return self.store.get_instance(instance_id)

    def history(self, instance_id: str) -> list[JsonObject]:
        with self.store.lock:
            return list(self.store.history(instance_id))

    def query(self, statuses: list[str] | None = None, created_from: str | None = None,
              created_to: str | None = None, prefix: str | None = None) -> list[Instance]:
        with self.store.lock:
            return self.store.query_instances(statuses, created_from, created_to, prefix)

    def raise_event(self, instance_id: str, name: str, payload_json: str | None) -> None:
        self._send(instance_id, event(EventType.EventRaised, Name=name, Input=payload_json))

    def terminate(self, instance_id: str, reason: str) -> None:
        self._send(instance_id, event(EventType.ExecutionTerminated, Input=json.dumps(reason)))

    def _send(self, instance_id: str, message: JsonObject) -> None:
        with self.store.transaction():
            target = self.store.get_instance(instance_id)
            if target is None:
                raise NotFound(instance_id)
            if target.is_terminal:
                raise Gone(instance_id)
            self.store.add_inbox(instance_id, target.generation, message, time.time())
        self._wake.set()

    def purge(self, instance_ids: list[str]) -> int:
        deleted = 0
        with self.store.transaction():
            for instance_id in instance_ids:
                target = self.store.get_instance(instance_id)
                if target is not None and target.is_terminal:
                    self.store.delete_instance(instance_id)
                    deleted += 1
        return deleted

    # orchestrations -------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            with self.store.lock:
                ready = self.store.ready_instances(time.time())
            for instance_id in ready:
                if self._stopping.is_set():
                    return
                try:
                    self.run_work_item(instance_id)
                except Exception as exc:
                    log.exception("episode of instance=%s failed inside devhost", instance_id)
                    self._fail_instance(instance_id, f"devhost could not run an episode: {exc}")
            if ready:
                self.polling.found(self._wake)
                continue
            with self.store.lock:
                next_at = self.store.next_visible_at()
            self.polling.wait(self._wake, next_at)

    def _episode(self, current: Instance, history: list[JsonObject],
                 new_events: list[JsonObject]) -> Episode:
        """One orchestrator invocation, on a thread of the worker's pool (the dispatcher waits
        for it, as the extension waits for the worker's answer)."""
        return self.pool.submit(run_episode, self.index, current, history, new_events).result()

    def run_work_item(self, instance_id: str) -> None:
        """Run one work item of ``instance_id``: its waiting events, one episode, one commit."""
        started = time.perf_counter()
        cpu_started = time.thread_time()
        with self.store.lock:
            current = self.store.get_instance(instance_id)
            items = self.store.take_inbox(instance_id, time.time())
            history = list(self.store.history(instance_id)) if current else []
        consumed = [item.id for item in items]
        if current is None or current.is_terminal:
            with self.store.transaction():
                self.store.delete_inbox(consumed)
            return
        new_events, terminated = admit(current, history, items)
        if terminated is not None:
            self._finish_terminated(current, terminated)
            return
        if not new_events:
            with self.store.transaction():
                self.store.delete_inbox(consumed)
            return

        episode = self._episode(current, history, new_events)
        executed = current
        generations = 0
        # DTFx runs the next execution of a continued-as-new orchestration in the same work
        # item and commits only its state (durabletask src/DurableTask.Core/
        # TaskOrchestrationDispatcher.cs, OnProcessWorkItemAsync: do { ... } while
        # (continuedAsNew)), so the status store never holds ContinuedAsNew between them
        while episode.status == "ContinuedAsNew" and generations < MAX_INLINE_GENERATIONS:
            executed = self._next_generation(executed, episode)
            generations += 1
            episode = self._episode(executed, [], [execution_started(executed)])
        self._commit(current, executed, consumed, episode)
        log.info("episode %s instance=%s events_in=%d history=%d scheduled=%d status=%s "
                 "generations=%d wall=%.1fms cpu=%.1fms", current.name, instance_id,
                 len(new_events), (0 if generations else len(history)) + len(episode.events),
                 episode.changes.scheduled, episode.status, generations + 1,
                 (time.perf_counter() - started) * 1000,
                 (time.thread_time() - cpu_started) * 1000)

    @staticmethod
    def _next_generation(executed: Instance, episode: Episode) -> Instance:
        """The instance as its next execution starts: new input, no history, the custom status
        carried over (DTFx keeps the last one unless the new execution sets its own)."""
        restart = continue_as_new_action(episode.state) or {}
        restart_input = restart.get("input")
        return replace(
            executed, generation=executed.generation + 1, retry_event_ids=set(),
            input=restart_input if isinstance(restart_input, str) or restart_input is None
            else json.dumps(restart_input),
            custom_status=(json.dumps(episode.custom_status) if episode.has_custom_status
                           else executed.custom_status))

    def _commit(self, started_as: Instance, current: Instance, consumed: list[int],
                episode: Episode) -> None:
        """Write an episode (of ``current``, a later generation of ``started_as`` if it
        continued as new) in one transaction, then start the work it scheduled."""
        instance_id = current.instance_id
        status = episode.status
        changes = episode.changes
        completion_message: JsonObject | None = None
        to_submit: list[WorkItem] = []
        with self.store.transaction():
            stored = self.store.get_instance(instance_id)
            if stored is None or (stored.created_time, stored.generation) != (
                    started_as.created_time, started_as.generation):
                return  # purged or replaced by a new start while this episode ran
            self.store.delete_inbox(consumed)
            if current.generation != started_as.generation:
                self.store.delete_work_of(instance_id)
                self.store.clear_history(instance_id)
            if episode.has_custom_status:
                current.custom_status = json.dumps(episode.custom_status)
            current.last_updated_time = timestamp()
            if status == "ContinuedAsNew":  # MAX_INLINE_GENERATIONS reached: via the inbox
                self.store.delete_work_of(instance_id)
                self.store.clear_history(instance_id)
                following = self._next_generation(current, episode)
                following.runtime_status = "Running"
                self.store.add_inbox(instance_id, following.generation,
                                     execution_started(following), time.time())
                self.store.put_instance(following)
            else:
                closing = [event(EventType.OrchestratorCompleted)]
                if status == "Completed":
                    output_json = json.dumps(episode.state.get("output"))
                    current.output = output_json
                    closing.append(event(EventType.ExecutionCompleted, Result=output_json,
                                         OrchestrationStatus="Completed"))
                    completion_message = event(EventType.SubOrchestrationInstanceCompleted,
                                               TaskScheduledId=current.parent_task_id,
                                               Result=output_json)
                elif status == "Failed":
                    message = f"Orchestrator function '{current.name}' failed: {episode.error}"
                    current.output = json.dumps(message)
                    closing.append(event(EventType.ExecutionCompleted, Result=json.dumps(message),
                                         OrchestrationStatus="Failed"))
                    completion_message = event(EventType.SubOrchestrationInstanceFailed,
                                               TaskScheduledId=current.parent_task_id,
                                               Reason=message, Details=None)
                    self.store.delete_work_of(instance_id)
                current.runtime_status = status
                current.retry_event_ids |= changes.retry_ids
                self.store.append_history(instance_id, [
                    dict(e, IsPlayed=True) for e in [*episode.events, *changes.history,
                                                     *closing]])
                for task_id, name, input_json in changes.work:
                    work_id = self.store.add_work(instance_id, current.generation, task_id, name,
                                                  input_json)
                    to_submit.append(WorkItem(work_id, instance_id, current.generation, task_id,
                                              name, input_json))
                for fired, due in changes.timers:
                    self.store.add_inbox(instance_id, current.generation, fired, due)
                for child_id, name, input_json, task_id in changes.children:
                    self._start_child(current, child_id, name, input_json, task_id)
                self.store.put_instance(current)
            if completion_message is not None and current.parent_instance_id:
                self._notify_parent(current, completion_message)
        for work in to_submit:
            self.activities.submit(work)
        if status == "ContinuedAsNew" or changes.children or completion_message:
            self._wake.set()

    def _start_child(self, parent: Instance, child_id: str, name: str, input_json: str | None,
                     task_id: int) -> None:
        existing = self.store.get_instance(child_id)
        if existing is not None and not existing.is_terminal:
            self.store.add_inbox(parent.instance_id, parent.generation, event(
                EventType.SubOrchestrationInstanceFailed, TaskScheduledId=task_id,
                Reason=f"An orchestration instance with the id '{child_id}' is "
                       f"already {existing.runtime_status}.", Details=None), time.time())
            return
        if existing is not None:
            self.store.delete_instance(child_id)
        self._create_instance(child_id, name, input_json, parent.instance_id, task_id)

    def _notify_parent(self, child: Instance, message: JsonObject) -> None:
        if child.parent_instance_id is None:
            return
        parent = self.store.get_instance(child.parent_instance_id)
        if parent is not None and not parent.is_terminal:
            self.store.add_inbox(parent.instance_id, parent.generation, message, time.time())

    def _fail_instance(self, instance_id: str, message: str) -> None:
        with self.store.transaction():
            current = self.store.get_instance(instance_id)
            if current is None or current.is_terminal:
                self.store.delete_inbox_of(instance_id)
                return
            self._end_instance(current, "Failed", message, parent_reason=message)

    def _finish_terminated(self, current: Instance, message: JsonObject) -> None:
        reason_json = message.get("Input")
        reason = json.loads(reason_json) if isinstance(reason_json, str) else None
        with self.store.transaction():
            self.store.append_history(current.instance_id, [dict(message, IsPlayed=True)])
            self._end_instance(
                current, "Terminated", reason,
                parent_reason=f"Sub-orchestration '{current.instance_id}' was terminated: "
                              f"{reason}")
        log.info("terminated instance=%s reason=%s", current.instance_id, reason)
        self._wake.set()

    def _end_instance(self, current: Instance, status: str, output: JsonValue,
                      parent_reason: str) -> None:
        """Stop an instance outside an episode (inside the caller's transaction): drop its
        pending messages and work, record the status, and tell its parent it failed."""
        self.store.delete_inbox_of(current.instance_id)
        self.store.delete_work_of(current.instance_id)
        current.runtime_status = status
        current.output = json.dumps(output)
        current.last_updated_time = timestamp()
        self.store.put_instance(current)
        if current.parent_instance_id:
            self._notify_parent(current, event(
                EventType.SubOrchestrationInstanceFailed,
                TaskScheduledId=current.parent_task_id, Reason=parent_reason, Details=None))
