"""`attune up` and the CLI through the REST API, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from attune.engine.server import free_port
from tests.conftest import PACKS


def cli(*args: str, api: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "attune.cli", *args, "--api-url", api],
                          capture_output=True, text=True, timeout=timeout)


def in_terminal(*args: str, api: str, timeout: float = 120) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, as a person at a terminal does (colours, live tables);
    its exit status and what it drew, escape sequences removed."""
    main, sub = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "attune.cli", *args, "--api-url", api],
                            stdin=sub, stdout=sub, stderr=sub, start_new_session=True,
                            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"})
    os.close(sub)
    screen, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the CLI exited and closed the terminal's other side
                break
            if not chunk:
                break
            screen += chunk
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", screen.decode(errors="replace"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack")
    shutil.copytree(PACKS, home / "packs")
    api_port, port, ui = free_port(), free_port(), free_port()
    METRICS["orchestrator"] = _free_ports(4)
    proc = _start_up(home, api_port, port, ui, metrics=METRICS["orchestrator"])
    api = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/api/v1/packs/examples", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.3)
    yield api, proc, home
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)


def test_run_through_api_completes_and_prints_result(stack):
    api, _, _ = stack
    done = cli("run", "examples.sequence", "-o", "json", api=api)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["status"] == "completed" and body["result"]["succeeded"] is True


# Rich markup, an emoji code and a closing tag that matches nothing: text like any other.
AWKWARD = "[bold]b[/bold] :a: [/x] [red]✓"


def test_what_an_action_printed_comes_out_verbatim(stack):
    """json and yaml carry an action's output byte for byte, and a terminal shows it as
    written: the CLI once read it as Rich markup (`[bold]` vanished, `:a:` became an emoji, and
    a stray `[/x]` crashed `attune run` with a traceback after the run had completed)."""
    api, _, _ = stack
    done = cli("run", "core.echo", f"message={AWKWARD}", "-o", "json", api=api)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["stdout"] == AWKWARD + "\n"
    done = cli("run", "core.echo", f"message={AWKWARD}", "-o", "yaml", api=api)
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["result"]["stdout"] == AWKWARD + "\n"
    code, screen = in_terminal("run", "core.echo", f"message={AWKWARD}", api=api)
    shown = json.dumps(AWKWARD + "\n", ensure_ascii=False)  # text as written, not \u escapes
    assert code == 0 and "completed" in screen and shown in screen, screen
    assert "attempt" not in screen  # a plain action has no task table, only its status line
    listed = cli("execution", "list", "-o", "json", api=api)
    newest = json.loads(listed.stdout)["items"][0]
    code, screen = in_terminal("execution", "get", str(newest["id"]), api=api)
    assert code == 0 and json.dumps(AWKWARD + "\n", ensure_ascii=False) in screen, screen


def test_a_run_outside_a_terminal_prints_a_line_per_task_state(stack):
    """In a CI job's log there is no live table: each task attempt's state changes are lines,
    in order, and the result follows."""
    api, _, _ = stack
    done = cli("run", "examples.sequence", api=api)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for task in ("compute", "double", "report"):
        assert any(line.startswith(f"task {task} (") and line.endswith(": completed") for line in lines), lines
    ends = [i for i, line in enumerate(lines) if line.endswith(": completed") and line.startswith("task ")]
    assert ends == sorted(ends) and "examples.sequence" in done.stdout.split("task report")[-1]


def test_a_failed_workflow_says_why_each_task_failed(stack):
    """The run's error names the tasks ("1 task(s) failed: unhandled"); their reasons were one
    `execution list --parent` away. A person's output shows them; -o json stays the record."""
    api, _, home = stack
    qa = home / "qa"
    if not qa.exists():
        shutil.copytree(Path(__file__).resolve().parents[1] / "packs" / "qa", qa)
    assert cli("pack", "register", str(qa), api=api).returncode == 0
    done = cli("run", "qa.failures", api=api)
    assert done.returncode == 1, done.stderr
    reason = [line for line in done.stdout.splitlines() if line.startswith("task unhandled (qa.fail, execution ")]
    assert reason and reason[-1].endswith(": failed: qa.fail failed on purpose"), done.stdout
    assert "task handled (qa.fail, execution" not in done.stdout  # it failed, but was handled
    as_json = cli("run", "qa.failures", "-o", "json", api=api)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["status"] == "failed"
    # A nested run's task fails with "Workflow failed: 1 task(s) failed: again" at every level:
    # the reason (here the nesting limit) is said from where it happened, 20 levels down.
    deep = cli("run", "qa.recurse", "n=25", api=api)
    assert deep.returncode == 1, deep.stderr
    reason = [line for line in deep.stdout.splitlines() if line.startswith("task again → again")]
    assert len(reason) == 1 and reason[0].count("→") == 20, deep.stdout
    assert reason[0].endswith("would run 21 levels deep, over the limit of 20 (setting "
                              "ATTUNE_MAX_NESTING_DEPTH); does a workflow run itself?"), reason


