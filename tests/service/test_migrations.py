"""Migrations: applied on start-up, idempotent, and in step with the ORM models."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from attune.records.db import Database, alembic_config, normalize_url
from attune.records.models import Base, ExecutionRow, utcnow

TABLES = {"packs", "actions", "workflow_definitions", "executions", "workflow_executions"}


def test_upgrade_creates_schema_and_second_upgrade_is_a_no_op(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not TABLES & set(inspect(db.engine).get_table_names())
        db.migrate()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        first = db.current_revision()
        db.migrate()
        assert db.current_revision() == first == "0005"
    finally:
        db.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def _execution_indexes(db: Database) -> dict[str, list[str | None]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("executions")
            if ix["name"]}


def test_0004_list_indexes_upgrade_and_downgrade(database_url: str) -> None:
    """0004 swaps the single-column filter indexes for (column, id) ones, and back."""
    db = Database(database_url)
    try:
        db.migrate()
        with db.session() as s:  # rows survive both ways
            s.execute(ExecutionRow.__table__.insert(), [
                {"action_ref": "a.b", "status": "completed", "config": {}, "retry_count": 0,
                 "mirror_seq": 0, "created": utcnow(), "updated": utcnow()}])
        indexes = _execution_indexes(db)
        for column in ("status", "action_ref", "parent"):
            assert indexes[f"ix_executions_{column}_id"] == [column, "id"]
            assert f"ix_executions_{column}" not in indexes
        command.downgrade(alembic_config(db.engine), "0003")
        assert db.current_revision() == "0003"
        indexes = _execution_indexes(db)
        for column in ("status", "action_ref", "parent"):
            assert indexes[f"ix_executions_{column}"] == [column]
            assert f"ix_executions_{column}_id" not in indexes
        db.migrate()
        assert db.current_revision() == "0005"
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(ExecutionRow)) == 1
    finally:
        db.dispose()


def test_postgres_urls_use_the_bundled_psycopg3_driver() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_default_lives_under_the_state_dir(tmp_path) -> None:
    from attune.settings import Settings

    url = Settings(state_dir=str(tmp_path / "state")).effective_database_url
    db = Database(url)
    try:
        db.migrate()
        assert (tmp_path / "state" / "attune.db").is_file()
    finally:
        db.dispose()
