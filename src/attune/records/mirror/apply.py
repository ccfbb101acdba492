"""The records mirror's SQL: which runs to read, and writing what the engine reported into the
execution-record tree (spec §8).

Every function here is one transaction on a `Database` and returns the ids of the execution
rows it may have changed (for the change notifier). Upserts are keyed by `RunRecord.key`, and a
run's snapshot position is committed with the rows it produced, so applying the same report twice
changes nothing and a restart re-reads from where the last commit left off.

Decisions:
- A plain action (not a workflow) also runs through the generic workflow; its single RunRecord is
  written onto the top-level row itself (no child row, no workflow-execution row), so `attune run
  core.echo` yields exactly one record. Its position lives in `executions.mirror_seq`.
- Statuses only move as `statuses.advance` allows, so a stale snapshot never overwrites a
  `canceling` set by the API or a terminal state. Running, pausing and paused move both ways,
  so the API numbers each pause and resume it sends (`workflow_executions.control`) and the run
  reports the last number it applied: a report older than the records' number keeps their status.
- A run that ended outside its own control (terminated, timed out by the server) is reconciled:
  its row ends with the error and every non-terminal descendant becomes `abandoned`.
- Two writers may insert the same attempt's row at once: the mirror's pass and a worker's claim
  (an attempt with no reserved id left). The one that commits second hits the unique key; its
  transaction is rolled back and run again, and then finds the row and updates it. A pass that
  writes several new attempts can meet several claims in turn: each conflict means another
  writer committed a row, so each retry gets further; WRITE_ATTEMPTS bounds them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import CompoundSelect, Select, select, text, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attune.contract import RunRecord, WorkflowSnapshot
from attune.records import inquiries
from attune.records.db import Database
from attune.records.models import ExecutionRow, InquiryRow, WorkflowExecutionRow, utc, utcnow
from attune.statuses import TERMINAL, ExecutionStatus, InquiryStatus, advance
from attune.tokens import root_of
from attune.workflows.keys import AttemptKey, attempt_of

log = logging.getLogger("attune.mirror")

STALE_REQUESTED_AFTER = timedelta(seconds=30)
_CHUNK = 500  # keys per IN (...) lookup


@dataclass(frozen=True)
class Target:
    """One workflow to read: its execution row, its workflow-execution row (None = plain action)."""

    execution_id: int
    workflow_id: str
    seq: int
    wf_row_id: int | None
    top_level: bool


# --- what to read ---------------------------------------------------------------------------------

# Every status a run can have before it ends. The target queries look each of them up in the
# status index and read only the columns a Target needs: with 100,000 ended records a pass costs
# what the runs in flight cost, not what the table holds, and never loads a result or a task
# graph. One lookup per status (UNION ALL), not `status IN (...)` nor `NOT IN (ended)`, nor
# `parent IS NULL` in SQL: SQLite's statistics are an average per value (most rows are
# `completed`), so it guessed that six statuses match half the table and scanned it, or that
# `parent IS NULL` is rare and walked every top-level row.
LIVE = tuple(sorted(set(ExecutionStatus) - TERMINAL))
LIVE_STARTED = tuple(s for s in LIVE if s != ExecutionStatus.REQUESTED)


def _each_status(query: Select, column: Any, statuses: Iterable[str]) -> CompoundSelect:
    return union_all(*(query.where(column == status) for status in statuses))


def targets(db: Database) -> tuple[list[Target], list[tuple[str, int]]]:
    """Every run that is not over yet, and top-level rows left `requested` for too long (the API
    stopped between committing the row and starting the run)."""
    with db.session() as s:
        if db.engine.dialect.name == "postgresql":
            # Its planner sent these few index lookups to parallel workers, whose start-up
            # (~10 ms) cost 30 times the lookups, four times a second.
            s.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        found = _workflow_targets(s)
        has_wf = select(WorkflowExecutionRow.id).where(WorkflowExecutionRow.execution == ExecutionRow.id)
        plain = s.execute(_each_status(
            select(ExecutionRow.id, ExecutionRow.workflow_id, ExecutionRow.mirror_seq,
                   ExecutionRow.parent)
            .where(ExecutionRow.workflow_id.is_not(None), ~has_wf.exists()),
            ExecutionRow.status, LIVE_STARTED)).all()
        found += sorted((Target(ex_id, wf_id or "", seq, None, True)
                         for ex_id, wf_id, seq, parent in plain if parent is None),
                        key=lambda t: t.execution_id)
        cutoff = utcnow() - STALE_REQUESTED_AFTER
        stale = s.execute(
            select(ExecutionRow.workflow_id, ExecutionRow.id, ExecutionRow.parent)
            .where(ExecutionRow.status == ExecutionStatus.REQUESTED)
            .where(ExecutionRow.workflow_id.is_not(None), ExecutionRow.created < cutoff)
        ).all()
        return found, [(w or "", i) for w, i, parent in stale if parent is None]


def _workflow_targets(s: Session, under: str | None = None) -> list[Target]:
    query = (select(ExecutionRow.id, WorkflowExecutionRow.workflow_id, WorkflowExecutionRow.seq,
                    WorkflowExecutionRow.id.label("wf_row"), ExecutionRow.parent, ExecutionRow.status)
             .join(ExecutionRow, ExecutionRow.id == WorkflowExecutionRow.execution)
             .where(WorkflowExecutionRow.workflow_id.is_not(None)))
    if under is not None:  # every nested run's id starts with its top-level run's (keys.py)
        query = query.where(WorkflowExecutionRow.workflow_id.startswith(f"{under}/", autoescape=True))
    rows = s.execute(_each_status(query, WorkflowExecutionRow.status, LIVE)).all()
    return sorted((Target(ex_id, wf_id or "", seq, wf_row, parent is None)
                   for ex_id, wf_id, seq, wf_row, parent, status in rows
                   if status != ExecutionStatus.REQUESTED), key=lambda t: t.execution_id)


def nested_targets(db: Database, workflow_id: str) -> list[Target]:
    """The nested runs of one top-level run that are not over yet (as `targets` builds them)."""
    with db.session() as s:
        return _workflow_targets(s, under=workflow_id)


def target_of(db: Database, workflow_id: str) -> Target | None:
    """The top-level target of one workflow, as `targets` would build it."""
    with db.session() as s:
        row = s.execute(
            select(ExecutionRow.id, ExecutionRow.status, ExecutionRow.mirror_seq,
                   WorkflowExecutionRow.id, WorkflowExecutionRow.seq)
            .outerjoin(WorkflowExecutionRow, WorkflowExecutionRow.execution == ExecutionRow.id)
            .where(ExecutionRow.workflow_id == workflow_id, ExecutionRow.parent.is_(None))
        ).first()
        if row is None or row[1] in TERMINAL:
            return None
        ex_id, _, mirror_seq, wf_row, wf_seq = row
        if wf_row is None:
            return Target(ex_id, workflow_id, mirror_seq, None, True)
        return Target(ex_id, workflow_id, wf_seq, wf_row, True)


# --- writing what the engine reported -------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


WRITE_ATTEMPTS = 5  # a write that met this many rows written meanwhile fails (read again later)


def again_on_conflict(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a write again while another writer inserted one of its rows first (see Decisions)."""
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(WRITE_ATTEMPTS - 1):
            try:
                return fn(*args, **kwargs)
            except IntegrityError as exc:
                log.info("mirror: %s met a row written meanwhile, writing again: %s",
                         fn.__name__, str(exc.orig).splitlines()[0])
        return fn(*args, **kwargs)
    return run


