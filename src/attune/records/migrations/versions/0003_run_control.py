"""Run control (spec §9): inquiries, the waits of tasks on them, and re-run links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inquiries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(700), nullable=False, unique=True),
        sa.Column("execution", sa.Integer, sa.ForeignKey("executions.id", ondelete="SET NULL")),
        sa.Column("execution_key", sa.String(512)),
        sa.Column("root_workflow_id", sa.String(512)),
        sa.Column("purpose", sa.Text),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("response_schema", sa.JSON, nullable=False),
        sa.Column("assigned_to", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.JSON),
        sa.Column("timeout_at", TS),
        sa.Column("responded_at", TS),
        sa.Column("created", TS, nullable=False),
        sa.Column("updated", TS, nullable=False),
    )
    for column in ("execution", "execution_key", "root_workflow_id", "status"):
        op.create_index(f"ix_inquiries_{column}", "inquiries", [column])
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("waits_for_inquiry", sa.Integer))
        batch.add_column(sa.Column("inquiry_told", sa.String(16)))
        batch.add_column(sa.Column("rerun_of", sa.Integer))
        batch.create_index("ix_executions_waits_for_inquiry", ["waits_for_inquiry"])
        batch.create_foreign_key("fk_executions_rerun_of", "executions", ["rerun_of"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_constraint("fk_executions_rerun_of", type_="foreignkey")
        batch.drop_index("ix_executions_waits_for_inquiry")
        batch.drop_column("rerun_of")
        batch.drop_column("inquiry_told")
        batch.drop_column("waits_for_inquiry")
    op.drop_table("inquiries")
