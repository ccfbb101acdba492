"""The executions list in creation order: indexes on (created, id).

`GET /executions` listed by id, newest first; but ids are reserved in blocks ahead of the rows
(0005), so a task's first attempt could list above its fourth. It now lists by (created, id).
These indexes serve that order as 0004's and 0006's served the id order, which they replace:
the order alone (a page of everything, and an offset page skipping over index entries rather
than rows, on both databases), and after each filter's column (which also serve every lookup
by that column the (column, id) ones did).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-11
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("status", "action_ref", "parent")


def upgrade() -> None:
    op.create_index("ix_executions_created_id", "executions", ["created", "id"])
    for column in COLUMNS:
        op.create_index(f"ix_executions_{column}_created_id", "executions", [column, "created", "id"])
        op.drop_index(f"ix_executions_{column}_id", "executions")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_executions_id", "executions")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_executions_id", "executions", ["id"])
    for column in COLUMNS:
        op.create_index(f"ix_executions_{column}_id", "executions", [column, "id"])
        op.drop_index(f"ix_executions_{column}_created_id", "executions")
    op.drop_index("ix_executions_created_id", "executions")
