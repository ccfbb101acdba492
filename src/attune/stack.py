"""`attune up`: the embedded stack as child processes, stopped together and in order.

Each pool is its own process (as in production), so a crash in one runtime does not take the
others down and each pool's memory can be measured on its own.

Stopping: SIGHUP (terminal closed, SSH dropped), SIGINT (Ctrl-C), SIGTERM and SIGQUIT all stop
the API and workers first, then the Temporal server, so every state in the state directory is
closed cleanly and the next `attune up` resumes. Should `attune up` itself be killed outright,
each child gets SIGTERM from the kernel (parent-death signal) and stops on its own; the pids in
`<state_dir>/stack.json` let `attune down` stop a stack whose children outlived it anyway.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.text import Text

from attune.api.preflight import migrate_database
from attune.cli.api_client import api_error, error_lines
from attune.cli.output import visible
from attune.commandline import command_line
from attune.engine.server import port_open, spawn_dev_server, wait_serving
from attune.packs.loader import pack_dirs, skipped_dirs
from attune.packs.pack_dir import given_path
from attune.runtimes.lifecycle import PARENT_ENV, preexec_die_with_parent, signal_group
from attune.runtimes.models import RUNTIMES
from attune.secrets import load_key
from attune.settings import DEFAULT_API_URL, ORCHESTRATOR, Settings
from attune.stack_record import (
    SERVER_ROLE,
    STOP_TIMEOUT,
    RecordedProcess,
    StackRecord,
    clear_record,
    describe,
    hold_state,
    port_in_use_message,
    read_record,
    write_record,
)

ROLES = (ORCHESTRATOR, *RUNTIMES)
STOP_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
# A worker or the API that exits on its own is started again, after 1, 2, 4, ... s (at most
# RESTART_BACKOFF_MAX); one that exits this often within RESTART_WINDOW s stops the stack,
# saying where its log is. The Temporal server is not restarted: the stack stops with it.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0
RESTART_BACKOFF_MAX = 16.0


class Stack:
    """The processes of one `attune up`, recorded in `<state_dir>/stack.json` as they start."""

    def __init__(self, state: Path, ports: dict[str, int]) -> None:
        self.state = state
        self.members: list[tuple[str, subprocess.Popen]] = []
        self.record = StackRecord(up=RecordedProcess.of("up", os.getpid()), ports=ports)
        self.recipes: dict[str, tuple[list[str], Path, dict[str, str]]] = {}  # role -> how to restart it

    def add(self, role: str, proc: subprocess.Popen) -> subprocess.Popen:
        self.members.append((role, proc))
        self.record.members.append(RecordedProcess.of(role, proc.pid))
        write_record(self.state, self.record)
        return proc

    def spawn(self, role: str, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
        """An `attune` command of the stack (a worker, the API), which can be restarted."""
        self.recipes[role] = (args, log, env)
        return self.add(role, _spawn(args, log, env))

    def restart(self, role: str) -> subprocess.Popen:
        proc = _spawn(*self.recipes[role])
        self.members = [(r, proc if r == role else p) for r, p in self.members]
        self.record.members = [RecordedProcess.of(role, proc.pid) if m.role == role else m
                               for m in self.record.members]
        write_record(self.state, self.record)
        return proc

    def exited(self) -> list[tuple[str, int]]:
        return [(role, proc.returncode) for role, proc in self.members if proc.poll() is not None]

    def stop(self) -> None:
        """API and workers first (they finish talking to the server), the server last."""
        _stop([p for role, p in self.members if role != SERVER_ROLE])
        _stop([p for role, p in self.members if role == SERVER_ROLE])
        clear_record(self.state)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:  # not reaped yet, so the pid is still this process
            signal_group(proc.pid, signal.SIGTERM, leader=True)
    for proc in procs:
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            signal_group(proc.pid, signal.SIGKILL, leader=True)
            proc.wait()


def attune_command(*args: str) -> list[str]:
    """`python -P -m attune.cli ARGS`: -P (Python 3.11+) leaves the working directory off
    sys.path, which `-m` would put first, so a `click.py` or `yaml.py` where `attune up` was
    started is not imported in place of the library (the API then died at start, or ran it)."""
    return [sys.executable, "-P", "-m", "attune.cli", *args]


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    # Own session: a Ctrl-C or SIGHUP for the terminal reaches `attune up` alone, which then
    # stops everything in order. SIGTERM from the kernel should `attune up` die without that.
    with open(log, "ab") as out:
        return subprocess.Popen(attune_command(*args),
                                env={**env, PARENT_ENV: str(os.getpid())},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=preexec_die_with_parent(signal.SIGTERM))


def check_free(state: Path, ports: dict[str, int], host: str) -> None:
    """Refuse to start over a stack that is still running, naming what is in the way."""
    record = read_record(state)
    running = record.running() if record else []
    if running:
        what = "; ".join(f"{rec.role} {describe(proc)}" for rec, proc in running)
        raise RuntimeError(f"a stack started from {state} is still running ({what}): "
                           "stop it with `attune down`")
    for name, port in ports.items():
        if port_open(host if name == "api" else "127.0.0.1", port):
            raise RuntimeError(port_in_use_message(name, port, record))


async def wait_http(url: str, timeout: float = 60.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            try:
                if (await client.get(url, timeout=1.0)).status_code < 500:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return False


async def start_processes(stack: Stack, settings: Settings, *, port: int, ui_port: int | None,
                          with_api: bool, console: Console) -> None:
    """Every fork happens here, on the event loop's thread: the parent-death signal is tied to
    the forking thread (see attune.runtimes.lifecycle)."""
    logs = stack.state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    server = stack.add(SERVER_ROLE, spawn_dev_server(
        port=port, ui_port=ui_port, db_file=str(stack.state / "temporal.db"),
        log_file=str(logs / "temporal.log")))
    await asyncio.to_thread(wait_serving, server, port, log_file=str(logs / "temporal.log"))
    env = {**os.environ, "ATTUNE_TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
           "ATTUNE_STATE_DIR": str(stack.state), "ATTUNE_API_URL": settings.api_url}
    if ui_port:  # the web UI links runs to the Temporal Web UI
        env["ATTUNE_TEMPORAL_UI_PORT"] = str(ui_port)
    metrics = metrics_binds(settings.metrics_bind)
    for role in ROLES:
        meters = ["--metrics-bind", metrics[role]] if role in metrics else []
        stack.spawn(role, ["worker", "--runtime", role, *meters], logs / f"worker-{role}.log", env)
    if metrics:
        console.print("SDK metrics: " + ", ".join(f"{role} http://{bind}/metrics"
                                                  for role, bind in metrics.items()), highlight=False)
    if with_api:
        stack.spawn("api", ["api", "--port", str(settings.api_port), "--host", settings.api_host],
                    logs / "api.log", env)
    console.print(f"logs in {logs}", highlight=False)


def metrics_binds(bind: str | None) -> dict[str, str]:
    """Each worker's own metrics address: the workers of one stack cannot share a port, so
    `host:port` is the orchestrator's and the runtimes take the ports after it, in ROLES order."""
    if not bind:
        return {}
    host, _, port = bind.rpartition(":")
    return {role: f"{host}:{int(port) + i}" for i, role in enumerate(ROLES)}


