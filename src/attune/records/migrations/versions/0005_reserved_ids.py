"""Execution ids reserved ahead of their rows (issue 13): a run takes its task attempts' record
ids from a block the records database handed out, so a task knows its ATTUNE_EXEC_ID without
asking the API on its critical path.

PostgreSQL reserves from the id column's own sequence and needs nothing new. SQLite hands out
`max(rowid) + 1` for a row inserted without an id, which could take an id reserved but not yet
written; there every id comes from this one-row counter instead (records/reserved_ids.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_counters",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("next_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("id_counters")