def test_failed_action_exits_1_and_bad_parameter_exits_2(stack):
    api, _, _ = stack
    assert cli("run", "core.fail", api=api).returncode == 1
    # k=v is read by the schema the CLI fetched from the API (GET /actions/{ref}) ...
    bad = cli("run", "examples.fibo", "n=abc", api=api)
    assert bad.returncode == 2 and "parameter 'n' is an integer: cannot read 'abc' as one" in bad.stderr
    # ... and what gets past it is the API's to refuse.
    bad = cli("run", "examples.fibo", "--params-json", '{"n": "abc"}', api=api)
    assert bad.returncode == 2 and "parameters.n" in bad.stderr


def test_async_then_get_tail_and_list(stack):
    api, _, _ = stack
    started = cli("run", "examples.with_items", "--async", api=api)
    assert started.returncode == 0
    execution_id = started.stdout.strip()
    tail = cli("execution", "tail", execution_id, "-o", "json", api=api)
    assert tail.returncode == 0 and json.loads(tail.stdout)["status"] == "completed"
    got = cli("execution", "get", execution_id, "-o", "yaml", api=api)
    assert "status: completed" in got.stdout
    listed = json.loads(cli("execution", "list", "--parent", execution_id, "-o", "json",
                            api=api).stdout)
    assert listed["items"] and all(i["parent"] == int(execution_id) for i in listed["items"])
    as_json = cli("run", "core.noop", "--async", "-o", "json", api=api)  # the record, not a bare id
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["action_ref"] == "core.noop", as_json.stdout
    none = cli("execution", "list", "--action", "nope.*", api=api)
    assert none.returncode == 0 and none.stdout.strip() == "no execution matches", none.stdout  # no empty table
    questions = cli("inquiry", "list", "--status", "pending", api=api)
    assert questions.returncode == 0 and questions.stdout.strip() == "no inquiry matches", questions.stdout


def test_get_of_a_run_that_has_not_ended_says_so_rather_than_null(stack):
    api, _, _ = stack
    started = cli("run", "core.sleep", "seconds=3", "--async", api=api)
    got = cli("execution", "get", started.stdout.strip(), api=api)
    assert got.returncode == 0 and "no result yet: it has not ended" in got.stdout, got.stdout
    assert "null" not in got.stdout


def test_cancel_running_workflow_and_cancel_again_is_an_error(stack):
    api, _, _ = stack
    started = cli("run", "core.sleep", "seconds=30", "--async", api=api)
    execution_id = started.stdout.strip()
    time.sleep(0.5)
    assert cli("execution", "cancel", execution_id, api=api).returncode == 0
    tail = cli("execution", "tail", execution_id, "-o", "json", api=api)
    assert json.loads(tail.stdout)["status"] == "cancelled" and tail.returncode == 1
    again = cli("execution", "cancel", execution_id, api=api)
    assert again.returncode == 2 and "409" in again.stderr


def test_the_api_keeps_an_idle_connection_longer_than_clients_do(stack):
    """Uvicorn closed idle connections at 5 s, httpx's own expiry: a client reusing one just
    under 5 s idle met "Server disconnected without sending a response" (bench rest200)."""
    api, _, _ = stack
    with httpx.Client(base_url=api, limits=httpx.Limits(keepalive_expiry=30)) as http:
        assert http.get("/api/v1/health").status_code == 200
        time.sleep(6)  # past uvicorn's default keep-alive
        transport = http._transport._pool  # the one pooled connection, to see it was reused
        (conn,) = transport.connections
        assert http.get("/api/v1/health").status_code == 200
        assert transport.connections == [conn] and conn.is_idle()


