"""Database engine, sessions and start-up migrations for the records store.

Sync SQLAlchemy on purpose: SQLite needs no extra async driver, and the async API/mirror code
runs blocking calls in worker threads (`asyncio.to_thread`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Let users write plain `postgresql://` URLs; we ship the psycopg 3 driver, not psycopg2."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The mirror thread and request threads share the file: WAL + busy timeout, no same-thread.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: after a database outage, stale pooled connections are replaced, not reused.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a killed process loses
    # nothing committed, only an OS crash or power cut can drop the last commits (the mirror
    # re-reads those from Temporal). FULL cost an fsync per mirror write.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic config built in code: no alembic.ini is needed at run time."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


FULL_DISK = ("disk is full", "no space left", "could not extend file", "disk full")


def where(url: str) -> str:
    """The database as a person finds it, never with its password: a file, or host/name."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return f"{parsed.get_backend_name()} at {parsed.host or 'localhost'}:{parsed.port or ''}/{parsed.database or ''}"


def trouble(exc: BaseException, url: str) -> str:
    """What a failed database call means for the operator, first line of the driver's words."""
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if any(sign in text.lower() for sign in FULL_DISK):
        return (f"the records database ({where(url)}) cannot write: its disk is full ({text}); "
                "free space there, nothing written before is lost")
    return f"the records database ({where(url)}) failed: {text}"


class SchemaTooNew(RuntimeError):
    """The database was upgraded by a newer attune than this one."""


class Database:
    """The records database: one engine, a session factory, migrations and a health probe."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; a no-op when it already is. A database a
        newer attune has upgraded is refused, not touched (Alembic's own words were a traceback:
        "Can't locate revision identified by '0010'")."""
        if why := self.too_new():
            raise SchemaTooNew(why)
        command.upgrade(alembic_config(self.engine), "head")

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None  # a new database
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def too_new(self) -> str | None:
        """Why this version cannot use the database (a newer attune's schema), or None."""
        current = self.current_revision()
        scripts = ScriptDirectory.from_config(alembic_config(self.engine))
        if current is None or current in {script.revision for script in scripts.walk_revisions()}:
            return None
        return (f"the records database ({where(self.url)}) is at schema revision {current}, which a "
                f"newer attune made; this one knows revisions up to {scripts.get_current_head()} and "
                "does not downgrade: run that newer version, or restore a backup taken before it")

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any exception."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
