"""What the engine reports about a running execution tree, for the records mirror (spec §8).

The Temporal workflow keeps one `RunRecord` per task attempt (each with_items item, each retry
attempt, each nested workflow) and bumps a sequence number on every change, so a mirror can ask
"what changed since seq N" and upsert idempotently by `key`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ExecutionStatus = Literal[
    "requested", "scheduling", "scheduled", "running", "completed",
    "failed", "canceling", "cancelled", "timeout", "abandoned",
]
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timeout", "abandoned"})


class RunRecord(BaseModel):
    key: str  # stable, unique across the tree: "<workflow_id>/<task>.<iteration>[<item>]#<attempt>"
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
    timeout_seconds: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    child_workflow_id: str | None = None  # set when the action is itself a workflow
    seq: int = 0


class WorkflowSnapshot(BaseModel):
    workflow_id: str
    action_ref: str
    status: ExecutionStatus
    seq: int  # highest seq included; pass it back as `since` next time
    records: list[RunRecord]  # records changed since the requested seq, oldest change first
    more: bool = False  # true when the page was cut; ask again with the new seq
    unchanged: bool = False  # nothing happened since the previous call: nothing to write
    # The final snapshot in a closed run's memo holds only the latest changes: every change
    # after `covers_since` (0 = all of them). A reader behind that must query instead.
    covers_since: int = 0
    current_tasks: list[str] = Field(default_factory=list)
    completed_tasks: list[str] = Field(default_factory=list)
    failed_tasks: list[str] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    task_graph: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    result: Any = None