@again_on_conflict

def apply_snapshot(db: Database, target: Target, snap: WorkflowSnapshot) -> list[int]:
    touched = [target.execution_id]
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        if row is None:  # deleted meanwhile
            return []
        row.status_detail = snap.held  # it moved (or says why it holds its next tasks)
        if target.wf_row_id is None:
            _apply_plain(row, snap)
            for rec in snap.records:  # a core.ask submitted on its own
                if rec.asks is not None:
                    _track_inquiry(s, row, rec)
            row.mirror_seq = max(row.mirror_seq, snap.seq)
            return touched
        wf = s.get(WorkflowExecutionRow, target.wf_row_id)
        assert wf is not None
        if snap.records:
            touched += upsert_tasks(s, row, wf, snap.records)
        status = _heard(wf, snap)
        if wf.status not in TERMINAL or snap.status in TERMINAL:  # not a stale report of a run
            wf.status = advance(wf.status, status)                # the records already closed
            wf.current_tasks, wf.completed_tasks = snap.current_tasks, snap.completed_tasks
            wf.waiting = [w.model_dump(mode="json") for w in snap.waiting]
            wf.failed_tasks, wf.variables = snap.failed_tasks, snap.variables
            wf.task_graph, wf.error_message = snap.task_graph, snap.error
        wf.seq = max(wf.seq, snap.seq)
        if not target.top_level and status in _STEERED and row.status in _STEERED:
            # A nested run pauses and resumes with its tree (spec §9); its own record is its
            # parent's task attempt, which the parent reports `running` all along.
            was, row.status = row.status, status
            if ExecutionStatus.RUNNING not in (was, status) or was != status:  # a pause moving
                touched += _settle_paused_top(s, target.workflow_id)
        if target.top_level:
            set_status(row, _tree_status(s, target.workflow_id, status))
            _run_times(row, snap)
            if snap.status in TERMINAL and row.result is None:
                row.result = final_result(snap.status, snap.result, snap.error)
            if snap.status in TERMINAL:
                cancel_inquiries_of(s, target.workflow_id)
    return touched


