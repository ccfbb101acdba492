"""Current tasks that wait out a delay or a retry's delay, and until when.

A run reports which of its current tasks wait for a timer (`RunState.waiting`): without it a
task waiting for its `delay` or for a retry read as running while no process ran it. NULL on
rows written before: they read as no waits.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_executions") as batch:
        batch.add_column(sa.Column("waiting", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_column("waiting")
