"""The Temporal → SQL mirror: keeps execution records in step with running workflows (spec §8).

A background task polls every non-terminal workflow (top-level and nested) for snapshot changes
since the last seq it committed, and upserts one execution row per `RunRecord` keyed by its unique
`key`. The seq is committed in the same transaction as the rows, so an API restart or a database
outage just re-reads from the last committed seq: nothing is lost, nothing duplicated.

Decisions:
- A plain action (not a workflow) also runs through the generic workflow; its single RunRecord is
  mirrored onto the top-level row itself (no child row, no workflow-execution row), so `attune run
  core.echo` yields exactly one record. Its seq lives in `executions.mirror_seq`.
- A workflow whose `status()` says it ended although the snapshot does not (terminated or timed out
  from outside) is reconciled: its row fails with "Workflow terminated" and every non-terminal
  descendant becomes `abandoned`.
- Statuses only move forward (requested → … → running → canceling → terminal), so a stale snapshot
  never overwrites a `canceling` set by the API or a terminal state.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from attune.engine.snapshot import TERMINAL_STATUSES, WorkflowSnapshot
from attune.records.db import Database
from attune.records.models import ExecutionRow, WorkflowExecutionRow, utcnow
from attune.records.tree import abandon_descendants, advance, final_result, set_status, upsert_tasks

log = logging.getLogger("attune.mirror")

ENDED_BY_STATUS = {  # status() outcome → (record status, error) when the snapshot missed the end
    "terminated": ("failed", "Workflow terminated"),
    "timeout": ("timeout", "Workflow timed out"),
}
STALE_REQUESTED_AFTER = timedelta(seconds=30)
ENGINE_CALL_TIMEOUT = 10.0  # seconds; a query no worker answers must not hang the mirror
# Each read of a running workflow starts with a describe, which costs the server and the API CPU
# the workers need. Up to this many workflows in flight each is read every tick; beyond, reads
# are spread so the total stays at this rate, each workflow read at least every READ_AT_LEAST
# seconds (the records' promise). Ends are not delayed: completion watchers settle those at once.
READS_PER_SECOND = 200
READ_AT_LEAST = 1.0


def _is_not_found(exc: BaseException) -> bool:
    # Matched by name so this module does not import the Temporal client at import time.
    return any(cls.__name__ == "WorkflowNotFound" for cls in type(exc).__mro__)


@dataclass(frozen=True)
class Target:
    """One workflow to poll: its execution row, its workflow-execution row (None = plain action)."""

    execution_id: int
    workflow_id: str
    seq: int
    wf_row_id: int | None
    top_level: bool


class Mirror:
    def __init__(
        self,
        db: Database,
        client: Callable[[], Awaitable[Any]],
        interval: float = 0.25,
        status_check_interval: float = 1.0,
    ) -> None:
        self.db = db
        self._client = client
        self.interval = interval
        self.status_check_interval = status_check_interval
        self.concurrency = 16  # workflows read at once; a slow one must not stall the rest
        self._last_status_check: dict[str, float] = {}
        self._last_read: dict[str, float] = {}
        self._warned: dict[str, str] = {}
        self._down: set[str] = set()  # "database"/"engine" while unreachable: log once per outage
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Completion watchers: a long poll per top-level workflow wakes the loop the moment it
        # closes, so the final status lands without waiting for the next tick.
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        # Readers waiting for a record to change instead of polling it (`GET
        # /executions/{id}?wait=`), by execution id: a write wakes only the readers of the rows
        # it touched, so hundreds of waiting clients cost nothing per unrelated write.
        self._waiters: dict[int, set[asyncio.Future[None]]] = {}

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name="attune-mirror")
        return self._task

    async def stop(self) -> None:
        watchers = list(self._watchers.values())
        for watcher in watchers:
            watcher.cancel()
        if watchers:  # they write to the database, which the caller disposes of next
            await asyncio.wait(watchers, timeout=1.0)
        if self._task is None:
            return
        # The flag ends the loop even if a cancel is lost: on Python < 3.12 asyncio.wait_for can
        # swallow a cancellation that lands as its inner await finishes (CPython gh-86296),
        # and then `await task` here waited forever: an API shutdown that never ended.
        self._stopping = True
        self._wake.set()
        while not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)
        self._task = None

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the mirror for the life of the API
                log.exception("mirror tick failed")
            if self._stopping:
                break
            woken = asyncio.ensure_future(self._wake.wait())
            try:  # asyncio.wait, not wait_for: it never cancels (or loses a cancel of) its own
                await asyncio.wait({woken}, timeout=self.interval)
            finally:
                woken.cancel()
            self._wake.clear()

    async def wait_for_change(self, execution_id: int, timeout: float) -> None:
        """Return after the mirror's next write to this execution's row, or after `timeout`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(execution_id, set())
        waiting.add(waiter)
        try:
            await asyncio.wait({waiter}, timeout=timeout)  # not wait_for: see `stop`
        finally:
            waiting.discard(waiter)
            if not waiting and self._waiters.get(execution_id) is waiting:
                del self._waiters[execution_id]

    async def _write(self, fn: Callable[..., Iterable[int]], *args: Any) -> None:
        """One write transaction (in a thread), then wake whoever waits for a row it touched
        (`fn` returns their ids)."""
        for execution_id in await asyncio.to_thread(fn, *args):
            for waiter in self._waiters.get(execution_id, ()):
                if not waiter.done():
                    waiter.set_result(None)

    # --- one pass ----------------------------------------------------------------------------
    async def tick(self) -> None:
        """Bring every non-terminal record up to date once."""
        try:
            client = await self._client()
        except Exception as exc:
            self._outage("engine", exc)
            return
        self._recovered("engine")
        seen: set[str] = set()
        # Nested workflows discovered during a pass are synced in the same pass.
        for round_ in range(20):
            try:
                targets, stale = await asyncio.to_thread(self._targets)
            except SQLAlchemyError as exc:
                self._outage("database", exc)
                return
            self._recovered("database")
            fresh = self._due([t for t in targets if t.workflow_id not in seen], len(targets))
            for workflow_id, execution_id in stale if round_ == 0 else []:
                await self._check_requested(client, workflow_id, execution_id)
            if not fresh:
                return
            seen.update(t.workflow_id for t in fresh)
            self._watch(client, [t.workflow_id for t in fresh if t.top_level])
            limit = asyncio.Semaphore(self.concurrency)
            outcomes = await asyncio.gather(*(self._guarded(limit, client, t) for t in fresh),
                                            return_exceptions=True)
            for target, outcome in zip(fresh, outcomes):
                if isinstance(outcome, SQLAlchemyError):
                    self._outage("database", outcome)
                    return
                if isinstance(outcome, Exception) and _is_connection_error(outcome):
                    self._outage("engine", outcome)
                    return
                if isinstance(outcome, Exception):
                    self._warn_once(target.workflow_id, outcome)
                else:
                    self._warned.pop(target.workflow_id, None)

    def _due(self, targets: list[Target], in_flight: int) -> list[Target]:
        """The targets to read this pass (see READS_PER_SECOND); forgets the ones that ended."""
        spread = in_flight / READS_PER_SECOND
        if spread <= self.interval:
            return targets  # every one, every pass
        gap = min(spread, READ_AT_LEAST) - self.interval / 2  # a tick's jitter never skips a read
        now = time.monotonic()
        due = [t for t in targets if now - self._last_read.get(t.workflow_id, -gap) >= gap]
        if len(self._last_read) > 4 * in_flight + 100:
            live = {t.workflow_id for t in targets}
            self._last_read = {w: at for w, at in self._last_read.items() if w in live}
        for target in due:
            self._last_read[target.workflow_id] = now
        return due

    def _watch(self, client: Any, workflow_ids: list[str]) -> None:
        for workflow_id in workflow_ids:
            if workflow_id not in self._watchers and hasattr(client, "wait"):
                task = asyncio.create_task(self._await_close(client, workflow_id))
                self._watchers[workflow_id] = task

    async def _await_close(self, client: Any, workflow_id: str) -> None:
        try:
            await client.wait(workflow_id)
            # Settle this run now rather than in the next pass, which with hundreds of runs in
            # flight can take seconds to come round to it (its final read needs no worker).
            target = await asyncio.to_thread(self._target_of, workflow_id)
            if target is not None:
                await self._sync(client, target)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the regular passes still see the end
            await asyncio.sleep(self.interval)
        finally:
            self._watchers.pop(workflow_id, None)
        self._wake.set()

    def _target_of(self, workflow_id: str) -> Target | None:
        """The top-level target of one workflow, as `_targets` would build it."""
        with self.db.session() as s:
            row = s.scalars(select(ExecutionRow).where(ExecutionRow.workflow_id == workflow_id,
                                                       ExecutionRow.parent.is_(None))).first()
            if row is None or row.status in TERMINAL_STATUSES:
                return None
            wf = s.scalars(select(WorkflowExecutionRow)
                           .where(WorkflowExecutionRow.execution == row.id)).first()
            if wf is None:
                return Target(row.id, workflow_id, row.mirror_seq, None, True)
            return Target(row.id, workflow_id, wf.seq, wf.id, True)

    async def _guarded(self, limit: asyncio.Semaphore, client: Any, target: Target) -> None:
        async with limit:
            await self._sync(client, target)

    def _warn_once(self, workflow_id: str, exc: Exception) -> None:
        """A workflow that cannot be read (e.g. no worker answers its query) is retried every
        tick; say so once, not four times a second."""
        text = f"{type(exc).__name__}: {exc}"
        if self._warned.get(workflow_id) != text:
            self._warned[workflow_id] = text
            log.warning("mirror: cannot read %s: %s", workflow_id, text)

    def _targets(self) -> tuple[list[Target], list[tuple[str, int]]]:
        with self.db.session() as s:
            targets: list[Target] = []
            wf_rows = s.execute(
                select(WorkflowExecutionRow, ExecutionRow)
                .join(ExecutionRow, ExecutionRow.id == WorkflowExecutionRow.execution)
                .where(WorkflowExecutionRow.status.not_in(TERMINAL_STATUSES))
                .where(WorkflowExecutionRow.workflow_id.is_not(None))
                .where(ExecutionRow.status != "requested")
                .order_by(ExecutionRow.id)
            ).all()
            for wf, ex in wf_rows:
                targets.append(Target(ex.id, wf.workflow_id, wf.seq, wf.id, ex.parent is None))
            has_wf = select(WorkflowExecutionRow.execution)
            plain = s.scalars(
                select(ExecutionRow)
                .where(ExecutionRow.parent.is_(None), ExecutionRow.workflow_id.is_not(None))
                .where(ExecutionRow.status.not_in(TERMINAL_STATUSES | {"requested"}))
                .where(ExecutionRow.id.not_in(has_wf))
                .order_by(ExecutionRow.id)
            ).all()
            targets += [Target(ex.id, ex.workflow_id, ex.mirror_seq, None, True) for ex in plain]
            cutoff = utcnow() - STALE_REQUESTED_AFTER
            stale = s.execute(
                select(ExecutionRow.workflow_id, ExecutionRow.id)
                .where(ExecutionRow.parent.is_(None), ExecutionRow.status == "requested")
                .where(ExecutionRow.workflow_id.is_not(None), ExecutionRow.created < cutoff)
            ).all()
            return targets, [(w, i) for w, i in stale]

    async def _sync(self, client: Any, target: Target, *, final: bool = False) -> None:
        seq, snap = target.seq, None
        while True:
            try:
                snap = await asyncio.wait_for(client.snapshot(target.workflow_id, since=seq),
                                              ENGINE_CALL_TIMEOUT)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
                await self._not_found(client, target)
                return
            if not snap.unchanged:  # skip a write transaction per idle workflow per tick
                await self._write(self._apply, target, snap)
            seq = snap.seq
            if not snap.more:
                break
        if snap.status not in TERMINAL_STATUSES and self._status_due(target.workflow_id):
            outcome, detail = await asyncio.wait_for(client.status(target.workflow_id),
                                                     ENGINE_CALL_TIMEOUT)
            if outcome in ENDED_BY_STATUS:
                status, error = ENDED_BY_STATUS[outcome]
                await self._write(self._reconcile, target, status, error)
            elif outcome in TERMINAL_STATUSES and not final:
                # It ended between the query and describe: read the final snapshot (queries
                # answer on closed workflows) so every task record settles, then close the row.
                await self._sync(client, dataclasses.replace(target, seq=seq), final=True)
                await self._write(self._finish_from_status, target, outcome, detail)

    def _status_due(self, workflow_id: str) -> bool:
        now = time.monotonic()
        if now - self._last_status_check.get(workflow_id, 0.0) < self.status_check_interval:
            return False
        self._last_status_check[workflow_id] = now
        return True

    async def _not_found(self, client: Any, target: Target) -> None:
        if not target.top_level:
            # A nested workflow may not be started yet; once its row ended, stop polling it.
            await self._write(self._close_nested_if_ended, target)
            return
        try:
            outcome, detail = await client.status(target.workflow_id)
        except Exception as exc:
            if not _is_not_found(exc):
                raise
            await self._write(
                self._reconcile, target, "failed", "Workflow not found on the orchestration server"
            )
            return
        if outcome in ENDED_BY_STATUS:
            await self._write(self._reconcile, target, *ENDED_BY_STATUS[outcome])
        elif outcome in TERMINAL_STATUSES:
            await self._write(self._finish_from_status, target, outcome, detail)

    async def _check_requested(self, client: Any, workflow_id: str, execution_id: int) -> None:
        """A row left `requested` (the API stopped between commit and start): settle it."""
        try:
            await client.status(workflow_id)
            status, result = "scheduled", None
        except Exception as exc:
            if not _is_not_found(exc):
                return
            status = "failed"
            result = {"error": "Workflow was never started (the API stopped first)", "succeeded": False}
        await self._write(self._settle_requested, execution_id, status, result)

    def _settle_requested(self, execution_id: int, status: str, result: Any) -> list[int]:
        with self.db.session() as s:
            row = s.get(ExecutionRow, execution_id)
            if row is not None and row.status == "requested":
                row.status, row.result = status, result or row.result
                if status == "failed":
                    row.ended_at = utcnow()
        return [execution_id]

    # --- applying snapshots (worker thread, one transaction each; each returns the ids of the
    # execution rows it may have changed) ---------------------------------------------------
    def _apply(self, target: Target, snap: WorkflowSnapshot) -> list[int]:
        touched = [target.execution_id]
        with self.db.session() as s:
            row = s.get(ExecutionRow, target.execution_id)
            if row is None:  # deleted meanwhile
                return []
            if target.wf_row_id is None:
                self._apply_plain(row, snap)
                row.mirror_seq = max(row.mirror_seq, snap.seq)
                return touched
            wf = s.get(WorkflowExecutionRow, target.wf_row_id)
            if snap.records:
                touched += upsert_tasks(s, row, wf, snap.records)
            wf.status = advance(wf.status, snap.status)
            wf.current_tasks, wf.completed_tasks = snap.current_tasks, snap.completed_tasks
            wf.failed_tasks, wf.variables = snap.failed_tasks, snap.variables
            wf.task_graph, wf.error_message = snap.task_graph, snap.error
            wf.seq = max(wf.seq, snap.seq)
            if target.top_level:
                set_status(row, snap.status)
                if snap.status in TERMINAL_STATUSES and row.result is None:
                    row.result = final_result(snap.status, snap.result, snap.error)
        return touched

    @staticmethod
    def _apply_plain(row: ExecutionRow, snap: WorkflowSnapshot) -> None:
        for rec in snap.records:  # exactly one record ("…#0"); the last change wins
            set_status(row, rec.status)
            if rec.result is not None:
                row.result = rec.result
            row.started_at = rec.started_at or row.started_at
            row.ended_at = rec.ended_at or row.ended_at
            row.timeout_seconds = rec.timeout_seconds or row.timeout_seconds
        if snap.status in TERMINAL_STATUSES and row.status not in TERMINAL_STATUSES:
            set_status(row, snap.status)
        if snap.status in TERMINAL_STATUSES and row.result is None:
            row.result = final_result(snap.status, snap.result, snap.error)

    def _reconcile(self, target: Target, status: str, error: str) -> list[int]:
        """The workflow ended outside its own control: close its row, abandon what it left open."""
        with self.db.session() as s:
            row = s.get(ExecutionRow, target.execution_id)
            if row is None:
                return []
            # A nested workflow's own row follows its parent's RunRecord (or the parent's
            # reconciliation, which abandons it): only a top-level row is closed here.
            if target.top_level and row.status not in TERMINAL_STATUSES:
                set_status(row, status)
                row.result = {"error": error, "succeeded": False}
            if target.wf_row_id is not None:
                wf = s.get(WorkflowExecutionRow, target.wf_row_id)
                if wf.status not in TERMINAL_STATUSES:
                    wf.status, wf.error_message = status, error
            abandoned = abandon_descendants(s, row.id)
        log.info("mirror: %s reconciled as %s (%s)", target.workflow_id, status, error)
        return [target.execution_id, *abandoned]

    def _finish_from_status(self, target: Target, status: str, detail: Any) -> list[int]:
        with self.db.session() as s:
            row = s.get(ExecutionRow, target.execution_id)
            if row is None:
                return []
            error = detail if isinstance(detail, str) else None
            result = detail if status == "completed" else final_result(status, detail, error)
            if target.top_level and row.status not in TERMINAL_STATUSES:
                set_status(row, status)
                row.result = result
            if target.wf_row_id is not None:
                wf = s.get(WorkflowExecutionRow, target.wf_row_id)
                wf.status = advance(wf.status, status)
                wf.error_message = wf.error_message or error
        return [target.execution_id]

    def _close_nested_if_ended(self, target: Target) -> list[int]:
        with self.db.session() as s:
            row = s.get(ExecutionRow, target.execution_id)
            wf = s.get(WorkflowExecutionRow, target.wf_row_id)
            if row is not None and wf is not None and row.status in TERMINAL_STATUSES:
                wf.status = row.status
        return []  # only the workflow-execution row changed

    # --- logging outages once ----------------------------------------------------------------
    def _outage(self, what: str, exc: BaseException) -> None:
        if what not in self._down:
            self._down.add(what)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning("mirror: %s unreachable, will retry: %s", what, first)

    def _recovered(self, what: str) -> None:
        if what in self._down:
            self._down.discard(what)
            log.warning("mirror: %s reachable again; catching up", what)


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError)) or (
        type(exc).__name__ in {"RPCError", "ServiceUnavailable"}
    )