# Statuses a pause or resume moves between, in either direction (statuses.advance cannot order them).
_STEERED = frozenset({ExecutionStatus.RUNNING, ExecutionStatus.PAUSING, ExecutionStatus.PAUSED})


def _tree_status(s: Session, workflow_id: str, status: ExecutionStatus) -> ExecutionStatus:
    """A top-level run reports `paused` once none of its own processes runs: its nested runs
    pause themselves. While one of them is still running or pausing (a task of its own runs),
    the tree is `pausing`: `paused` at the top means nothing runs anywhere below it."""
    if status != ExecutionStatus.PAUSED:
        return status
    busy = s.scalar(select(WorkflowExecutionRow.id).where(
        WorkflowExecutionRow.workflow_id.startswith(f"{workflow_id}/", autoescape=True),
        WorkflowExecutionRow.status.in_((ExecutionStatus.RUNNING, ExecutionStatus.PAUSING))).limit(1))
    return ExecutionStatus.PAUSING if busy is not None else status


def _settle_paused_top(s: Session, nested_workflow_id: str) -> list[int]:
    """A nested run moved: its top-level run may now be `paused` (or `pausing` again)."""
    s.flush()  # the nested run's new status, for _tree_status's query
    top = s.scalar(select(WorkflowExecutionRow).where(
        WorkflowExecutionRow.workflow_id == root_of(nested_workflow_id)))
    row = s.get(ExecutionRow, top.execution) if top is not None else None
    if top is None or row is None or top.status != ExecutionStatus.PAUSED or row.status not in _STEERED:
        return []
    status = _tree_status(s, top.workflow_id or "", ExecutionStatus.PAUSED)
    if row.status == status:
        return []
    row.status = status
    return [row.id]


def _heard(wf: WorkflowExecutionRow, snap: WorkflowSnapshot) -> ExecutionStatus:
    """The status to record from `snap`: the records' own while the run reports from before the
    latest pause or resume the API sent it (it had not heard it when read), else the run's."""
    if snap.status in _STEERED and snap.control < wf.control and wf.status in _STEERED:
        return ExecutionStatus(wf.status)
    return snap.status


def _apply_plain(row: ExecutionRow, snap: WorkflowSnapshot) -> None:
    for rec in snap.records:  # exactly one record ("…#0"); the last change wins
        set_status(row, rec.status)
        if rec.result is not None:
            row.result = rec.result
        row.started_at = rec.started_at or row.started_at
        row.ended_at = rec.ended_at or row.ended_at
        row.timeout_seconds = rec.timeout_seconds or row.timeout_seconds
    if snap.status in TERMINAL and row.status not in TERMINAL:
        set_status(row, snap.status)
    if snap.status in TERMINAL and row.result is None:
        row.result = final_result(snap.status, snap.result, snap.error)


