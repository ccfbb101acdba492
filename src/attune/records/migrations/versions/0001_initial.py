"""Initial schema: packs, actions, workflow definitions, executions, workflow executions.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column]:
    return [sa.Column("created", TS, nullable=False), sa.Column("updated", TS, nullable=False)]


def upgrade() -> None:
    op.create_table(
        "packs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(255), nullable=False, unique=True),
        sa.Column("label", sa.String(255)),
        sa.Column("description", sa.Text),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("conf_schema", sa.JSON),
        sa.Column("tags", sa.JSON, nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(255), nullable=False, unique=True),
        sa.Column("pack_id", sa.Integer, sa.ForeignKey("packs.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("pack_ref", sa.String(255), nullable=False, index=True),
        sa.Column("runner", sa.String(32)),
        sa.Column("is_workflow", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "workflow_definitions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(255), nullable=False, unique=True),
        sa.Column("pack_ref", sa.String(255), nullable=False, index=True),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("workflow_file", sa.Text),
        sa.Column("definition", sa.JSON, nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(512), unique=True),
        sa.Column("workflow_id", sa.String(512), index=True),
        sa.Column("action_ref", sa.String(255), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("parent", sa.Integer, sa.ForeignKey("executions.id", ondelete="CASCADE"),
                  index=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON),
        sa.Column("workflow_task", sa.JSON),
        sa.Column("retry_count", sa.Integer, nullable=False),
        sa.Column("original_execution", sa.Integer,
                  sa.ForeignKey("executions.id", ondelete="SET NULL")),
        sa.Column("timeout_seconds", sa.Integer),
        sa.Column("started_at", TS),
        sa.Column("ended_at", TS),
        sa.Column("mirror_seq", sa.Integer, nullable=False),
        *_timestamps(),
    )
    op.create_table(
        "workflow_executions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("execution", sa.Integer, sa.ForeignKey("executions.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("workflow_id", sa.String(512), unique=True),
        sa.Column("action_ref", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("current_tasks", sa.JSON, nullable=False),
        sa.Column("completed_tasks", sa.JSON, nullable=False),
        sa.Column("failed_tasks", sa.JSON, nullable=False),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("task_graph", sa.JSON, nullable=False),
        sa.Column("error_message", sa.Text),
        sa.Column("seq", sa.Integer, nullable=False),
        *_timestamps(),
    )


def downgrade() -> None:
    for table in ("workflow_executions", "executions", "workflow_definitions", "actions", "packs"):
        op.drop_table(table)
