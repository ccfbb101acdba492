"""Edges: fractional task timeouts, and a status detail that says what a run is stuck on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column's type in place (Alembic copies the table).
    with op.batch_alter_table("executions") as batch:
        batch.alter_column("timeout_seconds", type_=sa.Float, existing_type=sa.Integer,
                           existing_nullable=True)
        batch.add_column(sa.Column("status_detail", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("status_detail")
        batch.alter_column("timeout_seconds", type_=sa.Integer, existing_type=sa.Float,
                           existing_nullable=True)
