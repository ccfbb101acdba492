"""The mirror's SQL, one function at a time, on SQLite and PostgreSQL (no engine, no API): what
the engine reports lands in the record tree exactly once, statuses only move forward, and a run
that ended outside its own control is closed with what it left open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from attune.contract import RunRecord, WorkflowSnapshot
from attune.records import executions, inquiries, reserved_ids
from attune.records.db import Database
from attune.records.mirror import apply
from attune.records.models import ExecutionRow, InquiryRow, WorkflowExecutionRow, utc
from attune.statuses import ExecutionStatus, InquiryStatus

WF = "svc.chain-1-abc"


def submitted(db: Database, *, workflow: bool = True, workflow_id: str = WF) -> apply.Target:
    """A top-level submission the API recorded and started (what the mirror then reads)."""
    with db.session() as s:
        row, _ = executions.create_requested(s, action_ref="svc.chain", config={}, timeout_seconds=None,
                                             is_workflow=workflow, workflow_id=workflow_id)
        executions.mark_scheduled(s, row.id)
        row_id = row.id
    target = apply.target_of(db, workflow_id)
    assert target is not None and target.execution_id == row_id
    return target


def record(task: str, status: str = "running", *, attempt: int = 0, seq: int = 1, workflow_id: str = WF,
           **extra: Any) -> RunRecord:
    key = f"{workflow_id}/{task}.1#{attempt}"
    return RunRecord(key=key, workflow_id=workflow_id, task_name=task, iteration=1, retry_count=attempt,
                     original_key=f"{workflow_id}/{task}.1#0" if attempt else None, action_ref="svc.echo",
                     status=status, seq=seq, started_at=datetime.now(UTC), **extra)


def snapshot(*records: RunRecord, status: str = "running", seq: int | None = None, **extra: Any) -> WorkflowSnapshot:
    return WorkflowSnapshot(workflow_id=WF, action_ref="svc.chain", status=status, records=list(records),
                            seq=seq if seq is not None else max((r.seq for r in records), default=0), **extra)


def rows(db: Database, parent: int) -> list[ExecutionRow]:
    with db.session() as s:
        return list(s.scalars(select(ExecutionRow).where(ExecutionRow.parent == parent).order_by(ExecutionRow.id)))


def test_the_same_report_applied_twice_writes_each_record_once(db: Database) -> None:
    target = submitted(db)
    snap = snapshot(record("a", "completed", seq=1, result={"ok": 1}), record("b", seq=2))
    apply.apply_snapshot(db, target, snap)
    apply.apply_snapshot(db, target, snap)
    tasks = rows(db, target.execution_id)
    assert [(r.workflow_task["task_name"], r.status) for r in tasks] == [("a", "completed"), ("b", "running")]
    assert tasks[0].result == {"ok": 1}
    with db.session() as s:
        assert s.get(WorkflowExecutionRow, target.wf_row_id).seq == 2  # the position, with the rows


def test_a_stale_report_never_moves_a_record_back(db: Database) -> None:
    target = submitted(db)
    apply.apply_snapshot(db, target, snapshot(record("a", "completed", seq=2)))
    apply.apply_snapshot(db, target, snapshot(record("a", "running", seq=1)))
    assert [r.status for r in rows(db, target.execution_id)] == ["completed"]


def test_a_report_read_before_the_run_heard_a_pause_or_resume_does_not_undo_it(db: Database) -> None:
    target = submitted(db)

    def statuses() -> tuple[str, str, int]:
        with db.session() as s:
            wf = s.get_one(WorkflowExecutionRow, target.wf_row_id)
            return s.get_one(ExecutionRow, target.execution_id).status, wf.status, wf.control

    apply.apply_snapshot(db, target, snapshot(status="running"))
    with db.session() as s:  # the API sent pause number 1, then resume number 2
        executions.mark_status(s, target.execution_id, ExecutionStatus.PAUSING, 1)
    apply.apply_snapshot(db, target, snapshot(status="running"))  # read before the pause
    assert statuses() == ("pausing", "pausing", 1)
    apply.apply_snapshot(db, target, snapshot(status="paused", control=1))
    assert statuses() == ("paused", "paused", 1)
    with db.session() as s:
        executions.mark_status(s, target.execution_id, ExecutionStatus.RUNNING, 2)
    for stale in ("pausing", "paused"):  # read before the resume, written after it
        apply.apply_snapshot(db, target, snapshot(status=stale, control=1))
        assert statuses() == ("running", "running", 2)
    apply.apply_snapshot(db, target, snapshot(status="canceling", control=1))  # other moves stand
    assert statuses() == ("canceling", "canceling", 2)
    apply.apply_snapshot(db, target, snapshot(status="cancelled", control=1))
    assert statuses() == ("cancelled", "cancelled", 2)


def test_a_retry_points_at_its_first_attempt(db: Database) -> None:
    target = submitted(db)
    apply.apply_snapshot(db, target, snapshot(record("flaky", "failed", seq=1),
                                              record("flaky", "completed", attempt=1, seq=2)))
    first, retry = rows(db, target.execution_id)
    assert retry.original_execution == first.id and retry.retry_count == 1


def test_a_nested_workflow_gets_its_own_workflow_row_and_is_read_next(db: Database) -> None:
    target = submitted(db)
    child = f"{WF}/inner.1#0"
    apply.apply_snapshot(db, target, snapshot(record("inner", seq=1, child_workflow_id=child)))
    found, _ = apply.targets(db)
    nested = next(t for t in found if t.workflow_id == child)
    assert not nested.top_level and nested.execution_id == rows(db, target.execution_id)[0].id


def test_a_nested_run_cancelled_before_it_existed_is_looked_for_a_while_before_its_records_close(
        db: Database) -> None:
    """Cancelled while its start was on its way, a child may still start, and its first task's
    record is claimed `running`: its workflow row was closed at the first "not found", so the
    child was never read again and that record stayed `running` for good."""
    target = submitted(db)
    child = f"{WF}/each.1[3]#0"
    apply.apply_snapshot(db, target, snapshot(record("each", "cancelled", seq=1, child_workflow_id=child,
                                                     ended_at=datetime.now(UTC))))
    nested = next(t for t in apply.targets(db)[0] if t.workflow_id == child)
    apply.close_nested_if_ended(db, nested)  # not found on the server just after
    assert any(t.workflow_id == child for t in apply.targets(db)[0])  # still looked for
    apply.close_nested_if_ended(db, nested, now=datetime.now(UTC) + apply.NESTED_MAY_START_FOR)
    assert not any(t.workflow_id == child for t in apply.targets(db)[0])  # it never came


def test_a_paused_top_level_run_reads_pausing_while_a_nested_run_still_runs_a_task(db: Database) -> None:
    """The top-level run reports `paused` once none of its own processes runs; its nested run
    pauses itself, and until it has (its own task ended), the tree is `pausing`."""
    target = submitted(db)
    child = f"{WF}/inner.1#0"
    apply.apply_snapshot(db, target, snapshot(record("inner", seq=1, child_workflow_id=child)))
    nested = next(t for t in apply.targets(db)[0] if t.workflow_id == child)

    def nested_snapshot(status: str) -> WorkflowSnapshot:
        return WorkflowSnapshot(workflow_id=child, action_ref="svc.inner", status=status, records=[],
                                seq=0, control=1)

    def top_status() -> str:
        with db.session() as s:
            return s.get_one(ExecutionRow, target.execution_id).status

    apply.apply_snapshot(db, nested, nested_snapshot("running"))
    with db.session() as s:
        executions.mark_status(s, target.execution_id, ExecutionStatus.PAUSING, 1)
    apply.apply_snapshot(db, target, snapshot(status="paused", control=1))
    assert top_status() == "pausing"  # the nested run has not even heard of the pause
    apply.apply_snapshot(db, nested, nested_snapshot("pausing"))
    assert top_status() == "pausing"
    touched = apply.apply_snapshot(db, nested, nested_snapshot("paused"))
    assert top_status() == "paused" and target.execution_id in touched
    apply.apply_snapshot(db, target, snapshot(status="paused", control=1))
    assert top_status() == "paused"


def test_the_end_of_the_top_level_run_closes_its_row(db: Database) -> None:
    target = submitted(db)
    apply.apply_snapshot(db, target, snapshot(record("a", "completed"), status="completed",
                                              result={"out": 1, "succeeded": True}))
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        assert row.status == "completed" and row.result == {"out": 1, "succeeded": True}
        assert row.ended_at is not None
    assert apply.target_of(db, WF) is None  # nothing left to read


def test_the_end_of_a_tree_cancels_its_open_questions_and_no_other(db: Database) -> None:
    target = submitted(db)
    with db.session() as s:
        for key, root, status in (("mine", WF, "pending"), ("answered", WF, "responded"),
                                  ("other", "svc.chain-9-xyz", "pending")):
            s.add(InquiryRow(key=key, root_workflow_id=root, prompt="ok?", status=status))
    apply.apply_snapshot(db, target, snapshot(status="running"))
    with db.session() as s:  # a run that goes on keeps its questions open
        assert s.scalar(select(InquiryRow.status).where(InquiryRow.key == "mine")) == "pending"
    apply.apply_snapshot(db, target, snapshot(status="failed", error="boom"))
    with db.session() as s:
        found = {key: status for key, status in s.execute(select(InquiryRow.key, InquiryRow.status))}
    assert found == {"mine": "cancelled", "answered": "responded", "other": "pending"}


def test_a_run_ended_from_outside_closes_its_row_and_abandons_what_it_left_open(db: Database) -> None:
    target = submitted(db)
    apply.apply_snapshot(db, target, snapshot(record("done", "completed", seq=1), record("open", seq=2)))
    apply.reconcile(db, target, ExecutionStatus.FAILED, "Workflow terminated")
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        assert row.status == "failed" and row.result == {"error": "Workflow terminated", "succeeded": False}
    assert {r.workflow_task["task_name"]: r.status for r in rows(db, target.execution_id)} == \
        {"done": "completed", "open": "abandoned"}


def test_a_plain_action_is_its_own_record(db: Database) -> None:
    target = submitted(db, workflow=False)
    assert target.wf_row_id is None
    apply.apply_snapshot(db, target, snapshot(record("echo", "completed", result={"stdout": "hi"}),
                                              status="completed"))
    with db.session() as s:
        row = s.get(ExecutionRow, target.execution_id)
        assert row.status == "completed" and row.result == {"stdout": "hi"} and row.mirror_seq == 1
    assert rows(db, target.execution_id) == []


def test_a_core_ask_record_creates_one_inquiry_that_expires_when_due(db: Database) -> None:
    target = submitted(db)
    asks = {"prompt": "Deploy?", "response_schema": {"ok": {"type": "boolean"}}, "timeout_seconds": 60}
    ask = record("approve", seq=1, asks=asks)
    apply.apply_snapshot(db, target, snapshot(ask))
    apply.apply_snapshot(db, target, snapshot(ask.model_copy(update={"seq": 2})))
    with db.session() as s:
        inquiry, = s.scalars(select(InquiryRow)).all()
        assert inquiry.prompt == "Deploy?" and inquiry.status == InquiryStatus.PENDING
        inquiry_id = inquiry.id
    assert apply.expire_inquiries(db, datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=30)) == []
    assert apply.expire_inquiries(db, datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=61)) != []
    with db.session() as s:
        assert s.get(InquiryRow, inquiry_id).status == InquiryStatus.TIMEOUT


def test_claim_returns_the_row_the_mirror_will_write(db: Database) -> None:
    target = submitted(db)
    early = record("a", seq=1)
    claimed = apply.claim(db, early)  # the worker asks before the mirror has read the attempt
    apply.apply_snapshot(db, target, snapshot(early.model_copy(update={"status": "completed", "seq": 2})))
    assert [r.id for r in rows(db, target.execution_id)] == [claimed]
    assert apply.claim(db, record("a", seq=3, workflow_id="unknown-run")) is None


def test_a_claimed_row_is_created_when_its_run_dispatched_it(db: Database) -> None:
    """The claim comes on the API's clock after the run's dispatch: the row read `created`
    after its own `started_at` (QA: the item also showed up before the tasks it followed)."""
    target = submitted(db)
    dispatched = datetime.now(UTC) - timedelta(seconds=2)
    claimed = apply.claim(db, record("a", seq=1))  # started_at: now, the worker's claim
    apply.apply_snapshot(db, target, snapshot(record("a", seq=2).model_copy(update={"started_at": dispatched})))
    [row] = rows(db, target.execution_id)
    assert row.id == claimed and utc(row.created) == utc(row.started_at) == dispatched


@pytest.mark.parametrize("first", ["mirror", "claim"])
def test_a_claim_and_the_mirror_inserting_the_same_attempt_at_once_write_one_row(db: Database,
                                                                                 first: str) -> None:
    """A worker whose attempt has no reserved id claims while the mirror's pass writes the same
    attempt: whichever commits second met the unique key and answered 500 (CI, stop 17)."""
    target = submitted(db)
    early = record("a", seq=1)
    report = snapshot(early.model_copy(update={"status": "completed", "seq": 2}))
    answers: list[int | None] = []
    fired: list[bool] = []

    def the_other_writer_commits_first(s: Session, _ctx: object, _objs: object) -> None:
        inserting = any(isinstance(o, ExecutionRow) and o.key == early.key for o in s.new)
        if fired or not inserting:  # only the flush of a session that looked and found no row
            return
        fired.append(True)
        if first == "mirror":
            apply.apply_snapshot(db, target, report)
        else:
            answers.append(apply.claim(db, early))

    event.listen(Session, "before_flush", the_other_writer_commits_first)
    try:
        if first == "mirror":
            answers.append(apply.claim(db, early))
        else:
            apply.apply_snapshot(db, target, report)
    finally:
        event.remove(Session, "before_flush", the_other_writer_commits_first)
    written = rows(db, target.execution_id)
    assert [r.id for r in written] == answers
    assert written[0].status == "completed"


def test_a_pass_that_meets_claims_in_turn_still_writes_each_attempt_once(db: Database) -> None:
    """The mirror's pass writes two new attempts while both their workers claim, each claim
    committing just before the pass's insert: two conflicts in a row, which the pass used to
    fail on (logged, read again next tick); it now writes on."""
    target = submitted(db)
    a, b = record("a", seq=1), record("b", seq=2)
    claimed: dict[str, int | None] = {}
    busy: list[bool] = []

    def a_claim_commits_first(s: Session, _ctx: object, _objs: object) -> None:
        if busy:  # the claim's own flush
            return
        new = [o.key for o in s.new if isinstance(o, ExecutionRow) and o.key not in claimed]
        if new:
            key = sorted(new)[0]
            busy.append(True)
            try:
                claimed[key] = apply.claim(db, a if key == a.key else b)
            finally:
                busy.clear()

    event.listen(Session, "before_flush", a_claim_commits_first)
    try:
        apply.apply_snapshot(db, target, snapshot(a, b.model_copy(update={"status": "completed"})))
    finally:
        event.remove(Session, "before_flush", a_claim_commits_first)
    written = {r.key: r for r in rows(db, target.execution_id)}
    assert set(claimed) == {a.key, b.key}  # two conflicts, one per attempt
    assert {key: row.id for key, row in written.items()} == claimed
    assert written[b.key].status == "completed"


def test_a_claim_reads_the_same_few_rows_however_long_the_run(db: Database) -> None:
    """Every task row carries its run's workflow id; a claim that found its run's row by that id
    loaded all of them, so a run's claims cost O(tasks²) (1,000 items: seconds of API CPU)."""
    target = submitted(db)
    loaded: list[object] = []

    def on_load(row: ExecutionRow, _context: object) -> None:
        loaded.append(row)

    event.listen(ExecutionRow, "load", on_load)
    try:
        counts = []
        for i in range(60):
            loaded.clear()
            claimed = apply.claim(db, record(f"t{i}", seq=i + 1))
            counts.append(len(loaded))
            assert claimed is not None
    finally:
        event.remove(ExecutionRow, "load", on_load)
    assert max(counts) <= 2, counts  # the owner, at most one other; never the run's task rows
    assert len(rows(db, target.execution_id)) == 60


