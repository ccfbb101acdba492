"""The processes a benchmark run measures: one tuned Temporal dev server (as `attune up` starts it),
Attune's orchestrator and one worker per runtime (`attune worker`), the raw-SDK workers, and the
API for the REST case. Every process gets its own session so it can be stopped with its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from attune.engine.server import free_port, start_dev_server
from bench.procmon import Sampler

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("shell", "python", "nodejs")


class Stack:
    def __init__(self, workdir: Path, sampler: Sampler) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sampler = sampler
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.api_port: int | None = None
        self.metrics_ports: dict[str, int] = {}  # role -> its SDK metrics (bench/sdk_metrics.py)

    # ---- processes ----------------------------------------------------------------------------

    def _spawn(self, role: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        # The child keeps its own copy of the log's descriptor; ours can close at once.
        with open(self.logs / f"{role}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs[role] = proc
        self.sampler.watch(role, proc.pid)

    def start_server(self) -> None:
        # Same flags as `attune up` (tuning + a SQLite file), headless: no Web UI process.
        server = start_dev_server(port=self.port, ui_port=None,
                                  db_file=str(self.workdir / "temporal.db"),
                                  log_file=str(self.logs / "temporal.log"))
        self.procs["temporal"] = server
        self.sampler.watch("temporal", server.pid)

    def start_workers(self) -> None:
        attune = [sys.executable, "-m", "attune.cli", "worker", "--temporal-address", self.address]
        raw = [sys.executable, "-m", "bench.raw_worker", "--address", self.address]
        for role in ("orchestrator", *RUNTIMES):
            self._spawn(role, [*attune, "--runtime", role, *self._metrics(role)])
            self._spawn(f"raw-{role}", [*raw, "--role", role, *self._metrics(f"raw-{role}")])

    def _metrics(self, role: str) -> list[str]:
        if not role.endswith("orchestrator"):
            return []
        self.metrics_ports[role] = free_port()
        return ["--metrics-bind", f"127.0.0.1:{self.metrics_ports[role]}"]

    def start_api(self, db_url: str) -> str:
        self.api_port = free_port()
        self._spawn("api", [sys.executable, "-m", "attune.cli", "api", "--port", str(self.api_port),
                            "--temporal-address", self.address],
                    env={"ATTUNE_DATABASE_URL": db_url, "ATTUNE_STATE_DIR": str(self.workdir),
                         "ATTUNE_API_URL": f"http://127.0.0.1:{self.api_port}"})
        return f"http://127.0.0.1:{self.api_port}"

    @contextlib.contextmanager
    def paused(self, role: str) -> Iterator[None]:
        """`role` stopped (SIGSTOP) meanwhile: the raw runs interleaved with the REST ones run
        beside an API that spends nothing, as if it were not there, yet keeps its state."""
        proc = self.procs.get(role)
        if proc is None or proc.poll() is not None:
            yield
            return
        os.killpg(proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)

    def stop(self, role: str) -> None:
        proc = self.procs.pop(role, None)
        self.sampler.unwatch(role)
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for role in [r for r in self.procs if r != "temporal"]:
            self.stop(role)
        self.stop("temporal")

    def dead(self) -> list[str]:
        return [f"{role} (exit {p.returncode})" for role, p in self.procs.items()
                if p.poll() is not None]

    def log_tail(self, role: str, chars: int = 1500) -> str:
        try:
            return (self.logs / f"{role}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def wait_workers(self, timeout: float = 60.0) -> None:
        """Until every worker printed its 'polling' line (connected and registered)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = [r for r in self.procs if r not in ("temporal", "api")]
        while pending and loop.time() < deadline:
            if self.dead():
                raise RuntimeError(f"worker died: {', '.join(self.dead())}")
            pending = [r for r in pending if "polling" not in self.log_tail(r, 10_000)]
            await asyncio.sleep(0.2)
        if pending:
            raise RuntimeError(f"workers not ready after {timeout:.0f}s: {', '.join(pending)}")
