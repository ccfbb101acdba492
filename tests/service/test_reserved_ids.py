"""Execution ids reserved ahead of their rows (issue 13), on SQLite and PostgreSQL: an id handed
out is never taken by another row, whether that row comes with a reserved id or without one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import insert, select

from attune.records import executions, reserved_ids
from attune.records.db import Database
from attune.records.models import ExecutionRow, utcnow


def plain_row(db: Database) -> int:
    """A row inserted without an id (as the mirror inserts an attempt nobody reserved one for)."""
    with db.session() as s:
        row = ExecutionRow(action_ref="svc.echo", status="running", config={}, retry_count=0, mirror_seq=0)
        s.add(row)
        s.flush()
        return row.id


def submission(db: Database, task_ids: int) -> list[int]:
    """A submission's row id and the ids reserved with it for its task attempts."""
    with db.session() as s:
        row, ids = executions.create_requested(s, action_ref="svc.chain", config={}, timeout_seconds=None,
                                               is_workflow=True, task_ids=task_ids)
        assert row.workflow_id is not None and row.workflow_id.startswith(f"svc.chain-{row.id}-")
        return [row.id, *ids]


def test_reserved_ids_are_never_given_to_a_row_inserted_without_one(db: Database) -> None:
    first = plain_row(db)
    with db.session() as s:
        block = reserved_ids.reserve(s, 50)
    assert len(set(block)) == 50 and min(block) > first
    later = [plain_row(db) for _ in range(5)]
    assert not set(later) & set(block)
    with db.session() as s:  # the mirror then writes rows under the reserved ids
        for i in block[:3]:
            s.add(ExecutionRow(id=i, action_ref="svc.echo", status="running", config={}, retry_count=0,
                               mirror_seq=0))
    assert plain_row(db) not in block


def test_a_submission_draws_its_own_id_and_its_tasks_ids_in_one_block(db: Database) -> None:
    first = submission(db, 3)
    assert len(first) == 4 and first == sorted(set(first))
    others = [plain_row(db), *submission(db, 0)]
    with db.session() as s:
        others += reserved_ids.reserve(s, 5)
    assert not set(first) & set(others)
    capped = submission(db, reserved_ids.MAX_BLOCK + 50)  # a run asks for the rest as it goes
    assert len(capped) == reserved_ids.MAX_BLOCK


def test_concurrent_reservations_and_inserts_never_share_an_id(db: Database) -> None:
    taken: list[list[int]] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(10):
                with db.session() as s:
                    taken.append(reserved_ids.reserve(s, n))
                taken.append([plain_row(db)])
                taken.append(submission(db, n))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 7, 25, 100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = [i for block in taken for i in block]
    assert len(ids) == len(set(ids)) == 10 * 2 * (1 + 7 + 25 + 100) + 10 * 2 * 4


def test_sqlite_reservations_skip_rows_written_past_the_counter(tmp_path) -> None:
    """SQLite's counter: rows it did not hand out (a restored backup, a bulk load) are never
    reissued. (PostgreSQL draws from the id column's sequence, as its plain inserts do.)"""
    db = Database(f"sqlite:///{tmp_path / 'records.db'}")
    db.migrate()
    with db.session() as s:
        reserved_ids.reserve(s, 1)
        s.execute(insert(ExecutionRow), [{"id": 5000, "action_ref": "svc.echo", "status": "completed",
                                          "config": {}, "retry_count": 0, "mirror_seq": 0,
                                          "created": utcnow(), "updated": utcnow()}])
    with db.session() as s:
        assert min(reserved_ids.reserve(s, 3)) > 5000
    assert plain_row(db) > 5000


@pytest.mark.parametrize("count", [0, -1, reserved_ids.MAX_BLOCK + 1])
def test_a_block_out_of_bounds_is_refused(db: Database, count: int) -> None:
    with db.session() as s, pytest.raises(ValueError, match="count must be between 1 and"):
        reserved_ids.reserve(s, count)
    with db.session() as s:
        assert s.scalar(select(ExecutionRow.id)) is None