def test_a_claim_finds_its_owner_for_plain_actions_and_nested_runs(db: Database) -> None:
    target = submitted(db, workflow=False, workflow_id="svc.echo-1")
    assert apply.claim(db, record("echo", workflow_id="svc.echo-1")) == target.execution_id
    parent = submitted(db, workflow_id="svc.chain-9")
    child = "svc.chain-9/sub.1#0-child"
    nested = apply.claim(db, record("sub", workflow_id="svc.chain-9", child_workflow_id=child))
    inner = apply.claim(db, record("inner", workflow_id=child))
    assert [r.workflow_id for r in rows(db, parent.execution_id)] == [child]
    assert [r.id for r in rows(db, nested)] == [inner]  # owned by the nested row, not by a task


def test_a_submission_left_requested_is_listed_after_a_while(db: Database) -> None:
    with db.session() as s:
        row, _ = executions.create_requested(s, action_ref="svc.chain", config={}, timeout_seconds=None,
                                             is_workflow=True, workflow_id="svc.chain-2")
        row.created = datetime.now(UTC).replace(tzinfo=None) - apply.STALE_REQUESTED_AFTER - timedelta(seconds=1)
        row_id = row.id
    _, stale = apply.targets(db)
    assert stale == [("svc.chain-2", row_id)]
    apply.settle_requested(db, row_id, ExecutionStatus.FAILED, {"error": "never started", "succeeded": False})
    assert apply.targets(db)[1] == []


