"""Migrations: applied on start-up, idempotent, and in step with the ORM models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from attune.records.db import Database, normalize_url
from attune.records.models import Base

TABLES = {"packs", "actions", "workflow_definitions", "executions", "workflow_executions"}


def test_upgrade_creates_schema_and_second_upgrade_is_a_no_op(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not TABLES & set(inspect(db.engine).get_table_names())
        db.migrate()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        first = db.current_revision()
        db.migrate()
        assert db.current_revision() == first == "0003"
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