def prepare_state(settings: Settings) -> Path:
    state = Path(settings.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    # Private: it holds the secret key, both databases and the logs. Action processes run as
    # another user where the stack runs as root (attune.runtimes.isolation) and must not read it.
    state.chmod(0o700)
    load_key(str(state), quiet=True)  # made once here, before the API and workers race to create it
    return state


async def register_packs(settings: Settings, console: Console) -> list[Path]:
    """Register every pack under the packs directory, saying why for each one that is not;
    those are returned (the banner names them). A pack that is a symlink is registered by its
    own path, not its target's: re-pointing it at a new release deploys that release."""
    root = Path(settings.packs_dir)
    if not root.is_dir():
        console.print(Text(f"no packs directory at {root}", style="yellow"))
        return []
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    missed: list[Path] = []
    async with httpx.AsyncClient(base_url=settings.api_url, headers=headers) as client:
        for pack in pack_dirs(root):
            try:
                resp = await client.post("/api/v1/packs/register", json={"path": str(given_path(pack))},
                                         timeout=60)
            except httpx.HTTPError as exc:  # the API went away meanwhile (the supervisor says)
                lines = [f"error: the API did not answer: {exc or type(exc).__name__}"]
            else:
                if resp.status_code < 300:
                    console.print(Text.assemble(f"pack {pack.name}: ", ("registered", "green")))
                    continue
                lines = error_lines(api_error(resp))
            missed.append(pack)
            console.print(Text.assemble(f"pack {pack.name}: ", ("not registered", "red")))
            for line in lines:
                console.print(Text(f"  {line}", style="red"))
        for folder, why in skipped_dirs(root):
            console.print(Text(f"{folder.name}/: not a pack ({why}), skipped", style="yellow"))
        await _say_vanished(client, console)
    return missed


async def _say_vanished(client: httpx.AsyncClient, console: Console) -> None:
    """A registered pack whose directory is gone (moved, deleted) stayed registered without a
    word, and each of its tasks failed after five attempts to find it."""
    page = 1
    while True:
        try:
            resp = await client.get("/api/v1/packs", params={"page": page, "per_page": 1000}, timeout=30)
            body = resp.json()
        except (httpx.HTTPError, ValueError):
            return  # the supervisor says what happened to the API
        if resp.status_code != 200:
            return
        for pack in body.get("items", []):
            if pack.get("path") and not Path(pack["path"]).is_dir():
                console.print(Text(f"pack {pack['ref']}: registered from {pack['path']}, which no longer "
                                   "exists: its script actions cannot run. Register it from where it is "
                                   f"now (attune pack register DIR) or delete it (DELETE /api/v1/packs/"
                                   f"{pack['ref']})", style="yellow"))
        if page >= body.get("pagination", {}).get("total_pages", 1):
            return
        page += 1


def up_banner(settings: Settings, missed: list[Path]) -> list[Text]:
    """`attune is up`, and when packs were not registered, which, and the command that
    registers each once it is fixed (the stack serves on without them)."""
    if not missed:
        return [Text.assemble(("attune is up", "bold green"), " — Ctrl-C stops everything")]
    names = ", ".join(p.name for p in missed)
    what = f"pack {names} was" if len(missed) == 1 else f"{len(missed)} packs ({names}) were"
    api = ["--api-url", settings.api_url] if settings.api_url != DEFAULT_API_URL else []
    return [Text.assemble(("attune is up", "bold green"), ", but ", (f"{what} not registered", "bold red"),
                          " (why: above) — Ctrl-C stops everything"),
            *(Text(f"  once fixed: {command_line('attune', 'pack', 'register', p, *api)}", style="yellow")
              for p in missed)]


class StackFailed(RuntimeError):
    """The stack could not start (or stopped), already said on the console before `stopping…`."""

    reported = True


async def run_stack(settings: Settings, *, port: int, ui_port: int | None, with_api: bool,
                    console: Console, demo: str | None = None, err: Console | None = None) -> None:
    """`err`: where a failure to start is said (before `stopping…`), else `console`."""
    ports = {"temporal": port, **({"ui": ui_port} if ui_port else {}),
             **({"api": settings.api_port} if with_api else {}),
             **{f"{role} metrics": int(bind.rpartition(":")[2])
                for role, bind in metrics_binds(settings.metrics_bind).items()}}
    state = prepare_state(settings)
    lock = hold_state(state)  # noqa: F841 - held until this process ends
    check_free(state, ports, settings.api_host)
    # The records schema is brought up to date (or a newer one refused) before any worker
    # starts: the API did it after the workers had taken tasks of the runs in flight.
    if with_api and (why := await asyncio.to_thread(migrate_database, settings)):
        raise RuntimeError(why)
    stack = Stack(state, ports)
    received = _stop_on_signals(asyncio.get_running_loop(), asyncio.current_task())
    try:
        await start_processes(stack, settings, port=port, ui_port=ui_port, with_api=with_api,
                              console=console)
        await _serve(stack, settings, ui_port=ui_port, with_api=with_api, console=console,
                     demo=demo)
    except asyncio.CancelledError:
        if not received:
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
    except (RuntimeError, ConnectionError) as exc:  # the cause first, then `stopping…`
        (err or console).print(Text.assemble(("error:", "red"), f" {exc}"), highlight=False)
        raise StackFailed(str(exc)) from exc
    finally:
        if received:
            console.print(f"{signal.Signals(received[0]).name} received", highlight=False)
        console.print("stopping…")
        stack.stop()


def _stop_on_signals(loop: asyncio.AbstractEventLoop, main: asyncio.Task | None) -> list[int]:
    """Each stop signal cancels the main task once; `run_stack` then stops the stack in order."""
    received: list[int] = []

    def handle(sig: int) -> None:
        if not received and main is not None:
            received.append(sig)
            main.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, handle, sig)
    return received