def test_targets_are_exactly_the_live_runs_whatever_the_statuses(db: Database) -> None:
    """The target queries (one index lookup per live status, parent checked in Python, issue
    13.5) pick what the plain definition picks: every workflow row not ended whose execution is
    past `requested`, and every top-level plain action not ended, in id order."""
    with db.session() as s:
        for i, status in enumerate(ExecutionStatus):
            for kind in ("workflow", "plain", "task"):
                for wf_status in ((ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED)
                                  if kind == "workflow" else (None,)):
                    top = ExecutionRow(action_ref="svc.x", status=status, config={}, retry_count=0,
                                       mirror_seq=i, workflow_id=f"w-{kind}-{status}-{wf_status}",
                                       parent=None)
                    s.add(top)
                    s.flush()
                    if kind == "task":  # a plain row under a workflow is never a target itself
                        s.add(ExecutionRow(action_ref="svc.x", status=status, config={},
                                           retry_count=0, mirror_seq=0, parent=top.id,
                                           workflow_id=f"w-child-{status}", key=f"k-{status}"))
                    if wf_status is not None:
                        s.add(WorkflowExecutionRow(
                            execution=top.id, workflow_id=top.workflow_id, action_ref="svc.x",
                            status=wf_status, current_tasks=[], completed_tasks=[], failed_tasks=[],
                            variables={}, task_graph={}, seq=i))
    with db.session() as s:
        expected = []
        for row in s.scalars(select(ExecutionRow).order_by(ExecutionRow.id)):
            wf = executions.workflow_of(s, row.id)
            if wf is not None and wf.status not in apply.TERMINAL and row.status != "requested":
                expected.append(apply.Target(row.id, row.workflow_id or "", wf.seq, wf.id, True))
        for row in s.scalars(select(ExecutionRow).order_by(ExecutionRow.id)):
            if (row.parent is None and executions.workflow_of(s, row.id) is None
                    and row.status not in apply.TERMINAL | {"requested"}):
                expected.append(apply.Target(row.id, row.workflow_id or "", row.mirror_seq, None, True))
    found, _ = apply.targets(db)
    assert found == expected
    assert len(expected) == len(ExecutionStatus) - 1 + 2 * len(apply.LIVE_STARTED)
    for target in expected:  # a top-level row already ended is not read again by its watcher
        ended = any(f"-{status}-" in target.workflow_id for status in apply.TERMINAL)
        assert apply.target_of(db, target.workflow_id) == (None if ended else target)