def test_unreachable_api_exits_2():
    done = cli("run", "core.echo", api="http://127.0.0.1:1")
    assert done.returncode == 2 and "cannot reach the API" in done.stderr


def _stack_pids(temporal_port: int) -> list[int]:
    """Processes started by `attune up`: the server (by its --port) and workers/API (by env)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if (f"--port {temporal_port} ".encode() in cmdline
                or f"ATTUNE_TEMPORAL_ADDRESS=127.0.0.1:{temporal_port}\0".encode() in environ):
            found.append(int(entry.name))
    return found


def _start_up(home: Path, api_port: int, port: int, ui: int, metrics: int | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("ATTUNE_API_URL", "ATTUNE_METRICS_BIND")}
    if metrics:  # by environment, as in a deployment's unit file
        env["ATTUNE_METRICS_BIND"] = f"127.0.0.1:{metrics}"
    return subprocess.Popen(
        [sys.executable, "-m", "attune.cli", "up", "--temporal-port", str(port), "--ui-port",
         str(ui), "--api-port", str(api_port)],
        cwd=home, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


METRICS: dict[str, int] = {}  # the first metrics port of the module's stack


def _free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are free now."""
    for _ in range(100):
        first = free_port()
        if first + count <= 65536 and all(_free(first + i) for i in range(count)):
            return first
    raise AssertionError(f"no {count} consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_each_worker_of_the_stack_serves_its_own_metrics(stack):
    """One address for the stack: the orchestrator takes its port, the runtimes the next three."""
    api, _, _ = stack
    done = cli("run", "examples.single_echo", "-o", "json", api=api)
    assert done.returncode == 0, done.stderr
    first = METRICS["orchestrator"]
    for offset, role in enumerate(("orchestrator", "shell", "python", "nodejs")):
        page = ""
        for _ in range(100):  # the SDK exports on its own schedule
            page = httpx.get(f"http://127.0.0.1:{first + offset}/metrics", timeout=5).text
            if f'task_queue="attune-{role}"' in page and "temporal_num_pollers" in page:
                break
            time.sleep(0.1)
        assert f'task_queue="attune-{role}"' in page and "temporal_num_pollers" in page, (role, page[:500])


def test_up_refuses_metrics_ports_it_cannot_have(tmp_path):
    def up(*args: str) -> tuple[int, str]:
        proc = subprocess.run([sys.executable, "-m", "attune.cli", "up", "--state-dir", str(tmp_path),
                               "--temporal-port", str(free_port()), "--ui-port", str(free_port()),
                               "--api-port", str(free_port()), *args],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
        return proc.returncode, " ".join(proc.stderr.split())

    code, err = up("--metrics-bind", "127.0.0.1:65534")  # the runtimes' ports would pass 65535
    assert code == 2 and "the port must be a number from 1 to 65532" in err, err
    first = _free_ports(4)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first + 2))
        taken.listen()
        code, err = up("--metrics-bind", f"127.0.0.1:{first}")
    assert code == 2 and f"python metrics port {first + 2} is already in use" in err, err


WAITING: dict[str, int] = {}  # an approval asked before the restart, answered after it