@again_on_conflict
def claim(db: Database, record: RunRecord) -> int | None:
    """The id of an attempt's row, written now from what its worker knows if the mirror has
    not written it yet (the mirror's later upsert by the same key completes it). None when the
    run that owns the attempt has no row yet (a nested run the mirror has not seen)."""
    with db.session() as s:
        found = s.scalar(select(ExecutionRow.id).where(ExecutionRow.key == record.key))
        if found is not None:
            return found
        # The owner through its workflow row (one unique key), never through
        # `executions.workflow_id`: every task row of the run carries that id too, and loading
        # them made each claim cost O(tasks so far), a long run's claims O(tasks²).
        wf = s.scalar(select(WorkflowExecutionRow)
                      .where(WorkflowExecutionRow.workflow_id == record.workflow_id))
        if wf is None:  # a plain action: its one record is the submitted row itself
            return s.scalar(select(ExecutionRow.id).where(
                ExecutionRow.workflow_id == record.workflow_id, ExecutionRow.parent.is_(None)).limit(1))
        owner = s.get(ExecutionRow, wf.execution)
        if owner is None:
            return None
        return upsert_tasks(s, owner, wf, [record])[0]


def still_running(db: Database, execution_ids: list[int]) -> set[int]:
    """Which of these rows exist and have not ended (one query per chunk, ids only)."""
    with db.session() as s:
        found: set[int] = set()
        for i in range(0, len(execution_ids), _CHUNK):
            found.update(s.scalars(select(ExecutionRow.id).where(
                ExecutionRow.id.in_(execution_ids[i:i + _CHUNK]), ExecutionRow.status.not_in(TERMINAL))))
        return found


def set_detail(db: Database, target: Target, detail: str | None) -> list[int]:
    """Why the run is not moving (None once it moves again), on its own execution row."""
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        if row is None or row.status_detail == detail:
            return []
        row.status_detail = detail
    return [target.execution_id]


def reconcile(db: Database, target: Target, status: ExecutionStatus, error: str) -> list[int]:
    """The run ended outside its own control: close its row, abandon what it left open."""
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        if row is None:
            return []
        # A nested workflow's own row follows its parent's RunRecord (or the parent's
        # reconciliation, which abandons it): only a top-level row is closed here.
        if target.top_level and row.status not in TERMINAL:
            set_status(row, status)
            row.result = {"error": error, "succeeded": False}
        if target.wf_row_id is not None:
            wf = s.get(WorkflowExecutionRow, target.wf_row_id)
            if wf is not None and wf.status not in TERMINAL:
                wf.status, wf.error_message = status, error
        abandoned = abandon_descendants(s, row.id, _why_abandoned(status, error))
    return [target.execution_id, *abandoned]


def _why_abandoned(status: ExecutionStatus, error: str) -> str:
    """What a task's record says when its workflow ended around it: the server ended the run
    (a nested run's time limit, a terminate), so the task never reported how it ended."""
    if status == ExecutionStatus.TIMEOUT:
        return ("its workflow timed out while it ran (a nested workflow's time limit is the "
                "timeout of the task that runs it); the task was stopped with it")
    if status == ExecutionStatus.CANCELLED:
        return f"its workflow was cancelled while it ran ({error})"
    return f"its workflow ended while it ran ({error}); how the task ended is unknown"


def finish_from_status(db: Database, target: Target, status: ExecutionStatus,
                       result: Any) -> list[int]:
    """The server says the run ended (its final snapshot was read just before)."""
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        if row is None:
            return []
        if target.top_level and row.status not in TERMINAL:
            set_status(row, status)
            row.result = final_result(status, result, None)
        if target.wf_row_id is not None:
            wf = s.get(WorkflowExecutionRow, target.wf_row_id)
            if wf is not None:
                wf.status = advance(wf.status, status)
                if status != ExecutionStatus.COMPLETED and isinstance(result, dict):
                    wf.error_message = wf.error_message or result.get("error")
    return [target.execution_id]


# A nested run whose task the parent saw end before the run itself existed (cancelled while its
# start was on its way) may still start on the server, run its first tasks and close: it is
# looked for this long after its row ended before its records count as complete.
NESTED_MAY_START_FOR = timedelta(seconds=30)


