"""Session fixtures: a real Temporal dev server and real workers for every runtime."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

# One key and one blob directory for every process of the test session (in-process and
# subprocess workers, the API).
os.environ.setdefault("ATTUNE_SECRET_KEY", Fernet.generate_key().decode())
os.environ.setdefault("ATTUNE_BLOB_DIR", tempfile.mkdtemp(prefix="attune-test-blobs-"))

REPO = Path(__file__).resolve().parent.parent
PACKS = REPO / "packs"
TEST_PACKS = REPO / "tests" / "packs"


# Run as root, the suite's action processes run as the unprivileged action user
# (attune.runtimes.isolation), and many test packs live under pytest's temp dirs, which pytest
# makes private (0700). The suite, not the product, opens them to that user: 0711, enter but not
# list (files keep the modes they are created with). Not under /tmp/pytest-of-root: every pytest
# session that starts (other checkouts' included) makes that one private again.
SHARED_TMP = Path("/tmp/attune-pytest-of-root")


def pytest_configure(config: pytest.Config) -> None:
    if os.geteuid() != 0 or config.option.basetemp:
        return
    SHARED_TMP.mkdir(mode=0o711, exist_ok=True)
    SHARED_TMP.chmod(0o711)
    for old in SHARED_TMP.iterdir():  # earlier sessions' dirs, kept a day for debugging
        if time.time() - old.stat().st_mtime > 86_400:
            shutil.rmtree(old, ignore_errors=True)
    config.option.basetemp = tempfile.mkdtemp(prefix="session-", dir=SHARED_TMP)


@pytest.fixture(scope="session")
def tmp_path_factory(tmp_path_factory: pytest.TempPathFactory) -> pytest.TempPathFactory:
    if os.geteuid() == 0 and SHARED_TMP in tmp_path_factory.getbasetemp().parents:
        make = tmp_path_factory.mktemp
        base = tmp_path_factory.getbasetemp()
        for directory in (base, *base.parents):  # under xdist, base is <session>/popen-gwN
            if directory == SHARED_TMP:
                break
            directory.chmod(0o711)

        def mktemp(basename: str, numbered: bool = True) -> Path:
            path = make(basename, numbered)
            for directory in (path, *path.parents):
                if directory == base:
                    break
                directory.chmod(0o711)
            return path

        tmp_path_factory.mktemp = mktemp  # type: ignore[method-assign]
    return tmp_path_factory


@pytest.fixture
def action_tmp(tmp_path: Path) -> Path:
    """A directory the suite's action processes may write into (they run as the action user
    when the suite runs as root)."""
    path = tmp_path / "action"
    path.mkdir()
    path.chmod(0o777)
    return path


@dataclass
class TemporalStack:
    address: str
    engine: object  # attune.engine.client.EngineClient
    packs_dir: Path


@pytest.fixture(autouse=True)
async def _dump_tasks_before_timeout(request: pytest.FixtureRequest):
    """If a test hangs, print what every asyncio task awaits shortly before pytest-timeout fires:
    its own report shows threads only, and here everything shares one event loop."""
    timeout = float(request.config.getini("timeout") or 0)
    handle = asyncio.get_running_loop().call_later(max(timeout - 15, 1), _dump_tasks) if timeout else None
    yield
    if handle is not None:
        handle.cancel()


def _dump_tasks() -> None:
    print(f"--- {len(asyncio.all_tasks())} asyncio tasks still pending ---", file=sys.stdout)
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=sys.stdout)


@pytest.fixture(scope="session")
async def temporal_stack(tmp_path_factory):
    from attune.engine.client import EngineClient
    from attune.engine.server import free_port, start_dev_server
    from attune.engine.worker import build_workers

    port = free_port()
    log = tmp_path_factory.mktemp("temporal") / "server.log"
    server = start_dev_server(port=port, ui_port=None, log_file=str(log))
    engine = await EngineClient.connect(f"127.0.0.1:{port}")
    # Without StepAside's slot supplier in this process (engine/worker.runtime_worker says why);
    # tests/engine/test_resilience.py runs it in worker processes.
    workers = build_workers(engine.client, ["orchestrator", "shell", "python", "nodejs"], step_aside=False)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield TemporalStack(address=f"127.0.0.1:{port}", engine=engine, packs_dir=PACKS)
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