def test_run_control_verbs_and_an_inquiry_asked_before_a_restart(stack):
    api, _, _ = stack
    asked = cli("run", "examples.approval", "--async", api=api)
    assert asked.returncode == 0, asked.stderr
    execution_id = int(asked.stdout.strip())
    deadline = time.monotonic() + 60
    pending: list = []
    while not pending and time.monotonic() < deadline:
        listed = cli("inquiry", "list", "--status", "pending", "-o", "json", api=api)
        pending = json.loads(listed.stdout)["items"]
        time.sleep(0.3)
    assert pending and pending[0]["prompt"] == "Deploy release 42?"
    mine = cli("inquiry", "list", "--execution", str(execution_id), api=api)  # this run's questions
    assert mine.returncode == 0 and "1 inquiry(s)" in mine.stdout, mine.stdout
    other = cli("inquiry", "list", "--execution", str(execution_id + 1_000_000), "-o", "json", api=api)
    assert other.returncode == 0 and json.loads(other.stdout)["items"] == [], other.stdout
    shown = cli("inquiry", "get", str(pending[0]["id"]), api=api)
    assert "approved" in shown.stdout and shown.returncode == 0
    bad = cli("inquiry", "respond", str(pending[0]["id"]), "approved=perhaps", api=api)
    assert bad.returncode == 2 and "parameter 'approved'" in bad.stderr  # read by its schema
    paused = cli("execution", "pause", str(execution_id), "-o", "json", api=api)
    assert paused.returncode == 0 and json.loads(paused.stdout)["status"] == "pausing"
    resumed = cli("execution", "resume", str(execution_id), api=api)
    assert resumed.returncode == 0 and "running" in resumed.stdout
    not_paused = cli("execution", "resume", str(execution_id), api=api)
    assert not_paused.returncode == 2 and "not paused" in not_paused.stderr
    WAITING.update(execution=execution_id, inquiry=pending[0]["id"])


def member_pid(home: Path, role: str) -> int:
    """The pid `attune up` recorded for one member of its stack (it changes on a restart)."""
    members = json.loads((home / ".attune" / "stack.json").read_text())["members"]
    return next(m["pid"] for m in members if m["role"] == role)


def _answer_when_asked(proc: subprocess.Popen, api: str) -> list[str]:
    """Read a following CLI's lines until it says it waits for an inquiry; answer it the way
    the line says (approved=true) and return every line it printed."""
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("waiting for inquiry "):
            inquiry = line.split()[3]
            assert f"attune inquiry respond {inquiry} approved=… note=…" in line, line
            answered = cli("inquiry", "respond", inquiry, "approved=true", api=api)
            assert answered.returncode == 0, answered.stderr
    return lines


def test_a_run_that_waits_for_an_answer_says_which_inquiry_and_how_to_answer(stack):
    """`attune run` showed the core.ask task `running` and nothing else while the run waited for
    a person; it now names the inquiry, its prompt and the command that answers it."""
    api, _, _ = stack
    proc = subprocess.Popen([sys.executable, "-m", "attune.cli", "run", "examples.approval",
                             "release=7", "--api-url", api], stdout=subprocess.PIPE, text=True)
    try:
        lines = _answer_when_asked(proc, api)
        assert proc.wait(timeout=60) == 0, lines
    finally:
        proc.kill()
    asked = [line for line in lines if line.startswith("waiting for inquiry ")]
    assert len(asked) == 1 and "“Deploy release 7?”" in asked[0], lines
    assert any(line.startswith("task deploy (core.echo): completed") for line in lines), lines
    # in a terminal, under the live table
    started = cli("run", "examples.approval", "release=8", "timeout=4", "--async", api=api).stdout.strip()
    code, screen = in_terminal("execution", "tail", started, api=api, timeout=60)  # declined at 4 s
    assert code == 0 and "waiting for inquiry " in screen and "“Deploy release 8?”" in screen, screen


def test_get_exits_as_run_does_and_shows_every_field_whole(stack):
    """`execution get` of a failed execution exited 0 (`run` and `tail` exit 1), and a narrow
    table cut its timestamps to `2026-12-07T14:4…`: one record is a field per line."""
    api, _, _ = stack
    failed = json.loads(cli("run", "core.fail", "-o", "json", api=api).stdout)["id"]
    code, screen = in_terminal("execution", "get", str(failed), api=api)
    assert code == 1, screen
    started = re.search(r"started_at\s*│?\s*(\S+)", screen)
    assert started and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*", started.group(1)), screen
    done = json.loads(cli("run", "core.noop", "-o", "json", api=api).stdout)["id"]
    assert cli("execution", "get", str(done), api=api).returncode == 0


