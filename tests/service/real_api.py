"""A real `attune api` process, as an operator starts it: its own port, state dir and log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from attune.engine.server import free_port


@contextmanager
def real_api(home: Path, env: dict[str, str], *, drop: tuple[str, ...] = ()) -> Iterator[str]:
    """`attune api --port N` run in `home` (its log: home/api.log) with these variables over
    the test's own, without ATTUNE_DATABASE_URL (SQLite in its state dir) and `drop`; yields its
    address once /health answers, stops it (SIGTERM to its group) after."""
    port = free_port()
    full = {**os.environ, **env}
    for name in ("ATTUNE_DATABASE_URL", *drop):
        full.pop(name, None)
    log = home / "api.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "attune.cli", "api", "--port", str(port)],
                                env=full, cwd=home, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
