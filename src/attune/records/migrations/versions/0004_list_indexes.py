"""Indexes for lists at scale: every filter of GET /executions, newest first, read off an index.

Each filter column is indexed together with the id, so a filtered page newest first (and a
keyset page `after` an id) walks one index range in order instead of sorting or filtering the
whole table. On PostgreSQL a single-column index made the planner walk the primary key backwards
and filter (a deep page of a rare action read ~50,000 rows); SQLite gets the same order from
the rowid its indexes already carry, so there it costs nothing. The composite indexes replace
the single-column ones, whose every lookup they also serve (one index to write, not two).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("status", "action_ref", "parent")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_executions_{column}_id", "executions", [column, "id"])
        op.drop_index(f"ix_executions_{column}", "executions")


def downgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_executions_{column}", "executions", [column])
        op.drop_index(f"ix_executions_{column}_id", "executions")
