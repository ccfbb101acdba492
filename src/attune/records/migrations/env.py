"""Alembic environment: the engine comes from `records.db.alembic_config`, never from an ini file."""

from __future__ import annotations

from alembic import context

from attune.records.db import make_engine
from attune.records.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # `alembic -x url=...` from a developer's shell
        engine = make_engine(context.get_x_argument(as_dictionary=True)["url"])
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run them against a database")
run_migrations_online()
