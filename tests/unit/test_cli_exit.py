"""The CLI leaves without interpreter teardown (cli.commands.leave): the Temporal SDK's Rust
threads could abort a finished command in CPython's finalization (temporalio/sdk-python#300).
What teardown did for us must still happen: exit codes, flushed output, atexit callbacks."""

from __future__ import annotations

import subprocess
import sys

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


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("ATTUNE_API_PORT", "eighty", "ATTUNE_API_PORT='eighty': Input should be a valid integer"),
    ("ATTUNE_LOG_LEVEL", "loud", "ATTUNE_LOG_LEVEL='loud': must be one of debug, info, warning, error"),
    ("ATTUNE_API_URL", "127.0.0.1:8000", "ATTUNE_API_URL='127.0.0.1:8000': must be an http:// or https://"),
])
def test_a_bad_setting_in_the_environment_is_a_usage_error_naming_it(variable, value, says) -> None:
    """Not a page of traceback with exit 1: which variable, what it holds, what it needs."""
    import os

    done = subprocess.run([sys.executable, "-m", "attune.cli", "execution", "list"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, variable: value})
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr


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
