"""The CLI leaves without interpreter teardown (cli.commands.leave): the Temporal SDK's Rust
threads could abort a finished command in CPython's finalization (temporalio/sdk-python#300).
What teardown did for us must still happen: exit codes, flushed output, atexit callbacks."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest

from attune.cli.commands import exit_code

SCRIPT = """
import atexit, logging, sys
from attune.cli.commands import leave
atexit.register(lambda: print("atexit ran", file=sys.stderr))
logging.basicConfig(stream=sys.stderr)
logging.getLogger("t").warning("logged")
sys.stdout.write("x" * 200_000)  # more than any pipe buffer: must be flushed, not dropped
leave(3)
"""


def test_leaving_keeps_the_exit_code_the_output_and_the_atexit_callbacks() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout == "x" * 200_000
    assert "logged" in done.stderr and "atexit ran" in done.stderr


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130), (256, 0), ("boom", 1)])
def test_a_system_exit_code_becomes_the_status_the_interpreter_would_give(code: object, status: int) -> None:
    assert exit_code(code) == status


def test_the_cli_exits_with_its_documented_codes() -> None:
    ok = subprocess.run([sys.executable, "-m", "attune.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "Usage" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "attune.cli", "no-such-command"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "No such command" in bad.stderr


def test_a_worker_refuses_a_packs_directory_that_does_not_exist(tmp_path) -> None:
    """A typo in --packs would otherwise run every action from where it was registered."""
    done = subprocess.run([sys.executable, "-m", "attune.cli", "worker", "--runtime", "shell",
                           "--packs", str(tmp_path / "nope"), "--temporal-address", "127.0.0.1:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"--packs {tmp_path / 'nope'}: no such directory" in done.stderr


def test_a_worker_takes_its_packs_directory_from_attune_packs_dir(tmp_path) -> None:
    """Compose and the Dockerfile set ATTUNE_PACKS_DIR for every worker, which ignored it: it is
    --packs' default, checked the same way."""
    import os

    done = subprocess.run([sys.executable, "-m", "attune.cli", "worker", "--runtime", "shell",
                           "--temporal-address", "127.0.0.1:1"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "ATTUNE_PACKS_DIR": str(tmp_path / "nope")})
    assert done.returncode == 2 and f"ATTUNE_PACKS_DIR {tmp_path / 'nope'}: no such directory" in done.stderr


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("ATTUNE_API_PORT", "eighty", "ATTUNE_API_PORT='eighty': Input should be a valid integer"),
    ("ATTUNE_LOG_LEVEL", "loud", "ATTUNE_LOG_LEVEL='loud': must be one of debug, info, warning, error"),
    ("ATTUNE_API_URL", "127.0.0.1:8000", "ATTUNE_API_URL='127.0.0.1:8000': must be an http:// or https://"),
    ("ATTUNE_API_PORT", "70000", "ATTUNE_API_PORT='70000': Input should be less than or equal to 65535"),
    # a malformed key failed only a run's first secret ("the workers' keys differ"); never printed
    ("ATTUNE_SECRET_KEY", "notakey-but-secret", "ATTUNE_SECRET_KEY: not a Fernet key"),
])
def test_a_bad_setting_in_the_environment_is_a_usage_error_naming_it(variable, value, says) -> None:
    """Not a page of traceback with exit 1: which variable, what it holds, what it needs."""
    import os

    done = subprocess.run([sys.executable, "-m", "attune.cli", "execution", "list"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, variable: value})
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "notakey-but-secret" not in done.stderr


def _cli(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "attune.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://postgres:hunter2@127.0.0.1:1/attune",
     "cannot open the records database postgresql+psycopg://postgres:***@127.0.0.1:1/attune "
     "(ATTUNE_DATABASE_URL): (psycopg.OperationalError) connection failed"),
    ("postgresql://postgres@127.0.0.1:5432/attune_no_such_db", 'database "attune_no_such_db" does not exist'),
    ("mysql://root@127.0.0.1/test", "No module named 'MySQLdb' (supported: sqlite:// and postgresql://)"),
    ("not a url", "ATTUNE_DATABASE_URL: not a database URL (e.g. postgresql://"),
])
def test_the_api_says_in_one_line_why_its_database_cannot_be_used(url, says, tmp_path) -> None:
    """It was uvicorn's 157-line startup traceback and exit 3, the cause buried in it."""
    done = _cli("api", "--port", "1", env={"ATTUNE_DATABASE_URL": url}, cwd=str(tmp_path))
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr and "hunter2" not in done.stderr, done.stderr
    up = _cli("up", "--state-dir", str(tmp_path / "s"), env={"ATTUNE_DATABASE_URL": url}, cwd=str(tmp_path))
    assert up.returncode == 2 and says in up.stderr, up.stderr  # before anything is started


