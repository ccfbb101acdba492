"""Pacing of local actions (`local: true`), which run inside the orchestrator's workflow task.

Local actions run back to back inside one workflow task, and nothing (queries, the records
mirror, the Web UI, a cancel request) sees the run until that task completes. After about
LOCAL_CHECKPOINT_MS of local work in one workflow task, the next local action first waits for a
no-op "checkpoint" activity on the orchestrator's own queue, which closes the task; the server
hands it straight back to the worker (eager dispatch), so it costs a few ms. (A 1 ms timer would
do the same, but the server fires timers no earlier than 1 s ahead unless told otherwise, and
telling it costs CPU on every timer.) The estimate adds a fixed overhead to each action's own
duration_ms, and the task is told apart by the history length (workflow.now() moves as local
results arrive): all of it comes from the history, so the decision replays identically.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from attune.engine.activities import ACTIVITY_NAME, CHECKPOINT_ACTIVITY
    from attune.runtimes.models import ProcessRequest, ProcessResult

LOCAL_CHECKPOINT_MS = 400
LOCAL_OVERHEAD_MS = 3
# What one workflow task may send as commands' payloads kept inline (those under the blob
# threshold): gRPC refuses a task completion over 4 MiB, and Temporal then terminated the run
# ("Workflow terminated", GrpcMessageTooLarge: 100 items of 45 KB started at once). Past this,
# the next start waits for a checkpoint, which closes the task. Asked (a patch) only then.
COMMAND_BYTES = 2 * 1024 * 1024
COMMAND_BUDGET = "attune_command_budget"


class LocalPacer:
    def __init__(self, retry_policy: RetryPolicy) -> None:
        self.retry_policy = retry_policy
        self.task = 0  # history length at the workflow task the local work ran in
        self.ms = 0  # local work so far in that task
        self.checkpoint: asyncio.Task[Any] | None = None
        self.sent_in = 0  # history length at the workflow task commands were last sent in
        self.sent = 0  # inline payload bytes sent in it

    async def run(self, request: ProcessRequest, options: dict[str, Any]) -> ProcessResult:
        """Run one local action, first closing the workflow task if it has done enough."""
        if _history_length() == self.task and self.ms >= LOCAL_CHECKPOINT_MS:
            await self._close_task("checkpoint: lets queries, records and cancel requests in")
        result: ProcessResult = await workflow.execute_local_activity(ACTIVITY_NAME, request,
                                                                      **options)
        if _history_length() != self.task:
            self.task, self.ms = _history_length(), 0
        self.ms += result.duration_ms + LOCAL_OVERHEAD_MS
        return result


    async def room_for(self, size: int) -> None:
        """Before a command that carries `size` bytes inline: close the workflow task first
        when this one has sent COMMAND_BYTES already."""
        while True:
            if _history_length() != self.sent_in:
                self.sent_in, self.sent = _history_length(), 0
            if not self.sent or self.sent + size <= COMMAND_BYTES or not workflow.patched(COMMAND_BUDGET):
                self.sent += size
                return
            await self._close_task(f"checkpoint: this workflow task sent {self.sent // 1024} KiB of "
                                   "commands (gRPC takes at most 4 MiB)")

    async def _close_task(self, summary: str) -> None:
        if self.checkpoint is None or self.checkpoint.done():
            self.checkpoint = asyncio.create_task(workflow.execute_activity(
                CHECKPOINT_ACTIVITY, task_queue=workflow.info().task_queue,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=self.retry_policy,
                summary=summary))
        await asyncio.shield(self.checkpoint)  # one for every start waiting


def _history_length() -> int:
    return workflow.info().get_current_history_length()
