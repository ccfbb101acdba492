"""What `attune up` leaves in its state directory so a stack can be found and stopped later.

`<state_dir>/stack.json` names `attune up` and every process it started, each with its start
time: a pid is only ever signalled after checking that it is still the same process (pids are
reused, and quickly: the kernel's default pid_max is 32,768). `attune down` stops a recorded
stack, also when `attune up` itself is gone (OOM killer, a system without a parent-death
signal), and `attune up` uses the record and the port owners to say what is in its way.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from pathlib import Path
from typing import IO

import psutil
from pydantic import BaseModel

RECORD_FILE = "stack.json"
LOCK_FILE = "stack.lock"
SERVER_ROLE = "server"
STOP_TIMEOUT = 15.0  # per phase; workers give running actions 5 s to end after SIGTERM


class RecordedProcess(BaseModel):
    role: str
    pid: int
    started: float  # psutil create_time: with the pid, identifies the process

    @classmethod
    def of(cls, role: str, pid: int) -> RecordedProcess:
        return cls(role=role, pid=pid, started=psutil.Process(pid).create_time())

    def find(self) -> psutil.Process | None:
        """The process, if it is still running and still the one recorded."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.started) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None


class StackRecord(BaseModel):
    up: RecordedProcess
    members: list[RecordedProcess] = []
    ports: dict[str, int] = {}

    def running(self) -> list[tuple[RecordedProcess, psutil.Process]]:
        return [(rec, proc) for rec in [self.up, *self.members] if (proc := rec.find())]


def record_path(state_dir: Path) -> Path:
    return state_dir / RECORD_FILE


def read_record(state_dir: Path) -> StackRecord | None:
    try:
        return StackRecord.model_validate_json(record_path(state_dir).read_bytes())
    except (OSError, ValueError):
        return None


def write_record(state_dir: Path, record: StackRecord) -> None:
    """Atomically, so a reader (or a crash) never sees half a file."""
    tmp = record_path(state_dir).with_suffix(".tmp")
    tmp.write_text(record.model_dump_json(indent=1))
    os.replace(tmp, record_path(state_dir))


def clear_record(state_dir: Path) -> None:
    record_path(state_dir).unlink(missing_ok=True)


def hold_state(state_dir: Path) -> IO[str]:
    """The state directory for this `attune up` alone, for as long as it lives (the kernel
    releases the lock however it ends). The record alone left a window: two `attune up`
    started together both found no stack running, and two Temporal servers wrote one SQLite
    file. Keep the returned file open; its text names the holder for the other's message."""
    lock = open(state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the process's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise RuntimeError(f"another `attune up` ({holder}) is using {state_dir}: wait for it, "
                           "or stop it with `attune down`") from None
    lock.truncate(0)
    lock.write(f"pid {os.getpid()}")
    lock.flush()
    return lock


def describe(proc: psutil.Process) -> str:
    try:
        with proc.oneshot():
            cmd = " ".join(proc.cmdline()) or proc.name()
            user = proc.username()
    except psutil.Error:
        return f"pid {proc.pid}"
    if len(cmd) > 120:
        cmd = cmd[:117] + "..."
    return f"pid {proc.pid} ({cmd}, user {user})"


def port_owner(port: int) -> psutil.Process | None:
    """The process listening on a TCP port, when this user may see it."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                return psutil.Process(conn.pid)
            except psutil.Error:
                return None
    return None


def port_in_use_message(name: str, port: int, record: StackRecord | None) -> str:
    owner = port_owner(port)
    head = f"{name} port {port} is already in use"
    if owner is None:
        return (f"{head} by a process this user cannot see; find it with "
                f"`ss -ltnp 'sport = :{port}'` (as root), or choose another port")
    recorded = record is not None and any(
        rec.pid == owner.pid and rec.find() is not None for rec in [record.up, *record.members])
    if recorded:
        return f"{head} by {describe(owner)}, part of a previous stack: stop it with `attune down`"
    return f"{head} by {describe(owner)}: stop it (`kill {owner.pid}`) or choose another port"


def stop_group(procs: list[tuple[RecordedProcess, psutil.Process]], *, timeout: float = STOP_TIMEOUT,
               whole_group: bool = True) -> None:
    """SIGTERM each, wait, then SIGKILL what is left. With `whole_group`, the process group each
    leads (every stack member has its own session) rather than the process alone. Each pid was
    checked against its start time just before."""
    live = [proc for rec, proc in procs if rec.find() is not None]
    for proc in live:
        _signal(proc, signal.SIGTERM, whole_group)
    left = _wait_gone(live, timeout)
    for proc in left:
        _signal(proc, signal.SIGKILL, whole_group)
    _wait_gone(left, 5)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each has exited; a zombie has (its parent, or a container's init, may never
    reap it)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [proc for proc in procs if _running(proc)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(proc: psutil.Process, sig: int, whole_group: bool) -> None:
    try:
        proc.send_signal(sig)  # psutil refuses a pid that now names another process
        if whole_group and os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
    except (psutil.Error, OSError):
        pass


def stop_recorded(state_dir: Path) -> list[str]:
    """`attune down`: stop the stack recorded in `state_dir` in order (its `attune up` if it is
    alive, which stops the rest; else the API and workers, then the server). Returns what was
    stopped, described."""
    record = read_record(state_dir)
    if record is None:
        return []
    running = record.running()
    stopped = [f"{rec.role}: {describe(proc)}" for rec, proc in running]
    up = [(rec, proc) for rec, proc in running if rec is record.up]
    if up:
        # Its own handler stops the members in order; give it time for that.
        stop_group(up, timeout=3 * STOP_TIMEOUT, whole_group=False)  # not its shell's job
    members = [(rec, proc) for rec, proc in record.running() if rec is not record.up]
    stop_group([m for m in members if m[0].role != SERVER_ROLE])
    stop_group([m for m in members if m[0].role == SERVER_ROLE])
    clear_record(state_dir)
    return stopped
