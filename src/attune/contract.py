"""The contract between the engine and its readers (records mirror, API, CLI, tests).

The engine (attune.engine, on Temporal) reports each execution tree as `RunRecord`s, one per task
attempt, in `WorkflowSnapshot`s ("what changed since seq N"); readers talk to it through the
`EngineClient` protocol and recognise its failures by the exceptions below. This module depends
on nothing but pydantic and the status vocabulary, so `records/` and `api/` never import the
engine, and a test fake implements the same protocol.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from attune.statuses import ExecutionStatus


class EngineError(Exception):
    """The engine refused or failed a request (not a connection problem)."""


class WorkflowNotFound(EngineError, LookupError):
    """No run with this workflow id exists on the orchestration server."""


class EngineUnavailable(EngineError, ConnectionError):
    """The orchestration server cannot be reached (or did not answer in time)."""


class RunRecord(BaseModel):
    """One task attempt (each with_items item, each retry attempt, each nested workflow)."""

    key: str  # stable, unique across the tree: "<workflow_id>/<attempt key>" (see workflows.keys)
    workflow_id: str  # the Temporal workflow that owns this task attempt
    task_name: str
    iteration: int  # 1-based run number of this task (loops re-run tasks)
    task_index: int | None = None  # with_items item (or batch) index
    retry_count: int = 0
    original_key: str | None = None  # key of attempt 0 when this is a retry
    action_ref: str
    status: ExecutionStatus
    parameters: dict[str, Any] = Field(default_factory=dict)  # secrets already redacted
    result: Any = None
    triggered_by: str | None = None  # task name whose transition queued this run
    timeout_seconds: float | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    child_workflow_id: str | None = None  # set when the action is itself a workflow
    # Run control (spec §9): why the attempt is not moving (e.g. waiting for an inquiry), the
    # inquiry it waits for (`wait_for`), and what it asks (a core.ask task creates an inquiry).
    detail: str | None = None
    waits_for_inquiry: int | str | None = None
    asks: dict[str, Any] | None = None
    seq: int = 0
    # The execution id reserved for this attempt's row (records/reserved_ids.py), which its
    # action sees as ATTUNE_EXEC_ID; None: the row gets one when written (or claimed).
    record_id: int | None = None


class TaskWait(BaseModel):
    """A current task that nothing runs yet because it waits for a timer: its `delay` before its
    first dispatch, or the delay before a retry. The earliest such wait of the task."""

    task: str
    reason: Literal["delay", "retry"]
    until: datetime  # UTC: when the timer fires and the task is dispatched (held if paused then)
    retry_count: int = 0  # a retry: the attempt it dispatches then (as RunRecord.retry_count)
    task_index: int | None = None  # a retry of one with_items item


class RunState(BaseModel):
    """What a run says about itself besides its records (the workflow-execution record)."""

    action_ref: str
    status: ExecutionStatus = ExecutionStatus.RUNNING
    current_tasks: list[str] = Field(default_factory=list)
    # Those of the current tasks that wait out a delay or a retry's delay, and until when.
    waiting: list[TaskWait] = Field(default_factory=list)
    completed_tasks: list[str] = Field(default_factory=list)
    failed_tasks: list[str] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    task_graph: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    result: Any = None
    # Why no new task starts although the run is running: it holds them to continue as new
    # once the tasks still running end (a long task, a person's answer); None when it does not.
    held: str | None = None
    # The number of the last pause or resume this run has applied. The records number each one
    # the API sends, so a report read before the run heard it cannot undo it (mirror.apply).
    control: int = 0


class WorkflowSnapshot(RunState):
    """A page of a run's record changes, with the run's current state."""

    workflow_id: str
    seq: int  # highest seq included; pass it back as `since` next time
    records: list[RunRecord]  # records changed since the requested seq, oldest change first
    more: bool = False  # true when the page was cut; ask again with the new seq
    unchanged: bool = False  # nothing happened since the previous call: nothing to write
    # The server shows the run exactly as at the previous call (history length, started
    # activities, status): a run that stays quiet is read less and less often (mirror._due).
    quiet: bool = False
    # The final snapshot in a closed run's memo holds only the latest changes: every change
    # after `covers_since` (0 = all of them). A reader behind that must query instead.
    covers_since: int = 0
    # A long run goes on in a fresh Temporal run (continue-as-new) under the same workflow id:
    # changes up to `base_seq` were made by the run before, `previous_run_id`.
    base_seq: int = 0
    previous_run_id: str | None = None
    # Why the run is not moving, when the server says so (its workflow task keeps failing);
    # such a snapshot carries no state to apply, only this.
    stuck: str | None = None
    # The server said the run was open when it was read (None: not known). A reader then needs
    # no second describe to learn whether it ended from outside.
    server_open: bool | None = None
    # When the server says the (current Temporal) run started and, once closed, ended: the run's
    # own times, where the records would otherwise take the moment the reader first heard.
    run_started_at: datetime | None = None
    run_closed_at: datetime | None = None


class RunEnd(BaseModel):
    """How a run stands according to the orchestration server (not the run's own report)."""

    status: ExecutionStatus  # running while it runs
    result: Any = None  # the result, or {"error", "succeeded": false}
    # Ended outside its own control (terminated, or its execution timeout): the run could not
    # report its end, so the records must close what it left open.
    external: bool = False


class EngineClient(Protocol):
    """What readers may ask of the engine. Raises WorkflowNotFound / EngineUnavailable."""

    async def start(self, *, catalog: dict[str, Any], action_ref: str,
                    parameters: dict[str, Any], workflow_id: str,
                    pack_configs: dict[str, dict[str, Any]] | None = None,
                    config_secrets: dict[str, set[tuple[str, ...]]] | None = None,
                    api_url: str | None = None, queue_prefix: str | None = None,
                    history_guard: int | None = None,
                    max_nesting_depth: int | None = None,
                    continue_after: int | None = None,
                    continue_after_bytes: int | None = None,
                    history_bytes_guard: int | None = None,
                    resume: dict[str, Any] | None = None,
                    record_ids: list[int] | None = None,
                    execution_id: int | None = None) -> None: ...

    async def snapshot(self, workflow_id: str, since: int = 0, *,
                       patient: bool = True) -> WorkflowSnapshot: ...

    async def records(self, workflow_id: str) -> list[RunRecord]: ...

    async def status(self, workflow_id: str) -> RunEnd: ...

    async def wait(self, workflow_id: str) -> RunEnd: ...

    async def cancel(self, workflow_id: str) -> None: ...

    async def pause(self, workflow_id: str, control: int = 0) -> None: ...

    async def resume(self, workflow_id: str, control: int = 0) -> None: ...

    async def tell_inquiry(self, workflow_id: str, state: dict[str, Any]) -> None: ...

    async def parameters_of(self, workflow_id: str) -> dict[str, Any]: ...


def new_workflow_id(action_ref: str, execution_id: int | str | None = None) -> str:
    """Readable in the Web UI: the action ref first, then the execution id when there is one,
    then a short random part (a fresh records database restarts ids at 1 while the server still
    remembers earlier runs)."""
    if execution_id is None:
        return f"{action_ref}-{uuid.uuid4().hex[:10]}"
    return f"{action_ref}-{execution_id}-{uuid.uuid4().hex[:6]}"