async def _serve(stack: Stack, settings: Settings, *, ui_port: int | None, with_api: bool,
                 console: Console, demo: str | None) -> None:
    missed: list[Path] = []
    if with_api:
        await _wait_api(stack, settings)
        missed = await register_packs(settings, console)
        console.print(Text(f"Web UI        {settings.api_url}/", style="bold"))
    console.print(f"Temporal      {settings.temporal_address}")
    if ui_port:
        console.print(f"Temporal UI   http://127.0.0.1:{ui_port}")
    if with_api:
        console.print(f"API           {settings.api_url}/api/v1")
        console.print(f"API docs      {settings.api_url}/docs")
    for line in up_banner(settings, missed):
        console.print(line)
    if demo:
        await _run_demo(demo, settings, console)
    await _supervise(stack, console)


async def _wait_api(stack: Stack, settings: Settings) -> None:
    """Until the API answers; a member that exits meanwhile stops the start at once, naming its
    log and the last line it wrote (the API or a worker that cannot start: a minute of waiting
    used to end in "the API did not come up", or in nothing but "stopping…")."""
    answered = asyncio.ensure_future(wait_http(f"{settings.api_url}/api/v1/health"))
    try:
        while not answered.done():
            await asyncio.wait({answered}, timeout=0.25)
            for role, code in stack.exited():
                raise RuntimeError(f"{role} exited ({code}) while the stack was starting; "
                                   f"{_log_says(_log_of(stack, role))}")
    finally:
        answered.cancel()
    if not answered.result():
        raise RuntimeError(f"the API did not come up at {settings.api_url}; "
                           f"{_log_says(_log_of(stack, 'api'))}")