def close_nested_if_ended(db: Database, target: Target, now: datetime | None = None) -> list[int]:
    """A nested run the server does not know (yet): once its own row has ended, and it has not
    appeared for NESTED_MAY_START_FOR since, stop reading it. (Stopping at once left the task
    records of a child that started just after its cancel `running` for good.)"""
    now = now or utcnow()
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        wf = s.get(WorkflowExecutionRow, target.wf_row_id)
        if row is not None and wf is not None and row.status in TERMINAL and (
                row.ended_at is None or utc(row.ended_at) + NESTED_MAY_START_FOR <= now):
            wf.status = row.status
    return []  # only the workflow-execution row changed


def settle_requested(db: Database, execution_id: int, status: ExecutionStatus,
                     result: Any) -> list[int]:
    """A row left `requested`: the run exists after all (scheduled), or never started (failed)."""
    with db.session() as s:
        row = s.get(ExecutionRow, execution_id)
        if row is not None and row.status == ExecutionStatus.REQUESTED:
            row.status, row.result = status, result or row.result
            if status == ExecutionStatus.FAILED:
                row.ended_at = utcnow()
    return [execution_id]


# --- the record tree --------------------------------------------------------------------------

def final_result(status: ExecutionStatus | str, result: Any, error: str | None) -> Any:
    """The top-level result of a finished run (spec §3 Completion/Cancellation)."""
    if status == ExecutionStatus.COMPLETED:
        return result
    if isinstance(result, dict) and "succeeded" in result:
        return result
    if status == ExecutionStatus.CANCELLED:
        return {"error": "Workflow cancelled", "succeeded": False}
    return {"error": error or f"Workflow {status}", "succeeded": False}


def _run_times(row: ExecutionRow, snap: WorkflowSnapshot) -> None:
    """A workflow's record starts and ends when its run did, as the server says, not when the
    mirror first heard (a short run is often read only at its end: started_at was ended_at)."""
    started = snap.run_started_at
    if started is not None and (row.started_at is None or utc(row.started_at) > started):
        row.started_at = started  # a run continued as new: the first one seen started first
    if snap.run_closed_at is not None and row.status in TERMINAL:
        row.ended_at = snap.run_closed_at


def set_status(row: ExecutionRow, status: ExecutionStatus | str) -> None:
    new = advance(row.status, status)
    if new == row.status:
        return
    row.status = new
    now = utcnow()
    if new in (ExecutionStatus.RUNNING, ExecutionStatus.CANCELING) or new in TERMINAL:
        row.started_at = row.started_at or (now if new != ExecutionStatus.ABANDONED else None)
    if new in TERMINAL:
        row.ended_at = row.ended_at or now


def upsert_tasks(
    s: Session, parent: ExecutionRow, wf: WorkflowExecutionRow, records: list[RunRecord]
) -> list[int]:
    """Insert or update one row per record; returns the ids of the rows written."""
    keys = list({r.key for r in records} | {r.original_key for r in records if r.original_key})
    by_key: dict[str, ExecutionRow] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        by_key.update({r.key: r for r in s.scalars(select(ExecutionRow).where(ExecutionRow.key.in_(chunk)))
                       if r.key is not None})
    reserved = _free_ids(s, [r.record_id for r in records if r.record_id is not None and r.key not in by_key])
    for rec in records:
        row = by_key.get(rec.key)
        if row is None:
            # Created when the attempt was dispatched, not when the mirror came to write it.
            row = ExecutionRow(id=rec.record_id if rec.record_id in reserved else None, key=rec.key,
                               status=rec.status, retry_count=0, config={}, mirror_seq=0,
                               created=rec.started_at or utcnow())
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
        if rec.asks is not None or rec.waits_for_inquiry is not None:
            _track_inquiry(s, row, rec)
    return [by_key[rec.key].id for rec in records]


