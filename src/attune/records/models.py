"""Execution records and registered definitions as SQLAlchemy 2 models (spec §8).

Column types are portable (SQLite by default, PostgreSQL in production): JSON columns use the
generic `JSON` type and timestamps are stored as UTC. Schema changes go through Alembic
(`records/migrations/versions/`), never `create_all`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite hands them back naive, and every one is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class _Timestamps:
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PackRow(_Timestamps, Base):
    __tablename__ = "packs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    label: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64), default="0.0.0")
    path: Mapped[str | None] = mapped_column(Text)  # None for packs created through the API
    config: Mapped[Any] = mapped_column(JSON, default=dict)
    conf_schema: Mapped[Any] = mapped_column(JSON, nullable=True)
    tags: Mapped[Any] = mapped_column(JSON, default=list)

    actions: Mapped[list[ActionRow]] = relationship(
        back_populates="pack", cascade="all, delete-orphan", passive_deletes=True
    )


class ActionRow(_Timestamps, Base):
    """One action; `definition` is the full `packs.models.Action` as JSON (workflow included)."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"), index=True)
    pack_ref: Mapped[str] = mapped_column(String(255), index=True)
    runner: Mapped[str | None] = mapped_column(String(32))
    is_workflow: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    definition: Mapped[Any] = mapped_column(JSON)

    pack: Mapped[PackRow] = relationship(back_populates="actions")
    workflow: Mapped[WorkflowDefinitionRow | None] = relationship(
        back_populates="action", cascade="all, delete-orphan", passive_deletes=True
    )


class WorkflowDefinitionRow(_Timestamps, Base):
    """The graph of a workflow action (its companion action row owns ref, parameters, output)."""

    __tablename__ = "workflow_definitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    pack_ref: Mapped[str] = mapped_column(String(255), index=True)
    action_id: Mapped[int] = mapped_column(
        ForeignKey("actions.id", ondelete="CASCADE"), unique=True
    )
    workflow_file: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[Any] = mapped_column(JSON)

    action: Mapped[ActionRow] = relationship(back_populates="workflow")


class ExecutionRow(_Timestamps, Base):
    """One submitted action/workflow, or one task attempt / with_items item / nested workflow."""

    __tablename__ = "executions"
    # The list's order, newest first by (created, id) (records/executions.py), alone and after
    # every list filter's column, so a page, filtered or not, reads one index range in order,
    # and an offset page skips over index entries, not the table's rows (migration 0009).
    __table_args__ = (Index("ix_executions_created_id", "created", "id"),
                      *(Index(f"ix_executions_{c}_created_id", c, "created", "id")
                        for c in ("status", "action_ref", "parent")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # RunRecord.key for rows mirrored from a workflow; None for top-level submissions.
    key: Mapped[str | None] = mapped_column(String(512), unique=True)
    # Temporal workflow id: the submitted workflow (top level) or the child (nested workflow rows).
    workflow_id: Mapped[str | None] = mapped_column(String(512), index=True)
    action_ref: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    parent: Mapped[int | None] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    config: Mapped[Any] = mapped_column(JSON, default=dict)  # parameters, secrets redacted
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    workflow_task: Mapped[Any] = mapped_column(JSON, nullable=True)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    original_execution: Mapped[int | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL")
    )
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    # Why a run is not moving, when the engine says so (e.g. its workflow task keeps failing).
    status_detail: Mapped[str | None] = mapped_column(Text)
    # A task waiting for an inquiry (wait_for, core.ask), and the inquiry status it was last
    # told (the mirror tells the waiting run each change, until the wait ends).
    waits_for_inquiry: Mapped[int | None] = mapped_column(Integer, index=True)
    inquiry_told: Mapped[str | None] = mapped_column(String(16))
    # The execution this one re-runs (spec §9).
    rerun_of: Mapped[int | None] = mapped_column(ForeignKey("executions.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Mirror bookkeeping for top-level plain actions (workflows keep theirs on WorkflowExecutionRow).
    mirror_seq: Mapped[int] = mapped_column(Integer, default=0)


class WorkflowExecutionRow(_Timestamps, Base):
    """The state of one workflow run (top-level or nested), beside its execution row."""

    __tablename__ = "workflow_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution: Mapped[int] = mapped_column(
        ForeignKey("executions.id", ondelete="CASCADE"), unique=True
    )
    workflow_id: Mapped[str | None] = mapped_column(String(512), unique=True)
    action_ref: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), index=True)
    current_tasks: Mapped[Any] = mapped_column(JSON, default=list)
    # Current tasks waiting out a delay or a retry's delay, and until when (contract.TaskWait,
    # as JSON); NULL on rows written before the run reported them.
    waiting: Mapped[Any] = mapped_column(JSON, nullable=True)
    completed_tasks: Mapped[Any] = mapped_column(JSON, default=list)
    failed_tasks: Mapped[Any] = mapped_column(JSON, default=list)
    variables: Mapped[Any] = mapped_column(JSON, default=dict)
    task_graph: Mapped[Any] = mapped_column(JSON, default=dict)
    error_message: Mapped[str | None] = mapped_column(Text)
    # Highest snapshot seq applied; stored in the same transaction as the rows it produced.
    seq: Mapped[int] = mapped_column(Integer, default=0)
    # The number of the last pause or resume the API sent the run (RunState.control).
    control: Mapped[int] = mapped_column(Integer, default=0, server_default="0")



class InquiryRow(_Timestamps, Base):
    """A human approval (spec §9), asked by a core.ask task or by an action through the API."""

    __tablename__ = "inquiries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Identity for idempotent creation: the asking core.ask attempt's record key, or (an
    # action's) its unit's key and purpose, so a retried attempt gets the same inquiry back.
    key: Mapped[str] = mapped_column(String(700), unique=True)
    execution: Mapped[int | None] = mapped_column(
        ForeignKey("executions.id", ondelete="SET NULL"), index=True)
    execution_key: Mapped[str | None] = mapped_column(String(512), index=True)
    root_workflow_id: Mapped[str | None] = mapped_column(String(512), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    response_schema: Mapped[Any] = mapped_column(JSON, default=dict)
    assigned_to: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), index=True)
    response: Mapped[Any] = mapped_column(JSON, nullable=True)
    timeout_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdCounterRow(Base):
    """SQLite only: the next execution id to hand out (records/reserved_ids.py)."""

    __tablename__ = "id_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_id: Mapped[int] = mapped_column(Integer)
