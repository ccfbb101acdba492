"""`attune up` under every stop signal and SIGKILL, on real processes (issue 14): afterwards no
process it started remains (workers, API, server, warm starters, running actions and their
background children) and its ports are free; the next `attune up` starts and resumes. Also
`attune down` and what `attune up` says when something holds its port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from attune.engine.server import free_port, port_open
from attune.stack_record import RecordedProcess, StackRecord, hold_state, read_record, write_record
from tests.unit.test_runtimes import alive

pytestmark = pytest.mark.slow

PACK = {
    "pack.yaml": "ref: life\nlabel: Life\ndescription: long-running actions\nversion: '1.0.0'\n",
    # A background child in the action's group as well as the main process.
    "actions/bg.yaml": "ref: life.bg\nrunner_type: shell\nentry_point: bg.sh\n",
    "actions/bg.sh": "sleep 300 &\nsleep 300\n",
    # Forked from a warm starter.
    "actions/hold.yaml": "ref: life.hold\nrunner_type: python\nentry_point: hold.py\n",
    "actions/hold.py": "import time\ntime.sleep(300)\n",
    "actions/quick.yaml": "ref: life.quick\nrunner_type: shell\nentry_point: quick.sh\n",
    "actions/quick.sh": "echo done\n",
}
STOP_SIGNALS = [signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT]


class Home:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {"temporal": free_port(), "ui": free_port(), "api": free_port()}
        self.api = f"http://127.0.0.1:{self.ports['api']}"
        self.completed: list[int] = []  # executions of earlier cases: the next `up` must show them

    def up(self) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "attune.cli", "up", "--temporal-port", str(self.ports["temporal"]),
             "--ui-port", str(self.ports["ui"]), "--api-port", str(self.ports["api"])],
            cwd=self.root, env={k: v for k, v in os.environ.items() if k != "ATTUNE_API_URL"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def execute(self, ref: str) -> int:
        resp = httpx.post(f"{self.api}/api/v1/executions/execute", json={"action_ref": ref}, timeout=30)
        assert resp.status_code == 201, resp.text
        return resp.json()["data"]["id"]

    def execution(self, execution_id: int) -> dict:
        return httpx.get(f"{self.api}/api/v1/executions/{execution_id}", timeout=30).json()["data"]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    root = tmp_path_factory.mktemp("life")
    for rel, text in PACK.items():
        path = root / "packs" / "life" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Home(root)


def wait_ready(home: Home, proc: subprocess.Popen) -> None:
    wait_serving(f"{home.api}/api/v1/packs/life", proc)


def wait_serving(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `url` answers 200 (a stack is up once its pack is registered); `proc`, the `attune
    up` starting it, must not end meanwhile (its output then says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("attune up did not come up")


def wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def commands(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(" ".join(proc.cmdline()))
        except psutil.Error:
            pass
    return out


def running_actions(up: subprocess.Popen) -> bool:
    cmds = commands(tree(up.pid))
    # Both actions and bg.sh's background child are up.
    return sum("sleep 300" in c for c in cmds) >= 2 and any("hold.py" in c or "_starter.py" in c for c in cmds)


def assert_all_gone(procs: list[psutil.Process], home: Home) -> None:
    left = _wait_exited(procs)  # a zombie has exited (a container's init may never reap it)
    assert not left, f"still running: {commands(left)}"
    for name, port in home.ports.items():
        wait_for(lambda port=port: not port_open("127.0.0.1", port), f"{name} port {port} to be free",
                 timeout=10)


def _wait_exited(procs: list[psutil.Process], timeout: float = 60) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = procs
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if alive(p.pid)]
    return left


def run_to_signal(home: Home, sig: int) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """Start a stack, check it resumed, leave actions running, snapshot its process tree."""
    up = home.up()
    wait_ready(home, up)
    for execution_id in home.completed:  # the records and Temporal's state survived the last stop
        assert home.execution(execution_id)["status"] == "completed"
    quick = home.execute("life.quick")
    wait_for(lambda: home.execution(quick)["status"] == "completed", "life.quick to complete")
    home.completed.append(quick)
    home.execute("life.bg")
    home.execute("life.hold")
    wait_for(lambda: running_actions(up), "the actions to run")
    procs = tree(up.pid)
    assert len(procs) >= 10  # up, server, 4 workers, API, starters, actions, background sleep
    os.kill(up.pid, sig)
    return up, procs


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_stop_signal_stops_everything_in_order(home, sig):
    up, procs = run_to_signal(home, sig)
    up.wait(timeout=90)
    out = up.stdout.read()
    assert f"{signal.Signals(sig).name} received" in out and "stopping" in out
    assert_all_gone(procs, home)
    assert read_record(home.root / ".attune") is None  # a clean stop leaves no record


def test_sigkill_children_notice_and_exit(home):
    up, procs = run_to_signal(home, signal.SIGKILL)
    up.wait(timeout=10)
    assert_all_gone(procs, home)
    assert read_record(home.root / ".attune") is not None  # stale: the next `up` must cope


def test_up_after_sigkill_resumes_and_down_stops_it(home):
    up = home.up()
    wait_ready(home, up)
    for execution_id in home.completed:
        assert home.execution(execution_id)["status"] == "completed"
    procs = tree(up.pid)
    down = subprocess.run([sys.executable, "-m", "attune.cli", "down"], cwd=home.root,
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert "stopped up:" in down.stdout and "stopped server:" in down.stdout
    up.wait(timeout=10)
    assert_all_gone(procs, home)
    again = subprocess.run([sys.executable, "-m", "attune.cli", "down"], cwd=home.root,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "no stack recorded" in again.stdout


# ---- attune down on orphans, and what `attune up` says when something is in its way -------------

def _sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def test_down_stops_recorded_orphans_but_never_a_reused_pid(tmp_path):
    state = tmp_path / ".attune"
    state.mkdir()
    orphan, stranger = _sleeper(), _sleeper()
    try:
        gone_up = RecordedProcess(role="up", pid=orphan.pid, started=0.0)  # a pid since reused
        record = StackRecord(up=gone_up, members=[
            RecordedProcess.of("api", orphan.pid),
            RecordedProcess(role="server", pid=stranger.pid, started=psutil.Process(stranger.pid).create_time() - 5),
        ])
        write_record(state, record)
        down = subprocess.run([sys.executable, "-m", "attune.cli", "down", "--state-dir", str(state)],
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stderr
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        assert stranger.poll() is None  # same pid, other start time: not the recorded process
        assert read_record(state) is None and "stopped api:" in down.stdout
    finally:
        for proc in (orphan, stranger):
            proc.kill()
            proc.wait()


def test_up_names_the_process_holding_its_port(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "attune.cli", "up", "--temporal-port", str(port),
                               "--no-api", "--ui-port", str(free_port())],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert f"temporal port {port} is already in use by pid {os.getpid()}" in message
    assert f"kill {os.getpid()}" in message


def test_up_refuses_a_database_a_newer_attune_upgraded_before_starting_anything(tmp_path):
    """A downgrade: the API refused the database only after the workers had started and taken
    tasks of the runs in flight, and said so in a traceback in api.log."""
    from sqlalchemy import text

    from attune.records.db import Database

    state = tmp_path / "state"
    state.mkdir()
    db = Database(f"sqlite:///{state / 'attune.db'}")
    db.migrate()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.dispose()
    done = subprocess.run([sys.executable, "-m", "attune.cli", "up", "--state-dir", str(state),
                           "--temporal-port", str(free_port()), "--ui-port", str(free_port()),
                           "--api-port", str(free_port())],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "is at schema revision 9999, which a newer attune made" in message, message
    assert "does not downgrade" in message
    assert not list(state.glob("logs/worker-*.log")) and not (state / "temporal.db").exists()


@pytest.mark.parametrize("which", ["temporal", "ui"])
def test_up_takes_its_temporal_ports_from_the_environment_when_no_flag_gives_them(tmp_path, which):
    """Flags over ATTUNE_* over defaults: `--temporal-port 7233` and `--ui-port 8233` were
    defaults of the flags themselves, so ATTUNE_TEMPORAL_ADDRESS and ATTUNE_TEMPORAL_UI_PORT
    never counted. A port held here shows which one `attune up` went for."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {**os.environ, "ATTUNE_TEMPORAL_ADDRESS": f"127.0.0.1:{port if which == 'temporal' else free_port()}",
               "ATTUNE_TEMPORAL_UI_PORT": str(port if which == "ui" else free_port())}
        done = subprocess.run([sys.executable, "-m", "attune.cli", "up", "--no-api"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{which} port {port} is already in use" in " ".join(done.stderr.split())


def test_up_refuses_while_a_recorded_stack_runs_and_points_to_down(tmp_path):
    state = tmp_path / ".attune"
    state.mkdir()
    orphan = _sleeper()
    try:
        write_record(state, StackRecord(up=RecordedProcess(role="up", pid=orphan.pid, started=0.0),
                                        members=[RecordedProcess.of("server", orphan.pid)]))
        done = subprocess.run([sys.executable, "-m", "attune.cli", "up", "--temporal-port", str(free_port()),
                               "--no-api", "--ui-port", str(free_port())],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        message = " ".join(done.stderr.split())
        assert f"server pid {orphan.pid}" in message and "attune down" in message
        assert orphan.poll() is None  # `up` only reports; stopping is `attune down`'s
    finally:
        orphan.kill()
        orphan.wait()
    assert json.loads((state / "stack.json").read_text())["members"][0]["pid"] == orphan.pid


def test_up_refuses_a_state_dir_another_up_is_starting_on(tmp_path):
    """Two `attune up` started together both found no recorded stack (the record is written as
    processes start) and both started a Temporal server on one SQLite file: the state directory
    is now held for the life of the `attune up` that has it."""
    state = tmp_path / ".attune"
    state.mkdir()
    held = hold_state(state)  # as a starting `attune up` holds it, before any record exists
    try:
        done = subprocess.run([sys.executable, "-m", "attune.cli", "up", "--temporal-port", str(free_port()),
                               "--no-api", "--ui-port", str(free_port())],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        message = " ".join(done.stderr.split())
        assert f"another `attune up` (pid {os.getpid()}) is using {state}" in message, message
        assert not (state / "temporal.db").exists() and not (state / "stack.json").exists()
    finally:
        held.close()
    with hold_state(state), pytest.raises(RuntimeError, match="another `attune up`"):
        hold_state(state)  # also within one process
    hold_state(state).close()  # released with its holder


MEMBER = """
import signal, sys, time
def stop(*_):
    time.sleep({delay})  # a slow graceful stop: the server must still wait for it
    open({log!r}, "a").write({name!r} + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
open({log!r} + "." + {name!r}, "w").close()
time.sleep(300)
"""


def test_stop_order_is_api_and_workers_then_server(tmp_path):
    from attune.stack import Stack

    log = str(tmp_path / "order")
    stack = Stack(tmp_path, {})
    for role, delay in [("server", 0), ("shell", 0.3), ("api", 0.6)]:
        stack.add(role, subprocess.Popen([sys.executable, "-c", MEMBER.format(delay=delay, log=log, name=role)],
                                         start_new_session=True))
    wait_for(lambda: all(Path(f"{log}.{r}").exists() for r in ("server", "shell", "api")), "members")
    assert [m.role for m in read_record(tmp_path).members] == ["server", "shell", "api"]
    stack.stop()
    assert Path(log).read_text().split() == ["shell", "api", "server"]
    assert read_record(tmp_path) is None
