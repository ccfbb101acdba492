"""Listing executions (issue 13.5): every filter, by offset and by keyset, returns exactly the rows
a plain reading of the filter picks, newest first by creation (ids, reserved ahead, are not in
that order; equal times go by id), on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert

from attune.records.db import Database
from attune.records.executions import ExecutionFilter, list_executions
from attune.records.models import ExecutionRow, utcnow

STATUSES = ["completed", "failed", "running", "paused", "cancelled"]
ACTIONS = ["ops.run", "ops.check", "opsx.run", "core.run", "o_s.run"]  # `_` is no LIKE wildcard here
FILTERS = [
    ExecutionFilter(),
    ExecutionFilter(status=["failed"]),
    ExecutionFilter(status=["running", "paused"]),
    ExecutionFilter(action_ref="ops.check"),
    ExecutionFilter(action_ref="ops.*"),
    ExecutionFilter(action_ref="o_s.*"),
    ExecutionFilter(parent=1),
    ExecutionFilter(top_level_only=True),
    ExecutionFilter(status=["completed"], action_ref="core.*", top_level_only=True),
]


@pytest.fixture
def rows(database_url: str) -> Iterator[tuple[Database, list[dict]]]:
    db = Database(database_url)
    db.migrate()
    rnd = random.Random(3)
    made, start = [], utcnow()
    for i in range(1, 301):
        created = start + timedelta(seconds=rnd.randrange(100))  # ~3 rows per instant
        parent = None if i < 4 or rnd.random() < 0.4 else rnd.randrange(1, 4)
        made.append({"id": i, "action_ref": rnd.choice(ACTIONS), "status": rnd.choice(STATUSES),
                     "parent": parent, "config": {}, "retry_count": 0, "mirror_seq": 0,
                     "created": created, "updated": utcnow()})
    with db.session() as s:
        s.execute(insert(ExecutionRow), made)
    yield db, made
    db.dispose()


def expected(made: list[dict], f: ExecutionFilter) -> list[int]:
    def keep(r: dict) -> bool:
        ref = f.action_ref
        return ((not f.status or r["status"] in f.status)
                and (ref is None or (r["action_ref"].startswith(ref[:-1]) if ref.endswith(".*")
                                     else r["action_ref"] == ref))
                and (f.parent is None or r["parent"] == f.parent)
                and (not f.top_level_only or r["parent"] is None))
    return [r["id"] for r in sorted((r for r in made if keep(r)), key=lambda r: (r["created"], r["id"]),
                                    reverse=True)]


@pytest.mark.parametrize("per_page", [1, 7, 50])
def test_offset_and_keyset_pages_hold_exactly_the_filtered_rows(rows, per_page: int) -> None:
    db, made = rows
    for f in FILTERS:
        want = expected(made, f)
        with db.session() as s:
            by_offset, page = [], 1
            while True:
                listed = list_executions(s, f, page, per_page)
                assert listed.total == len(want) and listed.page == page
                by_offset += [r.id for r in listed.rows]
                if not listed.has_next:
                    break
                page += 1
            by_keyset, after, number = [], None, 1
            while True:
                listed = (list_executions(s, f, 1, per_page) if after is None
                          else list_executions(s, f, 1, per_page, after))
                assert listed.total == len(want) and listed.page == number
                by_keyset += [r.id for r in listed.rows]
                if not listed.has_next:
                    break
                after, number = listed.rows[-1].id, number + 1
        assert by_offset == want, f
        assert by_keyset == want, f
