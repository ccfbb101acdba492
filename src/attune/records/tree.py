"""Writing the execution-record tree from engine RunRecords (used by the mirror).

Upserts are keyed by `RunRecord.key`, so applying the same records twice changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attune.engine.snapshot import TERMINAL_STATUSES, RunRecord
from attune.records.models import ExecutionRow, WorkflowExecutionRow, utcnow

_RANK = {"requested": 0, "scheduling": 1, "scheduled": 2, "running": 3, "canceling": 4}
_CHUNK = 500  # keys per IN (...) lookup


def advance(old: str, new: str) -> str:
    """The status after observing `new`: never backwards, never out of a terminal state."""
    if old in TERMINAL_STATUSES:
        return old
    if new in TERMINAL_STATUSES:
        return new
    return new if _RANK.get(new, 0) >= _RANK.get(old, 0) else old


def final_result(status: str, result: Any, error: str | None) -> Any:
    """The top-level result for a finished workflow (spec §3 Completion/Cancellation)."""
    if status == "completed":
        return result
    if isinstance(result, dict) and "succeeded" in result:
        return result
    if status == "cancelled":
        return {"error": "Workflow cancelled", "succeeded": False}
    return {"error": error or f"Workflow {status}", "succeeded": False}


def set_status(row: ExecutionRow, status: str) -> None:
    new = advance(row.status, status)
    if new == row.status:
        return
    row.status = new
    now = utcnow()
    if new in ("running", "canceling") or new in TERMINAL_STATUSES:
        row.started_at = row.started_at or (now if new != "abandoned" else None)
    if new in TERMINAL_STATUSES:
        row.ended_at = row.ended_at or now


def upsert_tasks(
    s: Session, parent: ExecutionRow, wf: WorkflowExecutionRow, records: list[RunRecord]
) -> list[int]:
    """Insert or update one row per record; returns the ids of the rows written."""
    keys = list({r.key for r in records} | {r.original_key for r in records if r.original_key})
    by_key: dict[str, ExecutionRow] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        by_key.update({r.key: r for r in s.scalars(select(ExecutionRow).where(ExecutionRow.key.in_(chunk)))})
    for rec in records:
        row = by_key.get(rec.key)
        if row is None:
            row = ExecutionRow(key=rec.key, status=rec.status, retry_count=0, config={}, mirror_seq=0)
            s.add(row)
            by_key[rec.key] = row
        _write_task(row, rec, parent, wf)
    s.flush()  # ids for original_execution and nested workflow rows
    for rec in records:
        row = by_key[rec.key]
        if rec.original_key and rec.original_key in by_key:
            row.original_execution = by_key[rec.original_key].id
        if rec.child_workflow_id:
            _ensure_nested(s, row, rec)
    return [by_key[rec.key].id for rec in records]


def _write_task(row: ExecutionRow, rec: RunRecord, parent: ExecutionRow, wf: WorkflowExecutionRow) -> None:
    row.workflow_id = rec.child_workflow_id or rec.workflow_id
    row.action_ref = rec.action_ref
    row.parent = parent.id
    row.config = rec.parameters
    row.retry_count = rec.retry_count
    row.timeout_seconds = rec.timeout_seconds
    row.workflow_task = {
        "workflow_execution": wf.id,
        "task_name": rec.task_name,
        "triggered_by": rec.triggered_by,
        "task_index": rec.task_index,
        "retry_count": rec.retry_count,
    }
    if rec.result is not None:
        row.result = rec.result
    row.status = advance(row.status, rec.status)
    row.started_at = rec.started_at or row.started_at
    row.ended_at = rec.ended_at or row.ended_at


def _ensure_nested(s: Session, row: ExecutionRow, rec: RunRecord) -> None:
    exists = s.scalar(
        select(WorkflowExecutionRow.id).where(WorkflowExecutionRow.workflow_id == rec.child_workflow_id)
    )
    if exists is None:
        # Starts non-terminal even if the task already ended, so its final snapshot is still read.
        s.add(WorkflowExecutionRow(
            execution=row.id, workflow_id=rec.child_workflow_id, action_ref=rec.action_ref,
            status="scheduled", current_tasks=[], completed_tasks=[], failed_tasks=[],
            variables={}, task_graph={}, seq=0,
        ))


def abandon_descendants(s: Session, root_id: int) -> list[int]:
    """Every non-terminal row below `root_id` becomes `abandoned`; returns the descendants' ids."""
    frontier, seen = [root_id], []
    now = utcnow()
    while frontier:
        children = s.scalars(select(ExecutionRow).where(ExecutionRow.parent.in_(frontier))).all()
        frontier = [c.id for c in children]
        seen += frontier
        for child in children:
            if child.status not in TERMINAL_STATUSES:
                child.status, child.ended_at = "abandoned", child.ended_at or now
        if frontier:
            for wf in s.scalars(
                select(WorkflowExecutionRow).where(WorkflowExecutionRow.execution.in_(frontier))
            ):
                if wf.status not in TERMINAL_STATUSES:
                    wf.status = "abandoned"
    return seen


