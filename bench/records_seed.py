"""Seeding a records database with N realistic executions, straight through SQL (no engine).

The mix: a third of the rows are submissions (plain actions and workflows), the rest the task
rows of those workflows; mostly ended (completed, some failed, cancelled, timeout), a few still
running; a few KB of result on one row in twenty. Rows that have not ended carry no workflow id,
so the API's mirror has nothing to ask the engine about: it only runs its target queries (the
cost this benchmark watches) against the whole table.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, text

from attune.records.db import Database
from attune.records.models import ExecutionRow, WorkflowExecutionRow

PACKS = ("core", "ops", "deploy", "backup", "monitor", "notify")
ACTIONS = [f"{pack}.{verb}" for pack in PACKS for verb in ("run", "check", "sync", "report")]
ENDED = ["completed"] * 80 + ["failed"] * 10 + ["cancelled"] * 4 + ["timeout"] * 2
LIVE = ["running", "scheduled", "paused"]
CHILDREN = 9  # task rows per seeded workflow
BIG_RESULT = "x" * 3000  # "a few KB" of result on some rows
_BATCH = 2000


@dataclass
class Seeded:
    rows: int
    workflows: list[int]  # ids of top-level workflow rows (their children are listed by parent)
    ids: list[int]  # every id, for random gets


def seed(url: str, total: int, *, seed_value: int = 13) -> Seeded:
    """Migrate a fresh database and insert `total` executions; ANALYZE so plans are realistic."""
    db = Database(url)
    try:
        db.migrate()
        seeded = _insert(db.engine, total, random.Random(seed_value))
        # What a database that has lived with these rows would have: statistics, and on
        # PostgreSQL a visibility map (autovacuum's), without which no count is index-only.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql"
                              else "ANALYZE"))
        return seeded
    finally:
        db.dispose()


def _insert(engine: Engine, total: int, rnd: random.Random) -> Seeded:
    ex_rows: list[dict[str, Any]] = []
    wf_rows: list[dict[str, Any]] = []
    workflows: list[int] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    next_id = 1
    while next_id <= total:
        top = next_id
        is_workflow = rnd.random() < 0.75 and total - top >= CHILDREN
        ex_rows.append(_row(rnd, top, None, start + timedelta(seconds=top), is_workflow))
        next_id += 1
        if is_workflow:
            workflows.append(top)
            wf_rows.append(_wf_row(top, ex_rows[-1]))
            for _ in range(CHILDREN):
                ex_rows.append(_row(rnd, next_id, top, start + timedelta(seconds=next_id), False))
                next_id += 1
    with engine.begin() as conn:
        for chunk in _chunks(ex_rows):
            conn.execute(insert(ExecutionRow), chunk)
        for chunk in _chunks(wf_rows):
            conn.execute(insert(WorkflowExecutionRow), chunk)
    if engine.dialect.name == "postgresql":  # ids were given: move the sequences past them
        with engine.begin() as conn:
            for table in ("executions", "workflow_executions"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
    return Seeded(rows=len(ex_rows), workflows=workflows, ids=[r["id"] for r in ex_rows])


def _row(rnd: random.Random, row_id: int, parent: int | None, at: datetime,
         is_workflow: bool) -> dict[str, Any]:
    live = rnd.random() < 0.01
    status = rnd.choice(LIVE) if live else rnd.choice(ENDED)
    action = f"{rnd.choice(PACKS)}.flow" if is_workflow else rnd.choice(ACTIONS)
    result = None if live else {"succeeded": status == "completed", "stdout": "ok",
                                "data": BIG_RESULT if rnd.random() < 0.05 else None}
    return {
        "id": row_id, "key": None if parent is None else f"wf-{parent}:task{row_id}:0:0",
        "workflow_id": None if live else f"{action}-{row_id}", "action_ref": action,
        "status": status, "parent": parent, "config": {"n": row_id % 97},
        "result": result, "retry_count": 0, "mirror_seq": 0,
        "workflow_task": None if parent is None else {"workflow_execution": parent,
                                                      "task_name": f"task{row_id % CHILDREN}"},
        "started_at": at, "ended_at": None if live else at + timedelta(seconds=2),
        "created": at, "updated": at,
    }


def _wf_row(execution_id: int, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": execution_id, "execution": execution_id, "workflow_id": row["workflow_id"],
        "action_ref": row["action_ref"], "status": row["status"], "current_tasks": [],
        "completed_tasks": [f"task{i}" for i in range(CHILDREN)], "failed_tasks": [],
        "variables": {"big": BIG_RESULT}, "task_graph": {"tasks": list(range(CHILDREN))}, "seq": 1,
        "created": row["created"], "updated": row["updated"],
    }


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), _BATCH):
        yield rows[i:i + _BATCH]
