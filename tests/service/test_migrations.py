"""Migrations: applied on start-up, idempotent, and in step with the ORM models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Select, func, inspect, select, text

from attune.records.db import Database, SchemaTooNew, alembic_config, normalize_url
from attune.records.models import Base, ExecutionRow, WorkflowExecutionRow, utcnow

HEAD = "0009"  # the latest migration
TABLES = {"packs", "actions", "workflow_definitions", "executions", "workflow_executions"}


def test_upgrade_creates_schema_and_second_upgrade_is_a_no_op(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not TABLES & set(inspect(db.engine).get_table_names())
        db.migrate()
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        first = db.current_revision()
        db.migrate()
        assert db.current_revision() == first == HEAD
    finally:
        db.dispose()


def test_a_database_a_newer_attune_upgraded_is_refused_and_left_as_it_is(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        tables = set(inspect(db.engine).get_table_names())
        with pytest.raises(SchemaTooNew, match=f"is at schema revision 9999, which a newer attune made; "
                                               f"this one knows revisions up to {HEAD}"):
            db.migrate()
        assert db.current_revision() == "9999" and set(inspect(db.engine).get_table_names()) == tables
    finally:
        db.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        dialect = db.engine.dialect.name

        def on_this_dialect(obj: object, *_: object) -> bool:
            rule = getattr(obj, "_ddl_if", None)  # Index(...).ddl_if(dialect=...): that one only
            return rule is None or rule.dialect in (None, dialect)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": on_this_dialect})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_0006_a_deep_page_on_sqlite_skips_over_the_id_index(database_url: str) -> None:
    db = Database(database_url)
    try:
        command.upgrade(alembic_config(db.engine), "0006")
        sqlite = db.engine.dialect.name == "sqlite"
        assert ("ix_executions_id" in _execution_indexes(db)) is sqlite
        if sqlite:  # the offset walks the ids alone, not the table's rows
            assert "COVERING INDEX ix_executions_id" in _plan(db, select(ExecutionRow.id).order_by(
                ExecutionRow.id.desc()).limit(50).offset(90_000))
        command.downgrade(alembic_config(db.engine), "0005")
        assert "ix_executions_id" not in _execution_indexes(db)
        db.migrate()
    finally:
        db.dispose()


def test_0009_the_creation_order_is_indexed_alone_and_after_each_filter(database_url: str) -> None:
    """The list's order, (created, id), replaces the id order's indexes (0004, 0006), and back."""
    db = Database(database_url)
    try:
        db.migrate()
        indexes = _execution_indexes(db)
        assert indexes["ix_executions_created_id"] == ["created", "id"]
        for column in ("status", "action_ref", "parent"):
            assert indexes[f"ix_executions_{column}_created_id"] == [column, "created", "id"]
            assert f"ix_executions_{column}_id" not in indexes
        assert "ix_executions_id" not in indexes
        if db.engine.dialect.name == "sqlite":  # a deep offset walks index entries, not rows
            newest_first = (ExecutionRow.created.desc(), ExecutionRow.id.desc())
            deep = select(ExecutionRow.id).order_by(*newest_first).limit(50).offset(90_000)
            assert "COVERING INDEX ix_executions_created_id" in _plan(db, deep)
            children = (select(ExecutionRow.id).where(ExecutionRow.parent.is_(None))
                        .order_by(*newest_first).limit(50))
            plan = _plan(db, children)
            assert "ix_executions_parent_created_id" in plan and "TEMP B-TREE" not in plan, plan
        command.downgrade(alembic_config(db.engine), "0008")
        indexes = _execution_indexes(db)
        for column in ("status", "action_ref", "parent"):
            assert indexes[f"ix_executions_{column}_id"] == [column, "id"]
        assert "ix_executions_created_id" not in indexes
        assert ("ix_executions_id" in indexes) is (db.engine.dialect.name == "sqlite")
        db.migrate()
        assert db.current_revision() == HEAD
    finally:
        db.dispose()


def _plan(db: Database, query: Select) -> str:
    sql = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    with db.engine.connect() as conn:
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))


def _execution_indexes(db: Database) -> dict[str, list[str | None]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(db.engine).get_indexes("executions")
            if ix["name"]}


def test_0007_a_workflow_row_written_before_it_has_heard_no_pause_or_resume(database_url: str) -> None:
    db = Database(database_url)
    try:
        command.upgrade(alembic_config(db.engine), "0006")
        with db.session() as s:  # a run recorded by the release before
            s.execute(ExecutionRow.__table__.insert(), [
                {"id": 1, "action_ref": "a.b", "status": "paused", "config": {}, "retry_count": 0,
                 "mirror_seq": 0, "created": utcnow(), "updated": utcnow()}])
            s.execute(text("INSERT INTO workflow_executions (execution, action_ref, status, "
                           "current_tasks, completed_tasks, failed_tasks, variables, task_graph, "
                           "seq, created, updated) VALUES (1, 'a.b', 'paused', '[]', '[]', '[]', "
                           "'{}', '{}', 3, :now, :now)"), {"now": utcnow()})
        db.migrate()
        with db.session() as s:
            wf = s.scalars(select(WorkflowExecutionRow)).one()
            assert (wf.status, wf.seq, wf.control) == ("paused", 3, 0)
        command.downgrade(alembic_config(db.engine), "0006")
        columns = {c["name"] for c in inspect(db.engine).get_columns("workflow_executions")}
        assert "control" not in columns and "seq" in columns
    finally:
        db.dispose()


def test_0004_list_indexes_upgrade_and_downgrade(database_url: str) -> None:
    """0004 swaps the single-column filter indexes for (column, id) ones, and back."""
    db = Database(database_url)
    try:
        command.upgrade(alembic_config(db.engine), "0004")
        with db.session() as s:  # rows survive both ways
            s.execute(text("INSERT INTO executions (action_ref, status, config, retry_count, mirror_seq, "
                           "created, updated) VALUES ('a.b', 'completed', '{}', 0, 0, :now, :now)"), {"now": utcnow()})
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
        assert db.current_revision() == HEAD
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
