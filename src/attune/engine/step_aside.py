"""A runtime worker that hands tasks back stands aside for a while, so that another worker of
its pool gets the next attempts.

Temporal, not the worker, picks which worker runs each attempt, and one that hands tasks back
(it lacks a pack's files or the deployment's key) often polled first: with one such worker and
one good one on a queue, every attempt of 3 runs in 20 reached it and the runs failed. Polling
is what a slot supplier controls (the SDK reserves a slot before each poll), so the runtime
workers' activity slots come from `StepAside`."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import (
    CustomSlotSupplier,
    FixedSizeSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
    WorkerTuner,
)

from attune.engine.activities import WORKER
from attune.engine.client import live_pollers

FIRST_PAUSE = 5.0  # longer than a hand-back's first retry delay (INFRA_RETRY: 1 s, then 2, 4, 8)
# Above the longest retry delay (8 s), and short: right after the last good worker stops,
# Temporal lists it for about a minute, and a bad worker alone still stands aside meanwhile
# (a task then took 98 s to fail with 60 s here).
MAX_PAUSE = 20.0
log = logging.getLogger(__name__)


class _Permit(SlotPermit):
    __slots__ = ("handbacks",)

    def __init__(self) -> None:
        self.handbacks = -1  # the worker's hand-backs when the slot's task started


class StepAside(CustomSlotSupplier):
    """`slots` activity slots, as a fixed-size supplier, except that none is reserved (so the
    worker does not poll) while it stands aside: after it hands a task back, when another
    worker polls the queue, for FIRST_PAUSE, doubling while it keeps handing tasks back (up to
    MAX_PAUSE), reset once a task has run to its end here. Alone on its queue it never stands
    aside: a one-host stack hands the task back at once and it fails after its attempts with
    the message that says why, as before. reserve and release do no I/O: the poller check
    runs on the hand-back only."""

    def __init__(self, client: Client, task_queue: str, slots: int) -> None:
        self._client, self._queue = client, task_queue
        self._lock = threading.Lock()  # the SDK's core releases slots from its own threads
        self._free = slots
        self._idle = 0  # slots reserved for a poll, no task yet
        self._running = 0  # slots a task uses
        self._waiting: deque[asyncio.Future[None]] = deque()  # reservations waiting to check again
        self._until = 0.0  # when standing aside ends (time.monotonic)
        self._pause = FIRST_PAUSE  # how long the next standing aside lasts
        self._handbacks = 0
        self._why = ""  # what the worker stands aside for, until it polls again

    def tuner(self) -> WorkerTuner:
        other = FixedSizeSlotSupplier(100)  # a runtime worker runs no workflow, local activity or nexus task
        return WorkerTuner.create_composite(workflow_supplier=other, activity_supplier=self,
                                            local_activity_supplier=other, nexus_supplier=other)

    async def handed_back(self, why: str) -> None:
        """Called by the activity that hands its task back, before it does: stands aside if
        another worker polls the queue."""
        self._handbacks += 1
        if not await self._others_poll():
            return
        aside = max(self._pause, _next_retry(activity.info()) + 1)
        self._pause = min(MAX_PAUSE, 2 * self._pause)
        if not self._why:
            log.warning("%s stands aside from task queue %s for %.0f s (another worker polls it): it "
                        "handed a task back: %s", WORKER, self._queue, aside, why)
        self._why = why
        self._until = max(self._until, time.monotonic() + aside)

    async def _others_poll(self) -> bool:
        request = DescribeTaskQueueRequest(namespace=self._client.namespace, task_queue=TaskQueue(name=self._queue),
                                           task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        try:
            pollers = (await self._client.workflow_service.describe_task_queue(request)).pollers
        except RPCError:
            return False  # unknown: hand back as a worker alone does
        return live_pollers([p for p in pollers if p.identity != self._client.identity], time.time())

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        while True:
            if (wait := self._until - time.monotonic()) > 0:
                await asyncio.sleep(wait)
                continue
            if self._why:
                log.info("%s polls task queue %s again, after standing aside for: %s", WORKER,
                         self._queue, self._why)
                self._why = ""
            with self._lock:
                # An idle worker keeps one poll waiting, not one per poller: Temporal hands a
                # task to the poll that has waited longest, so the 6 a worker had waiting when
                # it stepped aside took the next attempts (all of a task's). Busy, it polls more.
                if self._free and self._idle <= self._running:
                    self._free -= 1
                    self._idle += 1
                    return _Permit()
                waiter = asyncio.get_running_loop().create_future()
                self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with self._lock:
                    if waiter in self._waiting:
                        self._waiting.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._changed()  # woken, then cancelled: wake another
                raise

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        if self._until > time.monotonic():
            return None
        with self._lock:
            if not self._free:
                return None
            self._free -= 1
            self._idle += 1
        return _Permit()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        ctx.permit.handbacks = self._handbacks  # type: ignore[attr-defined]
        with self._lock:
            self._idle -= 1
            self._running += 1
        self._changed()

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        handbacks = ctx.permit.handbacks  # type: ignore[attr-defined]
        if handbacks == self._handbacks:
            self._pause = FIRST_PAUSE  # a task ran to its end here, none handed back meanwhile
        with self._lock:
            self._free += 1
            if handbacks < 0:
                self._idle -= 1
            else:
                self._running -= 1
        self._changed()

    def _changed(self) -> None:
        """Wakes a waiting reservation when one can be made now (from any thread)."""
        with self._lock:
            if not (self._waiting and self._free and self._idle <= self._running):
                return
            waiter = self._waiting.popleft()
        waiter.get_loop().call_soon_threadsafe(self._wake, waiter)

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        if waiter.cancelled():
            self._changed()
        else:
            waiter.set_result(None)


def _next_retry(info: activity.Info) -> float:
    """The delay Temporal waits before the next attempt of this activity."""
    policy = info.retry_policy
    if policy is None:
        return 0.0
    delay = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** (info.attempt - 1)
    return min(delay, policy.maximum_interval.total_seconds()) if policy.maximum_interval else delay