def _log_of(stack: Stack, role: str) -> Path:
    """Where a member writes (the server's log is its own: start_processes names it)."""
    if role in stack.recipes:
        return stack.recipes[role][1]
    return stack.state / "logs" / ("temporal.log" if role == SERVER_ROLE else f"{role}.log")


def _log_says(log: Path) -> str:
    """Where the log is, and its last line (made visible: it is a process's own output)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    last = f"; its last line: {visible(lines[-1])}" if lines else ""
    return f"see {log}{last}"


async def _supervise(stack: Stack, console: Console) -> None:
    """Start again a worker or the API that exited on its own (its tasks are retried on it or
    another worker, as on any worker's death), until one keeps exiting or the server goes."""
    loop = asyncio.get_running_loop()
    exits: dict[str, list[float]] = {}
    while True:
        await asyncio.sleep(1.0)
        for role, code in stack.exited():
            recent = [t for t in exits.get(role, []) if loop.time() - t < RESTART_WINDOW]
            log = _log_of(stack, role)
            if role not in stack.recipes or len(recent) >= MAX_RESTARTS:
                why = "the stack cannot run without it" if role not in stack.recipes else \
                    f"{len(recent) + 1} times in {RESTART_WINDOW:.0f} s"
                console.print(Text(f"{role} exited ({code}): {why}; stopping ({_log_says(log)}). "
                                   "`attune up` starts again where it stopped.", style="red"))
                return
            wait = min(RESTART_BACKOFF_MAX, 2.0 ** len(recent))
            console.print(Text(f"{role} exited ({code}); starting it again in {wait:g} s (see {log})",
                               style="yellow"))
            exits[role] = [*recent, loop.time()]
            await asyncio.sleep(wait)
            stack.restart(role)


async def _run_demo(action_ref: str, settings: Settings, console: Console) -> None:
    cmd = attune_command("run", action_ref, "--api-url", settings.api_url)
    console.print(f"$ {command_line('attune', 'run', action_ref)}", highlight=False)
    proc = await asyncio.create_subprocess_exec(*cmd)
    try:
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