def test_following_a_rerun_names_the_tasks_it_kept(stack):
    """A re-run from failed tasks keeps the tasks that succeeded (not run again): following it
    showed only what it ran, as if the kept tasks had vanished."""
    api, _, home = stack
    qa = home / "qa"
    if not qa.exists():
        shutil.copytree(Path(__file__).resolve().parents[1] / "packs" / "qa", qa)
    assert cli("pack", "register", str(qa), api=api).returncode == 0
    failed = json.loads(cli("run", "qa.failures", "-o", "json", api=api).stdout)
    rerun = cli("execution", "rerun", str(failed["id"]), "--from-failed", "--async", api=api)
    assert rerun.returncode == 0, rerun.stderr
    tail = cli("execution", "tail", rerun.stdout.strip(), api=api)
    followed = cli("execution", "rerun", str(failed["id"]), "--from-failed", api=api)  # as `run`
    for shown in (tail, followed):
        kept = [line for line in shown.stdout.splitlines() if "kept from execution" in line]
        assert kept and all(line.endswith(f"kept from execution {failed['id']} (not run again)")
                            for line in kept), shown.stdout
        assert shown.returncode == 1, shown.stderr  # `unhandled` fails again


def test_a_rerun_is_followed_to_its_end_and_exits_as_run_does(stack):
    """`execution rerun` returned as soon as the API took it, exit 0 whatever the re-run then
    did: it waits for the new execution and exits as it ended, as `run` does."""
    api, _, _ = stack
    for ref, code in (("core.fail", 1), ("core.noop", 0)):
        ran = cli("run", ref, "-o", "json", api=api)
        first = json.loads(ran.stdout)
        assert ran.returncode == code, ran.stderr
        rerun = cli("execution", "rerun", str(first["id"]), "-o", "json", api=api)
        again = json.loads(rerun.stdout)
        assert rerun.returncode == code, rerun.stderr
        assert again["rerun_of"] == first["id"] and again["status"] == first["status"] != "requested"
        assert again["result"].get("error") == first["result"].get("error")
    people = cli("execution", "rerun", str(first["id"]), api=api)
    assert people.returncode == 0 and people.stdout.startswith(f"re-run of {first['id']} is execution "), people.stdout
    quick = cli("execution", "rerun", str(first["id"]), "--async", api=api)
    assert quick.returncode == 0 and quick.stdout.strip().isdigit(), quick.stdout


def test_a_worker_that_dies_is_started_again_and_the_run_completes(stack):
    """`attune up` starts again a member that exited on its own: the shell worker, killed while
    a workflow that needs it runs; a new one takes its task and the workflow completes."""
    api, _, home = stack

    def shell_pid() -> int:
        return member_pid(home, "shell")

    before = shell_pid()
    started = cli("run", "examples.sequence", "--async", api=api)
    assert started.returncode == 0, started.stderr
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while shell_pid() == before:
        assert time.monotonic() < deadline, "the shell worker was not started again"
        time.sleep(0.3)
    assert Path(f"/proc/{shell_pid()}").exists()
    done = cli("execution", "tail", started.stdout.strip(), "-o", "json", api=api)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "completed", done.stdout


