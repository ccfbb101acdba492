"""The CLI used from scripts: ids as the API takes them, output to a pipe, a file, a full disk or
a stream that is not UTF-8, and exit codes a script can trust (1 only for a run that failed).

A stand-in for the API (`FakeApi`, canned records, every request it got kept) answers the CLI,
run as a user runs it, in its own process."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from attune.cli.api_client import route
from attune.cli.commands import app
from attune.cli.output import make_console, print_table
from tests.conftest import PACKS

LONG_REF = "qacli.a_really_long_action_name_that_a_table_cut_to_eighty_columns_with_an_ellipsis"
SAID = "données ✓"  # what the runs print: é is Latin-1, ✓ is not
EXECUTIONS: dict[int, dict[str, Any]] = {
    7: {"id": 7, "action_ref": LONG_REF, "status": "completed", "parent": None,
        "created": "2026-12-07T10:00:00", "result": {"msg": SAID}},
    8: {"id": 8, "action_ref": "qa.wait", "status": "running", "parent": None,
        "created": "2026-12-07T10:00:01", "result": None},
    9: {"id": 9, "action_ref": "qa.fail", "status": "failed", "parent": None,
        "created": "2026-12-07T10:00:02", "result": {"error": f"{SAID} ✗"}},
}
RUNS = {"qa.ok": 7, "qa.wait": 8, "qa.fail": 9}
INQUIRY = {"id": 3, "status": "pending", "prompt": "Deploy?", "execution": 8, "assigned_to": None,
           "timeout_at": None, "response_schema": {"approved": {"type": "boolean"}}}


class FakeApi:
    """Answers as the API does for the records above; `requests` is every (method, raw path)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path))
                self._answer(*api.get(self.path))

            def do_POST(self) -> None:
                api.requests.append(("POST", self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                self._answer(*api.post(self.path, body))

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def get(self, target: str) -> tuple[int, Any]:
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        if path == "/api/v1/executions":
            items = [] if "parent" in query else sorted(EXECUTIONS.values(), key=lambda e: -e["id"])
            return 200, _page(items)
        if path == "/api/v1/inquiries":
            return 200, _page([INQUIRY] if query.get("execution", ["8"]) == ["8"] else [])
        if found := re.fullmatch(r"/api/v1/executions/(\d+)", path):
            execution = EXECUTIONS.get(int(found.group(1)))
            if execution is None:
                return 404, {"error": {"code": "not_found", "message": "no such execution"}}
            if execution["status"] == "running" and "wait" in query:
                time.sleep(min(float(query["wait"][0]), 0.2))
            return 200, {"data": execution}
        if path == "/api/v1/inquiries/3":
            return 200, {"data": INQUIRY}
        return 404, {"error": {"code": "not_found", "message": f"no route {path}"}}

    def post(self, target: str, body: Any) -> tuple[int, Any]:
        path = urlsplit(target).path
        if path == "/api/v1/executions/execute":
            if body["action_ref"] not in RUNS:
                return 404, {"error": {"code": "not_found", "message": "no such action"}}
            return 201, {"data": {**EXECUTIONS[RUNS[body["action_ref"]]], "status": "requested"}}
        if path == "/api/v1/packs/register":
            return 200, {"data": {"ref": "qa", "path": body["path"], "actions": ["qa.ok"]}}
        if found := re.fullmatch(r"/api/v1/executions/(\d+)/(cancel|pause|resume|rerun)", path):
            return 200, {"data": EXECUTIONS[int(found.group(1))]}
        if path == "/api/v1/inquiries/3/respond":
            return 200, {"data": {**INQUIRY, "status": "responded"}}
        return 404, {"error": {"code": "not_found", "message": f"no route {path}"}}


def _page(items: list[Any]) -> dict[str, Any]:
    return {"items": items, "pagination": {"page": 1, "page_size": 20, "total_items": len(items),
                                           "total_pages": 1, "has_previous": False, "has_next": False}}


@pytest.fixture(scope="module")
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()


def cli(api: FakeApi, *args: str, env: dict[str, str] | None = None, stdout: Any = subprocess.PIPE,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI in its own process, as a script runs it; stdout and stderr as bytes."""
    return subprocess.run([sys.executable, "-m", "attune.cli", *args], stdout=stdout,
                          stderr=subprocess.PIPE, timeout=timeout,
                          env={**os.environ, "ATTUNE_API_URL": api.url, **(env or {})})


# ---- 1, 2: ids ------------------------------------------------------------------------------------

ID_COMMANDS = [["execution", "get"], ["execution", "cancel"], ["execution", "pause"],
               ["execution", "resume"], ["execution", "rerun"], ["execution", "tail"],
               ["inquiry", "get"], ["inquiry", "respond"]]
NOT_IDS = ["../executions/96/cancel?", "../packs/qacli", "1?wait=5", "1#x", "", "0", "-1", "1\x01b",
           "1\n", " 1", "1.0", "1e3", "٣", "x", str(2**63)]


@pytest.mark.parametrize("command", ID_COMMANDS, ids=" ".join)
def test_an_id_that_is_not_a_positive_integer_is_refused_before_any_request(api, command) -> None:
    """`inquiry respond "../executions/96/cancel?" ok=1` cancelled execution 96, `execution get
    ../packs/qacli` printed a pack, `''` a KeyError and a control character an InvalidURL
    traceback: each is a usage error naming the argument, exit 2, and nothing is sent."""
    metavar = "INQUIRY_ID" if command[0] == "inquiry" else "EXECUTION_ID"
    for value in NOT_IDS:
        before = len(api.requests)
        extra = ["ok=1"] if command[-1] in ("respond", "rerun") else []
        done = CliRunner().invoke(app, [*command, "--api-url", api.url, "--", value, *extra])
        said = done.stderr
        assert done.exit_code == 2, (value, said, done.stdout)
        assert said.startswith(f"error: {metavar} must be ") and said.count("\n") == 1, (value, said)
        assert isinstance(done.exception, SystemExit), (value, done.exception)  # not a traceback
        assert api.requests[before:] == [], (value, api.requests[before:])


def test_an_id_is_read_as_the_number_it_is(api) -> None:
    before = len(api.requests)
    done = CliRunner().invoke(app, ["execution", "get", "007", "-o", "json", "--api-url", api.url])
    assert done.exit_code == 0 and json.loads(done.stdout)["id"] == 7, done.output
    assert api.requests[before:] == [("GET", "/api/v1/executions/7")]


def test_what_a_user_typed_stays_one_path_segment() -> None:
    assert route("actions", "../executions/96/cancel?") == "/actions/..%2Fexecutions%2F96%2Fcancel%3F"
    assert route("actions", "1#x") == "/actions/1%23x"
    assert route("actions", "..") == "/actions/%2E%2E" and route("actions", ".") == "/actions/%2E"
    assert route("actions", "a\x01b") == "/actions/a%01b"
    assert route("executions", 7, "cancel") == "/executions/7/cancel"


def test_an_action_ref_that_is_a_path_reaches_no_other_route(api) -> None:
    """`run REF k=v` reads REF's parameter types from /actions/REF before submitting."""
    before = len(api.requests)
    done = CliRunner().invoke(app, ["run", "../executions/96/cancel?", "x=1", "--async", "--api-url", api.url])
    assert ("GET", "/api/v1/actions/..%2Fexecutions%2F96%2Fcancel%3F") in api.requests[before:]
    assert not any("/cancel" in path and method == "POST" for method, path in api.requests[before:])
    assert done.exit_code == 2, done.output  # the stand-in has no such action to run
    done = CliRunner().invoke(app, ["run", "a\x01b", "x=1", "--api-url", api.url])  # was httpx.InvalidURL
    assert done.exit_code == 2 and isinstance(done.exception, SystemExit), (done.exception, done.output)


# ---- 3: a stream that cannot encode every character -------------------------------------------------

@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_json_and_yaml_fall_back_to_escapes_a_stream_can_carry(api, encoding) -> None:
    for command, code, record in (["run", "qa.ok"], 0, 7), (["run", "qa.fail"], 1, 9), (["execution", "get", "7"], 0, 7):
        done = cli(api, *command, "-o", "json", env={"PYTHONIOENCODING": encoding})
        assert done.returncode == code, done.stderr.decode()
        done.stdout.decode(encoding)  # it is all in the stream's encoding
        assert b"\\u2713" in done.stdout and json.loads(done.stdout) == EXECUTIONS[record], done.stdout
        done = cli(api, *command, "-o", "yaml", env={"PYTHONIOENCODING": encoding})
        assert done.returncode == code, done.stderr.decode()
        assert SAID in json.dumps(yaml.safe_load(done.stdout.decode(encoding)), ensure_ascii=False)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_people_s_output_escapes_what_the_stream_cannot_show(api, encoding) -> None:
    for command, code in (["run", "qa.ok"], 0), (["run", "qa.fail"], 1), (["execution", "get", "9"], 1):
        done = cli(api, *command, env={"PYTHONIOENCODING": encoding})
        assert done.returncode == code and b"Traceback" not in done.stderr, done.stderr.decode()
        shown = done.stdout.decode(encoding)
        assert "\\u2713" in shown and ("données" if encoding == "latin-1" else "donn\\xe9es") in shown, shown


# ---- 4, 5: output that cannot be written ----------------------------------------------------------

@pytest.mark.parametrize("command", [["run", "qa.ok"], ["run", "qa.fail"], ["execution", "get", "7", "-o", "json"],
                                    ["execution", "list"], ["run", "qa.ok", "--async"]], ids=" ".join)
def test_a_full_disk_is_one_line_and_exit_2(api, command) -> None:
    """`attune run x >/dev/full` ended in an OSError traceback."""
    with open("/dev/full", "w") as full:
        done = cli(api, *command, stdout=full)
    said = done.stderr.decode()
    assert done.returncode == 2, said
    assert said == "error: cannot write to standard output: No space left on device\n", said


@pytest.mark.parametrize("command", [["run", "qa.ok"], ["run", "qa.fail", "-o", "json"], ["execution", "list"],
                                     ["execution", "get", "9"], ["--help"], ["validate", str(PACKS / "core")]],
                         ids=lambda c: " ".join(c[:2]))
def test_a_reader_that_went_away_ends_the_command_quietly_with_141(api, command) -> None:
    """`attune execution list | head -1` exited 1, which says a run failed; a shell says 141
    for a command SIGPIPE ended. Here the reader is gone before the first line."""
    read, written = os.pipe()
    os.close(read)
    try:
        done = cli(api, *command, stdout=written)
    finally:
        os.close(written)
    assert done.returncode == 141, done.stderr.decode()
    assert done.stderr == b"", done.stderr.decode()


# ---- 6, 7: widths ---------------------------------------------------------------------------------

def test_piped_tables_keep_every_value_whole(api) -> None:
    """`attune execution list | cat` showed `qacli.a_really_long_act…`: grep found nothing."""
    for columns in (None, "0", "40"):
        done = cli(api, "execution", "list", env={"COLUMNS": columns} if columns else None)
        assert done.returncode == 0 and LONG_REF in done.stdout.decode(), (columns, done.stdout.decode())
        assert "page 1/1" in done.stdout.decode()
    done = cli(api, "execution", "get", "7", env={"COLUMNS": "30"})
    assert LONG_REF in done.stdout.decode() and SAID in done.stdout.decode(), done.stdout.decode()


def test_an_unusable_columns_is_not_a_width(monkeypatch) -> None:
    """COLUMNS=0 printed nothing at all, COLUMNS=5 tables of empty cells; a terminal's width
    (or 80) is used instead, and a sensible COLUMNS as before."""
    for columns, width in (("0", 80), ("5", 80), ("19", 80), ("wide", 80), ("20", 20), ("120", 120)):
        monkeypatch.setenv("COLUMNS", columns)
        console = make_console()
        console.file = io.StringIO()
        console.file.isatty = lambda: True  # type: ignore[method-assign]
        assert console.width == width, columns
        print_table(console, [{"id": 7, "status": "completed"}], ["id", "status"])
        console.print("a line")
        assert "completed" in console.file.getvalue() and "a line" in console.file.getvalue(), columns


def in_terminal(api: FakeApi, *args: str, env: dict[str, str]) -> tuple[int, str]:
    main, sub = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "attune.cli", *args], stdin=sub, stdout=sub,
                            stderr=sub, start_new_session=True,
                            env={**os.environ, "TERM": "xterm-256color", "ATTUNE_API_URL": api.url, **env})
    os.close(sub)
    screen = b""
    try:
        while True:
            if not select.select([main], [], [], 30)[0]:
                break
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the CLI exited
                break
            if not chunk:
                break
            screen += chunk
        code = proc.wait(timeout=30)
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", screen.decode(errors="replace"))


@pytest.mark.parametrize("columns", ["0", "5"])
def test_in_a_terminal_an_unusable_columns_draws_at_80(api, columns) -> None:
    code, screen = in_terminal(api, "execution", "list", env={"COLUMNS": columns})
    assert code == 0 and "page 1/1" in screen and "completed" in screen, screen
    widest = max(len(line) for line in screen.splitlines())
    assert 40 < widest <= 80, screen
    code, screen = in_terminal(api, "--help", env={"COLUMNS": columns})
    assert code == 0 and "Usage" in screen and "execution" in screen, screen


# ---- 8: help, pack register, inquiries and Ctrl-C in json mode ---------------------------------------

def test_help_shows_flags_as_typed_and_what_validate_packs_takes() -> None:
    for command in (["run"], ["execution", "list"], ["execution", "rerun"], ["validate"], []):
        shown = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "<bool>" not in shown and "--help" in shown, shown
    shown = CliRunner().invoke(app, ["validate", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--packs" in shown and "packs directory" in shown and "e.g. core.*" not in shown, shown
    shown = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).stdout
    assert "(env ATTUNE_API_URL)" in shown, shown  # Rich read `[env ...]` as markup and dropped it


def test_pack_register_prints_the_bare_record_as_every_other_command(api, tmp_path) -> None:
    for output, load in (("json", json.loads), ("yaml", yaml.safe_load)):
        done = CliRunner().invoke(app, ["pack", "register", str(tmp_path), "-o", output, "--api-url", api.url])
        assert done.exit_code == 0 and load(done.stdout)["ref"] == "qa", done.output


@pytest.mark.parametrize("submit", [["run", "qa.wait"], ["execution", "rerun", "8"]])
@pytest.mark.parametrize("output", ["json", "yaml", "table"])
def test_a_run_waiting_for_a_person_says_so_and_ctrl_c_says_how_to_follow_it(api, output, submit) -> None:
    """In -o json a run waiting on an inquiry said nothing; Ctrl-C exited 130 without naming it.
    A re-run is followed the same way (it returned at once)."""
    proc = subprocess.Popen([sys.executable, "-m", "attune.cli", *submit, "-o", output,
                             "--api-url", api.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    said, deadline = b"", time.monotonic() + 30
    hint = b"waiting for inquiry 3 \xe2\x80\x9cDeploy?\xe2\x80\x9d: attune inquiry respond 3 approved="
    try:
        stream = proc.stderr if output != "table" else proc.stdout
        assert stream is not None
        while hint not in said and time.monotonic() < deadline:
            if select.select([stream], [], [], 1)[0]:
                said += os.read(stream.fileno(), 65536)
        assert hint in said, said
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    if output != "table":
        assert out == b"", out  # stdout holds the record alone, and there is none
    assert b"execution 8 goes on without this command: `attune execution tail 8` follows it again, " \
           b"`attune execution cancel 8` stops it" in err, err
    assert b"Traceback" not in err, err


@pytest.mark.parametrize("output", ["json", "yaml", "table"])
def test_a_rerun_waits_and_exits_as_run_does(api, output) -> None:
    """`execution rerun` returned as soon as the re-run was submitted (exit 0 for one that then
    failed): it follows the new execution as `run` does, with the same output and exit code,
    and `--async` returns its id at once as `run --async` does."""
    for ref, execution_id, code in (("qa.ok", 7, 0), ("qa.fail", 9, 1)):
        ran = cli(api, "run", ref, "-o", output)
        rerun = cli(api, "execution", "rerun", str(execution_id), "-o", output)
        assert ran.returncode == rerun.returncode == code, rerun.stderr
        heading = f"re-run of {execution_id} is execution {execution_id}\n".encode() if output == "table" else b""
        assert rerun.stdout == heading + ran.stdout, rerun.stdout
        assert b"Traceback" not in rerun.stderr
    api.requests.clear()
    submitted = cli(api, "execution", "rerun", "8", "--async")
    assert submitted.returncode == 0 and submitted.stdout == cli(api, "run", "qa.wait", "--async").stdout == b"8\n"
    assert not [r for r in api.requests if r[0] == "GET"], api.requests  # not waited for
