"""Inquiries as the API sees them (spec §9): creation by an action, answers, listing.

The mirror owns the other half (records/mirror/apply.py): core.ask inquiries, timeouts and
telling waiting runs each state change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from attune.records.models import ExecutionRow, InquiryRow, WorkflowExecutionRow, utcnow
from attune.statuses import InquiryStatus


@dataclass(frozen=True)
class InquiryFilter:
    status: list[str] | None = None
    execution: int | None = None
    root_workflow_id: str | None = None  # an execution token sees its own tree only


def settle(s: Session, inquiry: InquiryRow, status: InquiryStatus, **values: Any) -> bool:
    """Move a pending inquiry to `status`, if it is still pending in the database: one
    conditional UPDATE, so of two answers (or an answer and a timeout or cancel) racing on
    different connections exactly one wins, and what the row says is what the run is told.
    False (the row re-read) when another writer settled it first."""
    s.flush()
    moved = s.connection().execute(
        update(InquiryRow).where(InquiryRow.id == inquiry.id, InquiryRow.status == InquiryStatus.PENDING)
        .values(status=status, updated=utcnow(), **values))
    s.refresh(inquiry)
    return moved.rowcount == 1


def identity(attempt_key: str, purpose: str | None, prompt: str) -> str:
    """One inquiry per question of a task unit: a retried attempt asking again gets it back."""
    unit = attempt_key.rsplit("#", 1)[0]
    question = purpose if purpose else "prompt:" + hashlib.sha256(prompt.encode()).hexdigest()[:16]
    return f"{unit}|{question}"


def create(s: Session, *, attempt_key: str, root_workflow_id: str, prompt: str,
           response_schema: dict[str, Any], purpose: str | None, assigned_to: str | None,
           timeout_seconds: float | None) -> tuple[InquiryRow, bool]:
    """The inquiry (created, or the existing one for the same question): (row, created)."""
    key = identity(attempt_key, purpose, prompt)
    existing = s.scalar(select(InquiryRow).where(InquiryRow.key == key))
    if existing is not None:
        link_executions(s, [existing])
        return existing, False
    execution = _asking_rows(s, {attempt_key}).get(attempt_key)  # mostly None yet in a workflow
    row = InquiryRow(
        key=key, execution=execution, execution_key=attempt_key, root_workflow_id=root_workflow_id,
        purpose=purpose, prompt=prompt, response_schema=response_schema, assigned_to=assigned_to,
        status=InquiryStatus.PENDING,
        timeout_at=utcnow() + timedelta(seconds=timeout_seconds) if timeout_seconds else None)
    s.add(row)
    s.flush()
    return row, True


def link_executions(s: Session, rows: list[InquiryRow]) -> None:
    """An action that asks through the API mostly does so before the records mirror has written
    its attempt's record: its inquiry names the attempt by key until then. The record's id is
    filled in (and kept) once that record exists, as the inquiry is read."""
    keys = {row.execution_key for row in rows if row.execution is None and row.execution_key}
    if not keys:
        return
    ids = _asking_rows(s, keys)
    for row in rows:
        if row.execution is None and row.execution_key in ids:
            row.execution = ids[row.execution_key]


def _asking_rows(s: Session, keys: set[str]) -> dict[str, int]:
    """The execution record of each asking attempt that has one: a workflow task's row (by its
    key), or the submitted row of a plain action run on its own, whose one attempt
    ("<workflow id>/<name>.1#0") is mirrored onto that row and has no row of its own (its
    inquiries kept `execution: null` for good)."""
    found: dict[str, int] = {key: execution_id for key, execution_id in s.execute(
        select(ExecutionRow.key, ExecutionRow.id).where(ExecutionRow.key.in_(keys))).all() if key}
    runs = {key.rsplit("/", 1)[0]: key for key in keys - found.keys() if "/" in key}
    if runs:
        plain = s.execute(select(ExecutionRow.workflow_id, ExecutionRow.id).where(
            ExecutionRow.workflow_id.in_(runs), ExecutionRow.parent.is_(None), ExecutionRow.key.is_(None),
            ~select(WorkflowExecutionRow.execution).where(
                WorkflowExecutionRow.execution == ExecutionRow.id).exists())).all()
        found.update({runs[workflow_id]: execution_id for workflow_id, execution_id in plain if workflow_id})
    return found


def _filtered(query: Select, f: InquiryFilter) -> Select:
    if f.status:
        query = query.where(InquiryRow.status.in_(f.status))
    if f.execution is not None:  # linked, or not yet (see link_executions)
        key = select(ExecutionRow.key).where(ExecutionRow.id == f.execution).scalar_subquery()
        # A workflow's own id is what `attune run --async` prints: its tasks' questions (nested
        # runs' too) are its questions. Their attempt keys start with "<its workflow id>/".
        run = select(WorkflowExecutionRow.workflow_id).where(
            WorkflowExecutionRow.execution == f.execution).scalar_subquery()
        below = func.substr(InquiryRow.execution_key, 1, func.length(run) + 1) == run + "/"
        query = query.where(or_(InquiryRow.execution == f.execution, below,
                                and_(InquiryRow.execution.is_(None), InquiryRow.execution_key == key)))
    if f.root_workflow_id is not None:
        query = query.where(InquiryRow.root_workflow_id == f.root_workflow_id)
    return query


def list_inquiries(s: Session, f: InquiryFilter, page: int, per_page: int) -> tuple[list[InquiryRow], int]:
    total = s.scalar(_filtered(select(func.count(InquiryRow.id)), f)) or 0
    rows = list(s.scalars(_filtered(select(InquiryRow), f).order_by(InquiryRow.id.desc())
                          .offset((page - 1) * per_page).limit(per_page)).all())
    link_executions(s, rows)
    return rows, total
