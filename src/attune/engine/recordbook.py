"""The driver's record book: one `RunRecord` per task attempt (spec §8), each change bumping a
sequence number, so the records mirror, queries and the Web UI can ask "what changed since N".

No Temporal here: the driver passes in its workflow id and `workflow.now()`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attune.contract import RunRecord, RunState, WorkflowSnapshot
from attune.statuses import ExecutionStatus, TaskStatus, execution_status_of
from attune.workflows.commands import Dispatch, Outcome
from attune.workflows.keys import AttemptKey, attempt_of, record_key

# A query of a closed run replays it, so pages are large; the byte budget keeps each result
# well under Temporal's payload limits even when records carry big stdout.
SNAPSHOT_PAGE = 2000
SNAPSHOT_PAGE_BYTES = 1_000_000
# The final snapshot left in the memo: small, as visibility stores it per run (hard limit 2 MB).
FINAL_MEMO_RECORDS_BYTES = 24_000
FINAL_MEMO_BYTES = 64_000


class RecordBook:
    def __init__(self, workflow_id: str, *, carried: list[RunRecord] | None = None, seq: int = 0,
                 previous_run_id: str | None = None) -> None:
        """`carried`, `seq`, `previous_run_id`: a run continued as new goes on from the book of
        the run before (its open records, its seq); older changes stay readable there."""
        self.workflow_id = workflow_id
        self.records: dict[AttemptKey, RunRecord] = {
            AttemptKey.parse(attempt_of(r.key)): r for r in carried or []}
        self.seq = self.base_seq = seq
        self.previous_run_id = previous_run_id

    def still_open(self) -> list[RunRecord]:
        """Records a run continued as new takes along: attempts not ended (inquiry waits)."""
        return [r for r in self.records.values() if r.ended_at is None]

    def open(self, dispatch: Dispatch, *, action_ref: str, parameters: dict[str, Any],
             timeout_seconds: float, starts_at_once: bool, child_workflow_id: str | None,
             now: datetime, asks: dict[str, Any] | None = None, record_id: int | None = None) -> None:
        """An attempt was dispatched. `starts_at_once`: a child workflow or a local action runs
        now; a queued action waits for a runtime worker (`scheduled` until one takes it)."""
        key = dispatch.key
        record = RunRecord(
            key=record_key(self.workflow_id, key),
            workflow_id=self.workflow_id,
            task_name=key.task,
            iteration=key.iteration,
            task_index=key.index,
            retry_count=key.attempt,
            original_key=record_key(self.workflow_id, key.first()) if key.attempt else None,
            action_ref=action_ref,
            status=ExecutionStatus.RUNNING if starts_at_once else ExecutionStatus.SCHEDULED,
            parameters=parameters,
            triggered_by=dispatch.triggered_by,
            timeout_seconds=timeout_seconds,
            started_at=now,
            child_workflow_id=child_workflow_id,
            asks=asks,
            detail="waiting for an answer to its inquiry" if asks is not None else None,
            record_id=record_id,
        )
        self._bump(record)
        self.records[key] = record

    def wait(self, key: AttemptKey, *, action_ref: str, inquiry: int | str, now: datetime) -> None:
        """A `wait_for` task: recorded `scheduled`, not dispatched until `inquiry` resolves."""
        record = RunRecord(
            key=record_key(self.workflow_id, key), workflow_id=self.workflow_id,
            task_name=key.task, iteration=key.iteration, action_ref=action_ref,
            status=ExecutionStatus.SCHEDULED, started_at=now, waits_for_inquiry=inquiry,
            detail=f"waiting for inquiry {inquiry}")
        self._bump(record)
        self.records[key] = record

    def settle(self, key: AttemptKey, outcome: Outcome, now: datetime) -> None:
        record = self.records[key]
        record.status = execution_status_of(outcome.status)
        record.result = outcome.result
        record.ended_at = now
        record.detail = None
        self._bump(record)

    def stop_open(self, now: datetime, why: str) -> None:
        """The run ends without waiting for these attempts (it failed on an expression while
        they ran, and cancelled them): they end `cancelled`, saying why, rather than read as
        running or queued forever."""
        for key, record in self.records.items():
            if record.ended_at is None:
                self.settle(key, Outcome(TaskStatus.CANCELLED, {"error": why, "succeeded": False}), now)

    def snapshot(self, since: int, state: RunState) -> WorkflowSnapshot:
        """The changes after `since`, one page at a time (`more` says there is another)."""
        changed = sorted((r for r in self.records.values() if r.seq > since), key=lambda r: r.seq)
        page = _page(changed)
        return self._view(state, page, seq=page[-1].seq if page else max(since, 0),
                          more=len(changed) > len(page))

    def final(self, state: RunState) -> WorkflowSnapshot | None:
        """The latest changes as the run closes, for its memo (readers that already have every
        change up to `covers_since` need no query, which on a closed run replays its whole
        history); None when even that would be too big for a memo."""
        ordered = sorted(self.records.values(), key=lambda r: r.seq)
        tail = _page(ordered[::-1], FINAL_MEMO_RECORDS_BYTES, at_least_one=False)[::-1]
        covers_since = ordered[-len(tail) - 1].seq if len(tail) < len(ordered) else 0
        covers_since = max(covers_since, self.base_seq)  # older changes: in the run before
        final = self._view(state, tail, seq=ordered[-1].seq if ordered else 0,
                           covers_since=covers_since)
        return final if len(final.model_dump_json()) <= FINAL_MEMO_BYTES else None

    def _bump(self, record: RunRecord) -> None:
        self.seq += 1
        record.seq = self.seq

    def _view(self, state: RunState, records: list[RunRecord], *, seq: int, more: bool = False,
              covers_since: int = 0) -> WorkflowSnapshot:
        return WorkflowSnapshot(workflow_id=self.workflow_id, seq=seq, records=records, more=more,
                                covers_since=covers_since, base_seq=self.base_seq,
                                previous_run_id=self.previous_run_id, **dict(state))


def _page(changed: list[RunRecord], budget: int = SNAPSHOT_PAGE_BYTES, *,
          at_least_one: bool = True) -> list[RunRecord]:
    """The longest prefix within SNAPSHOT_PAGE records and about `budget` bytes; a query page
    always takes one record so that paging makes progress."""
    size = 0
    for count, record in enumerate(changed[:SNAPSHOT_PAGE]):
        size += 300 + len(str(record.result)) + len(str(record.parameters))
        if size > budget and (count or not at_least_one):
            return changed[:count]
    return changed[:SNAPSHOT_PAGE]