def test_a_run_followed_through_an_api_restart_still_ends_with_its_result(stack):
    """`attune up` starts a killed API again within seconds: `attune run`, following the run,
    waits for it (saying so) instead of exiting 2 while the run goes on unseen."""
    api, _, home = stack

    def api_pid() -> int:
        return member_pid(home, "api")

    before = api_pid()
    follower = subprocess.Popen([sys.executable, "-m", "attune.cli", "run", "core.sleep", "seconds=4",
                                 "-o", "json", "--api-url", api],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    os.kill(before, signal.SIGKILL)
    out, errors = follower.communicate(timeout=90)
    assert follower.returncode == 0, errors
    assert json.loads(out)["status"] == "completed"
    assert "trying again for up to 60 s (the run goes on without it)" in errors, errors
    assert api_pid() != before


def test_the_api_and_worker_logs_say_when_what_and_where(stack):
    """An operator reading ./.attune/logs/ gets timestamped lines with level and origin: the
    API says where it listens (its log stayed empty before), a worker what it polls."""
    api, _, home = stack
    logs = home / ".attune" / "logs"
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: "
    api_log = (logs / "api.log").read_text()
    assert re.search(stamp + rf"Uvicorn running on {re.escape(api)}", api_log, re.M), api_log
    assert "GET /api/v1" not in api_log  # a line per request only at ATTUNE_LOG_LEVEL=debug
    worker_log = (logs / "worker-shell.log").read_text()
    assert "polling" in worker_log, worker_log


def _up_until(home: Path, marker: str, *extra: str, env: dict[str, str] | None = None,
              timeout: float = 120) -> tuple[int, str]:
    """`attune up` in `home` (ports of its own) until a line has `marker` or it exits; then
    Ctrl-C. Its exit status and everything it printed, stdout and stderr in order."""
    ports = [str(free_port()) for _ in range(3)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "attune.cli", "up", "--temporal-port", ports[0], "--ui-port", ports[1],
         "--api-port", ports[2], *extra],
        cwd=home, env={**{k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    seen, deadline = "", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen += line
            if marker in line or not line:
                break
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        seen += proc.stdout.read()
        return proc.wait(timeout=60), seen
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_up_with_a_pack_it_cannot_register_says_so_in_its_banner(tmp_path):
    """It printed `pack broken: not registered` among the start-up lines, then the same
    `attune is up` as when everything was registered."""
    broken = tmp_path / "packs" / "broken"
    (broken / "actions").mkdir(parents=True)
    shutil.copytree(PACKS / "core", tmp_path / "packs" / "core")
    (broken / "pack.yaml").write_text("ref: broken\nversion: '1.0'\n")
    (broken / "actions" / "x.yaml").write_text("ref: broken.x\nrunner_type: shell\nentry_point: x.sh\ntypo: 1\n")
    # A folder that is not a pack was skipped without a word, a misnamed pack.yml included.
    (tmp_path / "packs" / "misnamed").mkdir()
    (tmp_path / "packs" / "misnamed" / "pack.yml").write_text("ref: misnamed\n")
    (tmp_path / "packs" / "notes").mkdir()
    (tmp_path / "packs" / ".git").mkdir()
    code, out = _up_until(tmp_path, "attune is up")
    assert code == 0, out
    assert "misnamed/: not a pack (has pack.yml, not pack.yaml), skipped" in out, out
    assert "notes/: not a pack (no pack.yaml), skipped" in out and ".git" not in out, out
    api = re.search(r"API           (http://127\.0\.0\.1:\d+)/api/v1", out)
    assert api, out
    assert "pack core: registered" in out and "pack broken: not registered" in out, out
    assert "attune is up, but pack broken was not registered (why: above) — Ctrl-C stops everything" in out, out
    assert f"  once fixed: attune pack register packs/broken --api-url {api.group(1)}\n" in out, out
    # A registered pack whose directory is gone by the next `attune up` stayed registered without
    # a word, each of its tasks failing after five attempts to find it.
    gone = tmp_path / "packs" / "core"
    gone.rename(tmp_path / "elsewhere")
    code, out = _up_until(tmp_path, "attune is up")
    assert code == 0, out
    assert (f"pack core: registered from {gone.resolve()}, which no longer exists: its script actions "
            "cannot run.") in " ".join(out.split()), out


def test_a_member_that_exits_while_up_starts_is_named_before_stopping(tmp_path):
    """The cause came after `stopping…` (stdout, then the error on stderr): say it first."""
    (tmp_path / "packs").mkdir()
    # The API cannot listen on an address of another machine: it exits at once (check_listen).
    code, out = _up_until(tmp_path, "attune is up", env={"ATTUNE_API_HOST": "192.0.2.1"})
    assert code == 2, out
    error = out.index("error: api exited (2) while the stack was starting; see ")
    assert "the API cannot listen on 192.0.2.1" in out[error:], out
    assert error < out.index("stopping…"), out
    assert out.count("api exited (2)") == 1 and "attune is up" not in out, out


def test_a_run_that_times_out_exits_1(stack):
    """interfaces exit codes: 1 when the execution ended `timeout`."""
    api, _, home = stack
    slow = home / "slowpoke"
    (slow / "actions").mkdir(parents=True, exist_ok=True)
    (slow / "pack.yaml").write_text("ref: slowpoke\nversion: '1.0'\n")
    (slow / "actions" / "nap.yaml").write_text(
        "ref: slowpoke.nap\nrunner_type: shell\nentry_point: nap.sh\ntimeout_seconds: 1\n")
    (slow / "actions" / "nap.sh").write_text("sleep 30\n")
    assert cli("pack", "register", str(slow), api=api).returncode == 0
    done = cli("run", "slowpoke.nap", "-o", "json", api=api, timeout=60)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["status"] == "timeout", done.stdout


def test_up_follows_a_repointed_pack_symlink_and_its_banner_commands_paste(tmp_path):
    """A pack that is a symlink was registered by its target: once re-pointed at a new release
    the next `attune up` said `pack lnk: not registered` (409). And the banner's command for a
    pack it could not register did not quote the path (`bad dir $x 'q"`, `-pk/...`)."""
    packs = tmp_path / "-pk"
    broken = packs / "bad dir $x 'q\""
    (broken / "actions").mkdir(parents=True)
    (broken / "pack.yaml").write_text("ref: broken\nversion: '1.0'\n")
    (broken / "actions" / "x.yaml").write_text("ref: broken.x\nrunner_type: shell\nentry_point: x.sh\ntypo: 1\n")
    for release in ("1", "2"):
        pack = tmp_path / "releases" / release
        (pack / "actions").mkdir(parents=True)
        (pack / "pack.yaml").write_text(f"ref: lp\nversion: '{release}.0'\n")
        (pack / "actions" / "step.yaml").write_text("ref: lp.step\nrunner_type: shell\nentry_point: step.sh\n")
        (pack / "actions" / "step.sh").write_text(f"echo {release}\n")
    (packs / "lnk").symlink_to(tmp_path / "releases" / "1")
    code, out = _up_until(tmp_path, "attune is up", "--packs=-pk")
    assert code == 0 and "pack lnk: registered" in out, out
    api = re.search(r"API           (http://127\.0\.0\.1:\d+)/api/v1", out)
    assert api, out
    fixed = [line for line in out.splitlines() if line.startswith("  once fixed: ")]
    assert [shlex.split(line.removeprefix("  once fixed: ")) for line in fixed] == [
        ["attune", "pack", "register", f"./-pk/{broken.name}", "--api-url", api.group(1)]], out
    (packs / "lnk.new").symlink_to(tmp_path / "releases" / "2")  # ln -sfn: a new release
    (packs / "lnk.new").replace(packs / "lnk")
    code, out = _up_until(tmp_path, "attune is up", "--packs=-pk")
    assert code == 0 and "pack lnk: registered" in out and "pack lnk: not registered" not in out, out


WAITS_WORKFLOW = """\
version: "1.0"
tasks:
  - name: later
    action: core.noop
    delay: 4
  - name: oops
    action: core.fail
    retry: {count: 1, delay: 4}
"""


def test_a_followed_run_says_which_tasks_wait_for_a_timer_and_until_when(stack):
    """A task in its `delay` showed nothing, and after `task oops (core.fail): failed` nothing
    was said for the retry's delay: the CLI says `delayed` / `retrying` and when, in lines (the
    API's UTC time) and in a terminal's live table (its local time), not `running`."""
    api, _, home = stack
    pack = home / "waits"
    (pack / "actions" / "workflows").mkdir(parents=True, exist_ok=True)
    (pack / "pack.yaml").write_text("ref: waits\nversion: '1.0'\n")
    (pack / "actions" / "both.yaml").write_text("ref: waits.both\nworkflow_file: workflows/both.workflow.yaml\n")
    (pack / "actions" / "workflows" / "both.workflow.yaml").write_text(WAITS_WORKFLOW)
    reg = cli("pack", "register", str(pack), api=api)
    assert reg.returncode == 0, reg.stderr
    done = cli("run", "waits.both", api=api)
    assert done.returncode == 1, done.stderr  # oops fails twice
    lines = done.stdout.splitlines()
    utc = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"
    delayed = [i for i, line in enumerate(lines) if re.fullmatch(f"task later: delayed until {utc}", line)]
    retrying = [i for i, line in enumerate(lines)
                if re.fullmatch(rf"task oops: retrying at {utc} \(attempt 2\)", line)]
    assert len(delayed) == 1 and len(retrying) == 1, lines
    later = [i for i, line in enumerate(lines) if line.startswith("task later (core.noop): ")]
    assert later and delayed[0] < later[0], lines  # said before its record, which says running
    assert lines.index("task oops (core.fail): failed") < retrying[0] \
        < lines.index("task oops attempt 2 (core.fail): failed"), lines
    code, screen = in_terminal("run", "waits.both", api=api, timeout=60)
    assert code == 1, screen
    assert re.search(r"later\s*│\s*core\.noop\s*│\s*│\s*1\s*│\s*delayed until \d\d:\d\d:\d\d \(in \d+ s\)",
                     screen), screen
    assert re.search(r"oops\s*│\s*core\.fail\s*│\s*│\s*2\s*│\s*retrying attempt 2 at \d\d:\d\d:\d\d "
                     r"\(in \d+ s\)", screen), screen


def test_pack_register_and_ctrl_c_stops_everything(stack):
    api, proc, home = stack
    reg = cli("pack", "register", str(home / "packs" / "core"), api=api)
    assert reg.returncode == 0, reg.stderr
    broken = home / "broken"  # a pack with problems: exit 1, as `attune validate` says them
    (broken / "actions").mkdir(parents=True)
    (broken / "pack.yaml").write_text("ref: broken\nversion: '1.0'\n")
    (broken / "actions" / "x.yaml").write_text("ref: broken.x\nrunner_type: shell\nentry_point: x.sh\ntypo: 1\n")
    reg = cli("pack", "register", str(broken), api=api)
    assert reg.returncode == 1 and "x.yaml:4:1: unknown key 'typo'" in reg.stderr, reg.stderr
    temporal_port = int(proc.args[proc.args.index("--temporal-port") + 1])
    assert len(_stack_pids(temporal_port)) >= 6  # server, orchestrator, 3 runtimes, API
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    out = proc.stdout.read()
    assert "attune is up" in out and "stopping" in out
    assert "shell exited (-9); starting it again in 1 s" in out  # the restart test above
    assert _stack_pids(temporal_port) == []


def test_second_up_resumes_with_the_same_records_and_temporal_state(stack):
    api, proc, home = stack
    assert proc.poll() is not None  # stopped by the previous test
    api_port = int(api.rsplit(":", 1)[1])
    port = int(proc.args[proc.args.index("--temporal-port") + 1])
    ui = int(proc.args[proc.args.index("--ui-port") + 1])
    again = _start_up(home, api_port, port, ui)
    try:
        deadline = time.monotonic() + 90
        listed = None
        while time.monotonic() < deadline:
            done = cli("execution", "list", "--top-level-only", "--per-page", "100", "-o", "json",
                       api=api)
            if done.returncode == 0:
                listed = json.loads(done.stdout)
                break
            time.sleep(0.5)
        assert listed is not None, "the API did not come back"
        refs = {item["action_ref"] for item in listed["items"]}
        assert {"examples.sequence", "core.fail", "examples.with_items"} <= refs
        # Temporal kept its history too: the old workflow is still known to the server.
        old = next(i for i in listed["items"] if i["action_ref"] == "examples.sequence")
        shown = cli("execution", "get", str(old["id"]), "-o", "json", api=api)
        assert json.loads(shown.stdout)["status"] == "completed"
        rerun = cli("run", "examples.single_echo", "-o", "json", api=api)
        assert rerun.returncode == 0 and json.loads(rerun.stdout)["id"] > old["id"]
        # The approval asked before the restart waited through it, holding nothing.
        answered = cli("inquiry", "respond", str(WAITING["inquiry"]), "approved=yes", "note=go",
                       api=api)
        assert answered.returncode == 0, answered.stderr
        tail = cli("execution", "tail", str(WAITING["execution"]), "-o", "json", api=api)
        assert tail.returncode == 0, tail.stdout + tail.stderr
        assert json.loads(tail.stdout)["result"] == {"deployed": True, "note": "go", "succeeded": True}
        repeated = cli("execution", "rerun", str(old["id"]), "-o", "json", api=api)
        assert repeated.returncode == 0 and json.loads(repeated.stdout)["rerun_of"] == old["id"]
    finally:
        os.killpg(again.pid, signal.SIGINT)
        again.wait(timeout=30)


def test_dev_server_readiness_is_the_health_check_not_the_open_port(temporal_stack):
    from attune.engine.server import serving

    assert serving(temporal_stack.address)
    with socket.socket() as listener:  # a port that is open but speaks no gRPC
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not serving(f"127.0.0.1:{listener.getsockname()[1]}", timeout=1)
    assert not serving(f"127.0.0.1:{free_port()}")