def test_an_attempt_with_a_reserved_id_is_written_under_it(db: Database) -> None:
    """The id its action saw as ATTUNE_EXEC_ID (issue 13); one already taken (a database restored
    from an older backup) gives the row a fresh id instead of stalling the mirror."""
    target = submitted(db)
    with db.session() as s:
        ids = reserved_ids.reserve(s, 3)
        s.add(ExecutionRow(id=ids[2], action_ref="svc.echo", status="completed", config={}, retry_count=0,
                           mirror_seq=0))
    snap = snapshot(record("a", "completed", seq=1, record_id=ids[0]), record("b", seq=2, record_id=ids[2]))
    apply.apply_snapshot(db, target, snap)
    apply.apply_snapshot(db, target, snap)
    written = {r.workflow_task["task_name"]: r.id for r in rows(db, target.execution_id)}
    assert written["a"] == ids[0]
    assert written["b"] not in ids
    assert apply.claim(db, record("a", seq=3)) == ids[0]  # a late claim finds the same row


def test_an_inquiry_asked_before_its_attempt_was_recorded_is_linked_once_it_is(db: Database) -> None:
    """An action asks through the API before the mirror writes its attempt's record: the
    inquiry knows the attempt by key, and gets the record's id as soon as that exists."""
    from attune.records import inquiries

    target = submitted(db)
    asking = record("ask", "running")
    with db.session() as s:
        row, created = inquiries.create(s, attempt_key=asking.key, root_workflow_id=WF, prompt="Ship?",
                                        response_schema={}, purpose=None, assigned_to=None, timeout_seconds=None)
        assert created and row.execution is None
    apply.apply_snapshot(db, target, snapshot(asking))
    (attempt,) = rows(db, target.execution_id)
    with db.session() as s:
        found, total = inquiries.list_inquiries(s, inquiries.InquiryFilter(execution=attempt.id), 1, 10)
        assert total == 1 and found[0].execution == attempt.id
    with db.session() as s:  # kept
        assert s.scalar(select(InquiryRow.execution).where(InquiryRow.id == found[0].id)) == attempt.id
        # The workflow's own id lists its tasks' questions too (what `attune run --async` printed).
        by_run, total = inquiries.list_inquiries(s, inquiries.InquiryFilter(execution=target.execution_id), 1, 10)
        assert total == 1 and by_run[0].id == found[0].id


def test_of_two_writers_settling_one_inquiry_exactly_one_wins(db: Database) -> None:
    """Two answers sent at once were both accepted (each read the row pending, then wrote),
    and the row could keep one answer while the run went on with the other. The move out of
    `pending` is conditional: the second writer learns it lost and sees the winner's answer."""
    with db.session() as s:
        s.add(InquiryRow(key="q", root_workflow_id=WF, prompt="ok?", status="pending"))
    with db.session() as first, db.session() as second:
        mine = first.scalar(select(InquiryRow).where(InquiryRow.key == "q"))
        theirs = second.scalar(select(InquiryRow).where(InquiryRow.key == "q"))
        assert mine.status == theirs.status == "pending"  # both read it open
        assert inquiries.settle(first, mine, InquiryStatus.RESPONDED, response={"ok": True})
        first.commit()
        assert not inquiries.settle(second, theirs, InquiryStatus.TIMEOUT)
        assert theirs.status == "responded" and theirs.response == {"ok": True}
    with db.session() as s:
        assert s.scalar(select(InquiryRow.status).where(InquiryRow.key == "q")) == "responded"
