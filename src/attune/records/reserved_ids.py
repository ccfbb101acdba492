"""Execution ids handed out before their rows exist (issue 13).

A workflow run takes a block of ids and gives one to each task attempt it dispatches; the
runtime worker passes it to the action as ATTUNE_EXEC_ID and the records mirror writes the
attempt's row under it. So no task waits for the API before its process starts, and the API
does one request per block instead of one per task.

An id handed out is never given to another row, written or not:
- PostgreSQL: ids come from the id column's sequence, which a plain insert also draws from.
- SQLite: a row inserted without an id gets `max(rowid) + 1`, which could be a reserved id not
  written yet; so on SQLite every execution row takes its id from one counter row, plain inserts
  included (the `before_insert` hook below). The counter never falls behind the table: each draw
  starts past `max(id)` too, so rows written by other means (a restored backup) are skipped.
Unused reserved ids are gaps in the numbering, as a rolled-back insert leaves on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session

from attune.records.models import ExecutionRow

MAX_BLOCK = 1000  # ids per request: a run asks again as it uses them up
_COUNTER = "executions"


def reserve(s: Session, count: int) -> list[int]:
    """`count` execution ids that no row has and no other caller gets."""
    if not 0 < count <= MAX_BLOCK:
        raise ValueError(f"count must be between 1 and {MAX_BLOCK}, not {count}")
    return _draw(s.connection(), count)


def _draw(conn: Connection, count: int) -> list[int]:
    if conn.dialect.name == "postgresql":
        return list(conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('executions', 'id')) FROM generate_series(1, :n)"),
            {"n": count}).scalars())
    # One statement, so the write lock is taken at once: a read then a write in one SQLite
    # transaction can fail (busy snapshot) when another writer commits between the two.
    end = conn.execute(text(
        "INSERT INTO id_counters (name, next_id) "
        "VALUES (:name, (SELECT coalesce(max(id), 0) + 1 FROM executions) + :n) "
        "ON CONFLICT (name) DO UPDATE SET next_id = "
        "max(next_id, (SELECT coalesce(max(id), 0) + 1 FROM executions)) + :n "
        "RETURNING next_id"), {"name": _COUNTER, "n": count}).scalar_one()
    return list(range(end - count, end))


@event.listens_for(ExecutionRow, "before_insert")
def _sqlite_id(_mapper: Any, conn: Connection, row: ExecutionRow) -> None:
    if row.id is None and conn.dialect.name == "sqlite":
        row.id = _draw(conn, 1)[0]
