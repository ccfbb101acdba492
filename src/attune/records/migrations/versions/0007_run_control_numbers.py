"""Pause and resume requests are numbered, so a stale report cannot undo one.

The API numbers each pause or resume it sends a run (`workflow_executions.control`), and the
run reports the number of the last it applied. The mirror ignores a running/pausing/paused
report older than the records' number: one read before the run heard the request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_executions") as batch:
        batch.add_column(sa.Column("control", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("workflow_executions") as batch:
        batch.drop_column("control")