def test_the_api_says_when_it_cannot_listen(tmp_path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _cli("api", "--port", str(port), cwd=str(tmp_path))
        assert done.returncode == 2 and f"api port {port} is already in use by pid" in done.stderr, done.stderr
    done = _cli("api", "--host", "192.0.2.1", "--port", "8000", cwd=str(tmp_path))  # not this machine's
    assert done.returncode == 2, done.stderr
    assert "the API cannot listen on 192.0.2.1:8000 (--host/ATTUNE_API_HOST, --port/ATTUNE_API_PORT): " \
           "Cannot assign requested address" in done.stderr, done.stderr


@pytest.mark.parametrize("args", [["api", "--port", "99999"], ["up", "--api-port", "0"],
                                  ["up", "--temporal-port", "99999"], ["up", "--ui-port", "65536"],
                                  ["worker", "--runtime", "shell", "--concurrency", "0"],
                                  ["worker", "--runtime", "shell", "--concurrency", "-1"]])
def test_numbers_out_of_range_are_usage_errors(args, tmp_path) -> None:
    """`api --port 99999` listened on 34463 and logged 99999; `up --api-port 99999` and
    `worker --concurrency -1` ended in tracebacks."""
    done = _cli(*args, cwd=str(tmp_path))
    assert done.returncode == 2 and f"Invalid value for '{args[-2]}'" in done.stderr, done.stderr


def test_up_refuses_a_packs_directory_named_that_does_not_exist(tmp_path) -> None:
    done = _cli("up", "--packs", str(tmp_path / "nope"), "--state-dir", str(tmp_path / "s"), cwd=str(tmp_path))
    assert done.returncode == 2 and f"--packs {tmp_path / 'nope'}: no such directory" in done.stderr


@pytest.mark.parametrize("command", [["execution", "get", "1"], ["execution", "list"], ["run", "core.noop"],
                                     ["inquiry", "list"], ["execution", "tail", "1"]])
def test_every_command_refuses_an_output_format_it_does_not_have(command) -> None:
    """`-o xml` printed a table with exit 0 everywhere but `run`."""
    done = subprocess.run([sys.executable, "-m", "attune.cli", *command, "-o", "xml",
                           "--api-url", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "must be table, json or yaml, not 'xml'" in done.stderr


@pytest.mark.parametrize("given", ["http://127.0.0.1:8000", "http://127.0.0.1:8000/", " http://127.0.0.1:8000/api/v1",
                                   "http://127.0.0.1:8000/api/v1/"])
def test_the_api_address_attune_up_prints_is_the_api_address(given) -> None:
    """`attune up` prints `API http://host:port/api/v1`; that copied into ATTUNE_API_URL sent
    every request to /api/v1/api/v1/... and got a 404 about execution ids."""
    from attune.settings import Settings

    assert Settings.load(api_url=given).api_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500, 503])
def test_a_refused_request_exits_2_not_1_which_means_the_run_ended_badly(status) -> None:
    """A wrong token exited 1, as a failed execution does (spec: 2 = usage or connection)."""
    import io

    from rich.console import Console

    from attune.cli.api_client import ApiError, report_api_error

    said = io.StringIO()
    assert report_api_error(Console(file=said), ApiError(status, "bearer token required")) == 2
    assert "bearer token required" in said.getvalue()


def _api_commands() -> list[list[str]]:
    """Every command that talks to the API (it takes --api-url), with its required arguments."""
    import typer

    from attune.cli.commands import app

    found: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:  # typer's own click: duck-typed
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        if any(p.name == "api_url" for p in command.params):
            found.append([*path, *("1" for p in command.params
                                   if p.param_type_name == "argument" and p.required)])

    walk(typer.main.get_command(app), [])
    assert len(found) >= 12, found
    return found


@pytest.mark.parametrize("command", _api_commands(), ids=" ".join)
def test_every_command_says_what_to_do_when_the_api_is_not_there(command: list[str]) -> None:
    """It said "cannot reach the API at ...: [Errno 111] Connection refused" and no more."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "ATTUNE_API_URL"}
    done = subprocess.run([sys.executable, "-m", "attune.cli", *command, "--api-url", "http://127.0.0.1:1"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "error: cannot reach the API at http://127.0.0.1:1 (connection refused): is the stack running "
        "(attune up)? Else give the API's address: --api-url or ATTUNE_API_URL"), done.stderr


def test_a_server_that_is_not_the_api_is_named_with_the_next_step(tmp_path):
    """`--api-url` at another HTTP server (Temporal's Web UI port, a static server): its HTML
    page or JSON was printed as the API's error, with no address and no next step."""
    import socket

    from attune.engine.server import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        done = _cli("execution", "list", "--api-url", f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert f"the server at http://127.0.0.1:{port} answered without the API's error format (404: " in message, message
    assert message.endswith("is it Attune's API? Else give the API's address: --api-url or ATTUNE_API_URL"), message


def test_a_flag_beats_the_environment_which_beats_the_default() -> None:
    """interfaces: Configuration: flags over environment (ATTUNE_*) over defaults."""
    env = {"ATTUNE_API_URL": "http://127.0.0.1:2"}  # both ports closed: the error names the one used
    flagged = _cli("execution", "list", "--api-url", "http://127.0.0.1:1", env=env)
    assert flagged.returncode == 2 and "cannot reach the API at http://127.0.0.1:1 " in flagged.stderr, flagged.stderr
    from_env = _cli("execution", "list", env=env)
    assert from_env.returncode == 2 and "cannot reach the API at http://127.0.0.1:2 " in from_env.stderr, \
        from_env.stderr


def test_default_addresses(monkeypatch, tmp_path) -> None:
    """interfaces: default addresses API http://127.0.0.1:8000, Temporal 127.0.0.1:7233, its Web UI :8233."""
    import os

    from attune.api.routes.meta import temporal_ui_url
    from attune.settings import Settings

    for name in [n for n in os.environ if n.startswith("ATTUNE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (settings.api_url, settings.temporal_address) == ("http://127.0.0.1:8000", "127.0.0.1:7233")
    assert temporal_ui_url(settings) == "http://127.0.0.1:8233"
