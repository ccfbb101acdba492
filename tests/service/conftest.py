"""Fixtures for the service tests: a records database on SQLite *and* PostgreSQL, and the API.

PostgreSQL is expected on 127.0.0.1:5432 (user postgres, trust auth; ATTUNE_TEST_PG_URL
overrides). One database `attune_test_<random>` is created per test session and dropped after;
each test starts from an empty schema. When the server is unreachable the PostgreSQL half is
skipped locally and fails under CI=true.
"""

from __future__ import annotations

import os
import secrets
import shutil
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from attune.api import create_app
from attune.records.db import Database
from attune.settings import Settings
from tests.service.fakes import FakeEngine

SVC_PACK = Path(__file__).parent / "packs" / "svc"
PG_ADMIN = os.environ.get("ATTUNE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "temporal: needs the real Temporal stack (temporal_stack)")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI: {reason}")
    pytest.skip(f"PostgreSQL unreachable: {reason}")


@pytest.fixture(scope="session")
def pg_server_url() -> Any:
    """A fresh PostgreSQL database for this session (dropped at the end); its SQLAlchemy URL."""
    name = f"attune_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unavailable(str(exc).strip().splitlines()[0])
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reset_pg(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty records database (no tables yet) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'attune.db'}"
    url = request.getfixturevalue("pg_server_url")
    _reset_pg(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The records database on each backend, migrated to the newest schema."""
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Nothing listens on port 1: health reports Temporal unreachable unless a test overrides.
    return Settings(state_dir=str(tmp_path / ".attune"), database_url=database_url,
                    temporal_address="127.0.0.1:1", mirror_interval=0.05)


@asynccontextmanager
async def running_api(settings: Settings, engine_factory: Any, run_mirror: bool = True,
                      ) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (migrations, mirror) and an HTTP client bound to it."""
    app = create_app(settings, engine_factory, run_mirror=run_mirror)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost/api/v1") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def api(settings: Settings, fake_engine: FakeEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a fake engine, mirror stopped (tests drive `app.state.attune.mirror.tick()`)."""
    async with running_api(settings, fake_engine.factory, run_mirror=False) as client:
        yield client


@pytest.fixture
def svc_pack(tmp_path: Path) -> Path:
    """A copy of the svc pack: workflows saved through the API are written into its directory."""
    copy = tmp_path / "packs" / "svc"
    shutil.copytree(SVC_PACK, copy)
    return copy


def write_pack(packs: Path, ref: str, actions: dict[str, str]) -> Path:
    """A pack `ref` under `packs`, its actions/ files given as (dedented) text."""
    root = packs / ref
    (root / "actions").mkdir(parents=True)
    (root / "pack.yaml").write_text(f'ref: {ref}\nlabel: {ref}\nversion: "1.0"\n')
    for name, text in actions.items():
        (root / "actions" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "actions" / name).write_text(textwrap.dedent(text).lstrip())
    return root


@pytest.fixture
async def svc_api(api: httpx.AsyncClient, svc_pack: Path) -> httpx.AsyncClient:
    """The API with (a copy of) the svc test pack registered."""
    response = await api.post("/packs/register", json={"path": str(svc_pack)})
    assert response.status_code == 200, response.text
    return api


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Any:
    """The lead's real Temporal stack (tests/conftest.py `temporal_stack`)."""
    try:
        return request.getfixturevalue("temporal_stack")
    except pytest.FixtureLookupError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("temporal_stack fixture not available")