def _free_ids(s: Session, wanted: list[int]) -> set[int]:
    """The reserved ids no row has yet. One that is taken (never by design: a database restored
    from a backup older than its runs) leaves its row to a fresh id, not the mirror stuck."""
    taken: set[int] = set()
    for i in range(0, len(wanted), _CHUNK):
        taken.update(s.scalars(select(ExecutionRow.id).where(ExecutionRow.id.in_(wanted[i:i + _CHUNK]))))
    if taken:
        log.warning("mirror: reserved execution ids %s are taken; those rows get new ids", sorted(taken))
    return set(wanted) - taken


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
        "iteration": rec.iteration,  # a loop's runs of one task told apart (`step #3`)
    }
    span = _span(rec.key)
    if span is not None:  # a slice of a large with_items: its items, so no one reads it as an attempt
        row.workflow_task["items_span"] = list(span)
    if rec.result is not None:
        row.result = rec.result
    row.status = advance(row.status, rec.status)
    row.started_at = rec.started_at or row.started_at
    row.ended_at = rec.ended_at or row.ended_at
    row.status_detail = rec.detail
    if row.started_at is not None and row.created is not None and utc(row.started_at) < utc(row.created):
        # A row its worker claimed was written at the claim, on the API's clock, after the run
        # dispatched it: created as the run's own rows are, at the dispatch.
        row.created = row.started_at


def _span(key: str) -> tuple[int, int] | None:
    try:
        return AttemptKey.parse(attempt_of(key)).span
    except ValueError:  # not an attempt's key (never for a task record)
        return None


def _track_inquiry(s: Session, row: ExecutionRow, rec: RunRecord) -> None:
    """A core.ask attempt asks (its inquiry is created here, once), a `wait_for` task waits;
    either way the row notes the inquiry it waits for (the outbox tells the run its state), and
    an attempt that ended without an answer leaves its inquiry timed out or cancelled."""
    if rec.asks is not None:
        inquiry = s.scalar(select(InquiryRow).where(InquiryRow.key == rec.key))
        if inquiry is None:
            inquiry = _asked(rec)
            s.add(inquiry)
            s.flush()
        inquiry.execution = inquiry.execution or row.id
    else:
        wanted = rec.waits_for_inquiry
        number = int(str(wanted)) if str(wanted).strip().isdigit() else None
        row.waits_for_inquiry = number if number is not None else -1  # -1: not an inquiry id
        inquiry = s.get(InquiryRow, number) if number is not None else None
    if inquiry is None:
        return
    row.waits_for_inquiry = inquiry.id
    if rec.status in TERMINAL and inquiry.status == InquiryStatus.PENDING:
        ended = (InquiryStatus.TIMEOUT if rec.status == ExecutionStatus.TIMEOUT
                 else InquiryStatus.CANCELLED if rec.asks is not None else None)
        if ended is not None:
            inquiries.settle(s, inquiry, ended)  # an answer that got in first stands


def _asked(rec: RunRecord) -> InquiryRow:
    asks = rec.asks or {}
    timeout = asks.get("timeout_seconds")
    timeout_at = (rec.started_at + timedelta(seconds=float(timeout))
                  if isinstance(timeout, (int, float)) and timeout > 0 and rec.started_at else None)
    return InquiryRow(key=rec.key, execution_key=rec.key, root_workflow_id=root_of(rec.workflow_id),
                      prompt=str(asks.get("prompt") or ""), response_schema=asks.get("response_schema") or {},
                      assigned_to=asks.get("assigned_to"), status=InquiryStatus.PENDING,
                      timeout_at=timeout_at)


# --- inquiries: telling waiting runs, and timeouts ------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """Tell the run `workflow_id` (waiting in row `execution_id`) an inquiry's state."""

    execution_id: int
    workflow_id: str
    state: dict[str, Any]


def deliveries(db: Database) -> list[Delivery]:
    """Waiting tasks that have not been told their inquiry's current state yet."""
    with db.session() as s:
        # Columns, not rows: every pass reads this, and a waiting task's row may hold a big
        # config or result.
        waiting = s.execute(
            select(ExecutionRow.id, ExecutionRow.key, ExecutionRow.workflow_id,
                   ExecutionRow.waits_for_inquiry, ExecutionRow.inquiry_told, InquiryRow)
            .outerjoin(InquiryRow, InquiryRow.id == ExecutionRow.waits_for_inquiry)
            .where(ExecutionRow.waits_for_inquiry.is_not(None))
            .where(ExecutionRow.status.in_([ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING]))
        ).all()
        found = []
        for row_id, key, run_id, waits_for, told_status, inquiry in waiting:
            state = _state_of(inquiry, waits_for)
            workflow_id = key.rsplit("/", 1)[0] if key else run_id
            if told_status != state["status"] and workflow_id:
                found.append(Delivery(row_id, workflow_id, state))
        return found


def _state_of(inquiry: InquiryRow | None, waits_for: int | None) -> dict[str, Any]:
    if inquiry is None:
        return {"id": max(waits_for or 0, 0), "status": "missing"}
    asked_by_core_ask = inquiry.key == inquiry.execution_key  # its key is the asking attempt's
    return {"id": inquiry.id, "key": inquiry.key if asked_by_core_ask else None,
            "status": str(inquiry.status), "response": inquiry.response,
            "timeout_at": utc(inquiry.timeout_at).isoformat() if inquiry.timeout_at else None}


def told(db: Database, execution_id: int, status: str) -> list[int]:
    with db.session() as s:
        row = s.get(ExecutionRow, execution_id)
        if row is not None:
            row.inquiry_told = status
    return []


def expire_inquiries(db: Database, now: datetime | None = None) -> list[int]:
    """Pending inquiries past their timeout are timed out (the waiting run's own timer fires at
    the same moment; the API refuses answers from then on)."""
    now = now or utcnow()
    with db.session() as s:
        due = s.scalars(select(InquiryRow).where(InquiryRow.status == InquiryStatus.PENDING,
                                                 InquiryRow.timeout_at.is_not(None),
                                                 InquiryRow.timeout_at <= now)).all()
        settled = [i for i in due if inquiries.settle(s, i, InquiryStatus.TIMEOUT)]
        return [i.execution for i in settled if i.execution is not None]


def cancel_inquiries_of(s: Session, root_workflow_id: str) -> None:
    """A tree that ended leaves no question open (one statement: most trees asked none). Core,
    not the ORM's bulk update: that one first matched the statement against every object the
    session holds (a tenth of the API's CPU in the mirror's writes, run 21); none is read after."""
    s.flush()  # what this transaction changed before lands first, as an ORM statement's autoflush would
    s.connection().execute(update(InquiryRow).where(InquiryRow.root_workflow_id == root_workflow_id,
                                       InquiryRow.status == InquiryStatus.PENDING)
              .values(status=InquiryStatus.CANCELLED, updated=utcnow()))


def _ensure_nested(s: Session, row: ExecutionRow, rec: RunRecord) -> None:
    exists = s.scalar(
        select(WorkflowExecutionRow.id).where(WorkflowExecutionRow.workflow_id == rec.child_workflow_id)
    )
    if exists is None:
        # Starts non-terminal even if the task already ended, so its final snapshot is still read.
        s.add(WorkflowExecutionRow(
            execution=row.id, workflow_id=rec.child_workflow_id, action_ref=rec.action_ref,
            status=ExecutionStatus.SCHEDULED, current_tasks=[], completed_tasks=[],
            failed_tasks=[], variables={}, task_graph={}, seq=0,
        ))


def abandon_descendants(s: Session, root_id: int, why: str | None = None) -> list[int]:
    """Every non-terminal row below `root_id` becomes `abandoned`, saying `why` (its detail, and
    its result when it has none); returns the descendants' ids."""
    frontier, seen = [root_id], []
    now = utcnow()
    while frontier:
        children = s.scalars(select(ExecutionRow).where(ExecutionRow.parent.in_(frontier))).all()
        frontier = [c.id for c in children]
        seen += frontier
        for child in children:
            if child.status not in TERMINAL:
                child.status, child.ended_at = ExecutionStatus.ABANDONED, child.ended_at or now
                if why:
                    child.status_detail = why
                    child.result = child.result or {"error": why, "succeeded": False}
        if frontier:
            for wf in s.scalars(
                select(WorkflowExecutionRow).where(WorkflowExecutionRow.execution.in_(frontier))
            ):
                if wf.status not in TERMINAL:
                    wf.status = ExecutionStatus.ABANDONED
    return seen
