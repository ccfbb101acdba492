"""Action processes (spec §7) with real subprocesses. Python cases run both warm (forked from the
warm starter) and spawned, and every test runs with processes started ahead of need (the pool,
issue 13) and without, since all of these must be indistinguishable to an action."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from attune.runtimes import (
    OUTPUT_CAP_BYTES,
    EnvironmentBuildError,
    ProcessRequest,
    ProcessResult,
    prepare_environment,
    process,
    run_process,
    warm,
)
from attune.runtimes.environments import READY_MARKER, system_python
from attune.runtimes.process import NotOnThisWorker, ProcessLost

WARM = [pytest.param(True, id="warm"), pytest.param(False, id="spawn")]


@pytest.fixture(params=[pytest.param("2", id="pooled"), pytest.param("0", id="plain")], autouse=True)
def process_pool(request, monkeypatch) -> bool:
    """ATTUNE_PROCESS_POOL for this test: 2 processes started ahead per environment, or none."""
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", request.param)
    return request.param != "0"


@pytest.fixture(scope="module", autouse=True)
def _env_dir(tmp_path_factory):
    # Environments built by these tests live in a temp dir, never in ~/.cache; starters end with us.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTUNE_ENV_DIR", str(tmp_path_factory.mktemp("envs")))
        yield
    warm.shutdown()


def make_pack(root: Path, files: dict[str, str], name: str = "demo") -> Path:
    pack = root / name
    (pack / "actions").mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = pack / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return pack


def action_writable(path: Path) -> Path:
    """A directory the action may write into: when the suite runs as root, actions run as the
    unprivileged action user (attune.runtimes.isolation)."""
    path.mkdir(exist_ok=True)
    path.chmod(0o777)
    return path


def request(pack: Path, entry: str, runner: str = "python", **kw) -> ProcessRequest:
    return ProcessRequest(execution_id="exec-1", action_ref=f"{pack.name}.act", pack_ref=pack.name,
                          pack_dir=str(pack), runner=runner, entry_point=entry, **kw)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie nobody reaped yet (container init) is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


ECHO_PY = """
    import json, os, sys
    names = ["ATTUNE_EXEC_ID", "ATTUNE_ACTION", "ATTUNE_PACK_REF", "ATTUNE_API_URL",
             "ATTUNE_PARAMETER_DELIVERY", "ATTUNE_PARAMETER_FORMAT"]
    print(json.dumps({"params": json.load(sys.stdin), "env": {n: os.environ.get(n) for n in names},
                      "cwd": os.getcwd(), "argv": sys.argv, "name": __name__, "pid": os.getpid(),
                      "pgid": os.getpgid(0), "sid": os.getsid(0), "path0": sys.path[0]}))
"""


@pytest.mark.parametrize("warm_start", WARM)
async def test_python_success_env_and_process_identity(tmp_path, warm_start):
    pack = make_pack(tmp_path, {"actions/echo.py": ECHO_PY})
    res = await run_process(request(pack, "echo.py", parameters={"x": 1, "s": "hé"}, output_format="json",
                                    warm=warm_start, api_url="http://api:1"))
    assert res.succeeded and res.exit_code == 0 and res.error is None
    assert res.stdout is None  # parsed into data
    d = res.data
    assert d["params"] == {"x": 1, "s": "hé"}
    # no execution id was claimed: empty, never the attempt key (no route takes that as an id)
    assert d["env"] == {"ATTUNE_EXEC_ID": "", "ATTUNE_ACTION": "demo.act", "ATTUNE_PACK_REF": "demo",
                        "ATTUNE_API_URL": "http://api:1", "ATTUNE_PARAMETER_DELIVERY": "stdin",
                        "ATTUNE_PARAMETER_FORMAT": "json"}
    assert d["cwd"] == str(pack) and d["name"] == "__main__"
    assert d["argv"] == [str(pack / "actions" / "echo.py")] and d["path0"] == str(pack / "actions")
    assert d["pid"] == d["pgid"] == d["sid"] != os.getpid()  # own session and process group


# Scripts whose whole observable behaviour (exit code, stdout, stderr) must match between modes.
PARITY = {
    "exit3": "import sys\nprint('out')\nsys.exit(3)\n",
    "exit_msg": "import sys\nsys.exit('bye now')\n",
    "raise": "def f():\n    raise ValueError('boom')\nf()\n",
    "syntax": "def (:\n",
    "interrupt": "raise KeyboardInterrupt\n",
    "shutdown_order": textwrap.dedent("""
        import atexit, os, sys, threading, time
        atexit.register(lambda: print('atexit ran'))
        threading.Thread(target=lambda: (time.sleep(0.1), print('thread done'))).start()
        print('main done')
    """),
    "unbuffered": "import os, sys\nprint('a')\nsys.stderr.write('b\\n')\nos._exit(4)\n",
    "stdin": "print(input().upper())\ntry:\n    input()\nexcept EOFError:\n    print('eof')\n",
    "main_module": "import __main__, sys\nprint(__main__.__file__ == __file__, 'json' in dir(), sys.argv[1:])\n",
}


@pytest.mark.parametrize("case", sorted(PARITY))
async def test_warm_and_spawn_are_indistinguishable(tmp_path, case):
    pack = make_pack(tmp_path, {"actions/p.py": PARITY[case]})
    spawned = await run_process(request(pack, "p.py", warm=False, parameters={"k": "v"}))
    warmed = await run_process(request(pack, "p.py", warm=True, parameters={"k": "v"}))
    assert (warmed.exit_code, warmed.stdout, warmed.stderr, warmed.error) == \
           (spawned.exit_code, spawned.stdout, spawned.stderr, spawned.error)
    assert "_starter" not in warmed.stderr and "runpy" not in warmed.stderr


async def test_parity_cases_have_the_expected_outcome(tmp_path):
    # Guards the parity test against both modes being wrong in the same way.
    pack = make_pack(tmp_path, {f"actions/{k}.py": v for k, v in PARITY.items()})
    res = {k: await run_process(request(pack, f"{k}.py", warm=False, parameters={"k": "v"})) for k in PARITY}
    assert (res["exit3"].exit_code, res["exit3"].error) == (3, "Command exited with code 3")
    assert (res["exit_msg"].exit_code, res["exit_msg"].error) == (1, "bye now")
    assert res["raise"].error == "ValueError: boom" and res["raise"].stderr.startswith("Traceback")
    assert res["syntax"].exit_code == 1 and "SyntaxError" in res["syntax"].error
    assert res["interrupt"].exit_code == -2
    assert res["shutdown_order"].stdout == "main done\nthread done\natexit ran\n"
    assert (res["unbuffered"].exit_code, res["unbuffered"].stdout, res["unbuffered"].stderr) == (4, "a\n", "b\n")
    assert res["stdin"].stdout == '{"K":"V"}\neof\n'
    assert res["main_module"].stdout == "True False []\n"


async def test_warm_children_start_with_fresh_module_state(tmp_path):
    pack = make_pack(tmp_path, {
        "actions/helper.py": "count = 0\n",
        "actions/m.py": """
            import json, helper, random
            helper.count += 1
            dirty = hasattr(json, "_touched")
            json._touched = True
            print(helper.count, dirty, random.random())
        """,
    })
    outs = [(await run_process(request(pack, "m.py", warm=True))).stdout.split() for _ in range(3)]
    assert [o[:2] for o in outs] == [["1", "False"]] * 3
    assert len({o[2] for o in outs}) == 3  # random is reseeded per child


async def test_concurrent_warm_runs(tmp_path):
    pack = make_pack(tmp_path, {"actions/c.py": "import json, os, sys, time\ntime.sleep(0.2)\n"
                                                "print(json.load(sys.stdin)['i'], os.getpid())\n"})
    results = await asyncio.gather(*(run_process(request(pack, "c.py", parameters={"i": i})) for i in range(12)))
    outs = [r.stdout.split() for r in results]
    assert [int(o[0]) for o in outs] == list(range(12)) and len({o[1] for o in outs}) == 12


async def test_dead_warm_starter_is_replaced(tmp_path):
    warm.shutdown()  # starters other tests left (e.g. a pack virtualenv's) are not this test's
    pack = make_pack(tmp_path, {"actions/ok.py": "print('ok')\n"})
    assert (await run_process(request(pack, "ok.py"))).stdout == "ok\n"
    used = [key for key in warm._starters if key[0] == system_python()]
    assert used
    for starter in warm._starters.values():
        starter.proc.kill()
        starter.proc.wait()
    res = await run_process(request(pack, "ok.py"))
    assert res.succeeded and res.stdout == "ok\n"
    assert all(warm._starters[key].alive() for key in used)


@pytest.mark.parametrize("runner, entry", [("shell", "g.sh"), ("python", "g.py")])
async def test_a_starter_killed_outright_takes_the_groups_of_its_running_actions(tmp_path, runner, entry):
    """A shell action has no parent-death signal (spawned from C, `_starter._spawn`), and what
    an action leaves in the background never had one: the worker ends their groups."""
    pidfile = action_writable(tmp_path / "out") / "pids"
    pack = make_pack(tmp_path, {
        "actions/g.sh": f'sleep 300 &\necho "$$ $!" > {pidfile}\nsleep 300\n',
        "actions/g.py": f"import os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
                        f"open({str(pidfile)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\ntime.sleep(300)\n"})
    task = asyncio.create_task(run_process(request(pack, entry, runner, timeout_seconds=60)))
    while not (pidfile.exists() and len(pidfile.read_text().split()) == 2):
        await asyncio.sleep(0.02)
    main, child = (int(p) for p in pidfile.read_text().split())
    for starter in warm._starters.values():
        starter.proc.kill()
    with pytest.raises(ProcessLost) as lost:  # the activity hands the task back to be run again
        await asyncio.wait_for(task, 10)
    res = lost.value.result
    assert res.exit_code is None and not res.succeeded
    assert res.error == "the process launcher died before reporting how the action ended"
    assert [await wait_dead(main), await wait_dead(child)] == [True, True]


PARAMS = {"name": "it's \"q\" $HOME `x`", "count": 3, "flag": True, "nested": {"a": [1, 2]}, "none": None}

RAW_PY = """
    import json, os, sys
    file = os.environ.get("ATTUNE_PARAMETER_FILE")
    raw = open(file).read() if file else sys.stdin.read()
    print(json.dumps({"raw": raw, "stdin_rest": sys.stdin.read(), "file": file,
                      "mode": oct(os.stat(file).st_mode & 0o777) if file else None,
                      "fmt": os.environ["ATTUNE_PARAMETER_FORMAT"],
                      "delivery": os.environ["ATTUNE_PARAMETER_DELIVERY"]}))
"""


@pytest.mark.parametrize("warm_start", WARM)
@pytest.mark.parametrize("delivery", ["stdin", "file"])
@pytest.mark.parametrize("fmt", ["json", "yaml", "dotenv"])
async def test_parameter_formats_and_delivery(tmp_path, fmt, delivery, warm_start):
    pack = make_pack(tmp_path, {"actions/raw.py": RAW_PY})
    res = await run_process(request(pack, "raw.py", parameters=PARAMS, parameter_format=fmt,
                                    parameter_delivery=delivery, output_format="json", warm=warm_start))
    assert res.succeeded, res.error
    d = res.data
    assert (d["fmt"], d["delivery"]) == (fmt, delivery)
    if fmt == "json":
        assert json.loads(d["raw"]) == PARAMS and d["raw"].count("\n") == 1
    elif fmt == "yaml":
        assert yaml.safe_load(d["raw"]) == PARAMS
    else:
        # Sorted, an object's members on lines of their own (the Attune original's form).
        assert d["raw"].splitlines() == ["count='3'", "flag='true'", """name='it'\\''s "q" $HOME `x`'""",
                                         "nested.a='[1,2]'", "none=''"]
    if delivery == "file":
        assert d["stdin_rest"] == "" and d["mode"] == "0o600"
        assert not os.path.exists(d["file"])  # removed after the run
    else:
        assert d["file"] is None


@pytest.mark.parametrize("delivery", ["stdin", "file"])
async def test_dotenv_is_safe_to_source_in_bash(tmp_path, delivery):
    pack = make_pack(tmp_path, {"actions/env.sh": """
        if [ -n "$ATTUNE_PARAMETER_FILE" ]; then source "$ATTUNE_PARAMETER_FILE"; else source /dev/stdin; fi
        printf '%s\\n' "$name" "$count" "$flag" "$list" "[$none]"
    """})
    flat = {**{k: v for k, v in PARAMS.items() if k != "nested"}, "list": [1, "a'b"]}
    res = await run_process(request(pack, "env.sh", "shell", parameters=flat, parameter_format="dotenv",
                                    parameter_delivery=delivery))
    assert res.succeeded, res.stderr
    assert res.stdout.splitlines() == [PARAMS["name"], "3", "true", '[1,"a\'b"]', "[]"]


async def test_dotenv_objects_arrive_as_dotted_lines_like_attune(tmp_path):
    """Attune's core.http_request.sh reads `headers.<name>='value'` lines: an object parameter
    is flattened to one line per member, at any depth, and an empty one writes nothing."""
    pack = make_pack(tmp_path, {"actions/hdr.sh": """
        while IFS= read -r line; do
          case "$line" in
            headers.*=*) key="${line%%=*}"; echo "header ${key#headers.}" ;;
            *=*) echo "param ${line%%=*}" ;;
          esac
        done
    """})
    params = {"url": "https://example.com", "headers": {"X-Token": "abc", "Accept": "json"},
              "query": {}, "deep": {"a": {"b": 1}}}
    res = await run_process(request(pack, "hdr.sh", "shell", parameters=params, parameter_format="dotenv"))
    assert res.succeeded, res.stderr
    assert res.stdout.splitlines() == ["param deep.a.b", "header Accept", "header X-Token", "param url"]


@pytest.mark.parametrize("warm_start", WARM)
@pytest.mark.parametrize("fmt, stdout, expected, kept", [
    ("json", '{"a": [1, 2]}', {"a": [1, 2]}, None),
    ("json", 'log line\n\n{"a": 1}\n\n', {"a": 1}, "log line\n\n"),  # last line; the log kept
    ("yaml", "a: 1\nb: [x, y]\n", {"a": 1, "b": ["x", "y"]}, None),
    ("jsonl", '{"n": 1}\n\n[2]\n"three"\n', [{"n": 1}, [2], "three"], None),
])
async def test_output_formats(tmp_path, fmt, stdout, expected, kept, warm_start):
    pack = make_pack(tmp_path, {"actions/out.py": f"import sys\nsys.stdout.write({stdout!r})\n"})
    res = await run_process(request(pack, "out.py", output_format=fmt, warm=warm_start))
    assert res.succeeded and res.data == expected and res.stdout == kept


async def test_text_output_kept_and_exit_0_succeeds_even_when_its_output_does_not_parse(tmp_path):
    """Spec §7: exit 0 = success. Output that does not parse per output_format stays stdout, as
    Attune keeps it (an Attune pack whose json action sometimes prints a plain line, or nothing,
    ran there and failed here); `parse_error` says why there is no `data`."""
    pack = make_pack(tmp_path, {"actions/t.sh": "echo 'not json {'\n", "actions/bad.sh": "echo '{\"a\": 1}'; exit 2\n",
                                "actions/quiet.sh": "true\n"})
    text = await run_process(request(pack, "t.sh", "shell"))
    assert text.succeeded and text.stdout == "not json {\n" and text.data is None
    bad = await run_process(request(pack, "t.sh", "shell", output_format="json"))
    assert bad.succeeded and bad.exit_code == 0 and bad.stdout == "not json {\n" and bad.data is None
    assert bad.error is None and bad.parse_error.startswith("could not parse stdout as json: ")
    assert bad.as_task_result()["parse_error"] == bad.parse_error
    jsonl = await run_process(request(pack, "t.sh", "shell", output_format="jsonl"))
    assert jsonl.succeeded and jsonl.parse_error.startswith("could not parse stdout as jsonl: line 1")
    quiet = await run_process(request(pack, "quiet.sh", "shell", output_format="json"))
    assert (quiet.succeeded, quiet.data, quiet.stdout, quiet.parse_error) == (True, None, "", None)
    failed = await run_process(request(pack, "bad.sh", "shell", output_format="json"))  # exit != 0: not parsed
    assert (failed.succeeded, failed.data, failed.stdout, failed.error) == \
           (False, None, '{"a": 1}\n', "Command exited with code 2")


async def test_output_is_capped_per_stream_and_fully_drained(tmp_path):
    pack = make_pack(tmp_path, {
        "actions/big.sh": "head -c 3000000 /dev/zero | tr '\\0' o; head -c 300000 /dev/zero | tr '\\0' e >&2\n",
        "actions/small.sh": "echo hi; echo warn >&2\n",
    })
    big = await run_process(request(pack, "big.sh", "shell", timeout_seconds=20))
    assert big.succeeded and big.stdout_truncated and big.stderr_truncated
    assert big.stdout == "o" * OUTPUT_CAP_BYTES and big.stderr == "e" * OUTPUT_CAP_BYTES
    small = await run_process(request(pack, "small.sh", "shell"))
    assert (small.stdout, small.stderr) == ("hi\n", "warn\n")
    assert not small.stdout_truncated and not small.stderr_truncated
    assert "stdout_truncated" in big.as_task_result() and "stdout_truncated" not in small.as_task_result()
    # How much was written, not only that some was cut: the surfaces say "256 KiB of 2.9 MB".
    assert (big.stdout_bytes, big.stderr_bytes) == (3_000_000, 300_000)
    assert big.as_task_result()["stdout_bytes"] == 3_000_000
    assert small.stdout_bytes is None and "stdout_bytes" not in small.as_task_result()


async def test_shell_failure_uses_last_stderr_line(tmp_path):
    pack = make_pack(tmp_path, {"actions/f.sh": "echo first >&2; echo 'the reason' >&2; echo; exit 7\n"})
    res = await run_process(request(pack, "f.sh", "shell"))
    assert (res.succeeded, res.exit_code, res.error) == (False, 7, "the reason")


def ignored(mask: str) -> set[str]:
    """The names of the signals a /proc/<pid>/status SigIgn mask ignores."""
    return {signal.Signals(n).name for n in range(1, 65) if int(mask, 16) >> (n - 1) & 1
            and n in signal.Signals._value2member_map_}


async def test_programs_start_with_default_signal_handling_as_from_a_shell(tmp_path):
    """The starter is a Python process, which ignores SIGPIPE and SIGXFSZ; a program it execs
    must not inherit that (`yes | head -1` would print "Broken pipe" and a writer that does not
    check for errors would never stop). Node.js and Python set their own at start, as always."""
    pack = make_pack(tmp_path, {"actions/pipe.sh": "yes | head -1\ngrep SigIgn /proc/self/status\n"})
    shell = await run_process(request(pack, "pipe.sh", "shell"))
    assert shell.succeeded and shell.stderr == "", shell.stderr
    first, mask = shell.stdout.splitlines()
    assert first == "y" and not ignored(mask.split()[1]) & {"SIGPIPE", "SIGXFSZ"}


GROUP_JS = """
    const child = require("child_process").spawn("sleep", ["300"], {stdio: "ignore"});
    console.log(child.pid);
    setTimeout(() => {}, 300000);
"""
GROUP_PY = """
    import subprocess, sys, time
    child = subprocess.Popen(["sleep", "300"])
    print(child.pid, flush=True)
    time.sleep(300)
"""


@pytest.mark.parametrize("runner, entry, warm_start", [
    ("shell", "g.sh", True), ("python", "g.py", True), ("python", "g.py", False), ("nodejs", "g.js", True)])
async def test_timeout_kills_the_whole_process_group(tmp_path, runner, entry, warm_start):
    pack = make_pack(tmp_path, {"actions/g.sh": "sleep 300 &\necho $!\nwait\n", "actions/g.py": GROUP_PY,
                                "actions/g.js": GROUP_JS})
    started = time.monotonic()
    res = await run_process(request(pack, entry, runner, timeout_seconds=0.7, warm=warm_start))
    assert time.monotonic() - started < 4
    assert res.timed_out and not res.succeeded and res.exit_code == -15
    assert res.error == "Timed out after 0.7 s" and res.as_task_result()["timed_out"] is True
    assert await wait_dead(int(res.stdout.split()[0]))  # the script's child died with it


async def test_timeout_escalates_to_sigkill_after_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(process, "KILL_GRACE_SECONDS", 0.3)
    pack = make_pack(tmp_path, {"actions/stubborn.sh": "trap '' TERM\nsleep 300 &\necho $!\nwait\nwait\n"})
    started = time.monotonic()
    res = await run_process(request(pack, "stubborn.sh", "shell", timeout_seconds=0.3))
    assert res.timed_out and res.exit_code == -9 and time.monotonic() - started < 3
    assert await wait_dead(int(res.stdout.split()[0]))


@pytest.mark.parametrize("runner, entry, warm_start", [
    ("shell", "c.sh", True), ("python", "c.py", True), ("python", "c.py", False), ("nodejs", "c.js", True)])
async def test_cancellation_kills_the_process_group_and_reraises(tmp_path, runner, entry, warm_start):
    pidfile = action_writable(tmp_path / "out") / "pids"
    pack = make_pack(tmp_path, {
        "actions/c.sh": f"sleep 300 &\necho $$ $! > {pidfile}\nwait\n",
        "actions/c.py": f"""
            import os, subprocess, time
            child = subprocess.Popen(["sleep", "300"])
            open({str(pidfile)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
            time.sleep(300)
        """,
        "actions/c.js": f"""
            const child = require("child_process").spawn("sleep", ["300"], {{stdio: "ignore"}});
            require("fs").writeFileSync({json.dumps(str(pidfile))}, `${{process.pid}} ${{child.pid}}`);
            setTimeout(() => {{}}, 300000);
        """,
    })
    task = asyncio.create_task(run_process(request(pack, entry, runner, warm=warm_start)))
    for _ in range(300):
        if pidfile.exists() and len(pidfile.read_text().split()) == 2:
            break
        await asyncio.sleep(0.01)
    pids = [int(p) for p in pidfile.read_text().split()]
    assert all(alive(p) for p in pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [await wait_dead(p) for p in pids] == [True, True]


@pytest.mark.parametrize("entry, message", [
    ("../outside.py", "without '..'"), ("/etc/passwd", "without '..'"), ("sub/../../outside.py", "without '..'"),
    ("link.py", "resolves outside"), ("", "invalid entry_point"),
])
async def test_entry_point_must_stay_inside_actions(tmp_path, entry, message):
    pack = make_pack(tmp_path, {"outside.py": "print('escaped')\n"})
    (pack / "actions" / "link.py").symlink_to(pack / "outside.py")
    res = await run_process(request(pack, entry))
    assert not res.succeeded and res.exit_code is None and message in res.error and res.stdout is None


async def test_files_this_worker_lacks_are_its_own_problem_not_the_tasks(tmp_path):
    """Registered, so they existed: a worker without them (another host, an older copy) says
    so by raising, and the activity hands the task to another worker."""
    pack = make_pack(tmp_path, {})
    with pytest.raises(NotOnThisWorker, match="entry point not found: .*missing.py"):
        await run_process(request(pack, "missing.py"))
    with pytest.raises(NotOnThisWorker, match="pack directory not found"):
        await run_process(request(tmp_path / "gone", "a.py"))


async def test_nodejs_action(tmp_path):
    pack = make_pack(tmp_path, {"actions/n.js": """
        let input = "";
        process.stdin.on("data", (c) => (input += c));
        process.stdin.on("end", () => {
          const p = JSON.parse(input);
          console.log(JSON.stringify({sum: p.a + p.b, exec: process.env.ATTUNE_EXEC_ID, cwd: process.cwd(),
                                      nodePath: process.env.NODE_PATH || null}));
        });
    """})
    res = await run_process(request(pack, "n.js", "nodejs", parameters={"a": 2, "b": 3}, output_format="json"))
    assert res.succeeded, res.stderr
    assert res.data == {"sum": 5, "exec": "", "cwd": str(pack), "nodePath": os.environ.get("NODE_PATH")}
    with pytest.raises(NotOnThisWorker, match="entry point not found"):  # handed to another worker
        await run_process(request(pack, "missing-dir/n.js", "nodejs"))


async def test_shell_action_runs_in_the_pack_directory(tmp_path):
    """§7 working directory: the pack directory (shell; python and nodejs are checked above)."""
    pack = make_pack(tmp_path, {"actions/sub/where.sh": "pwd\n"})
    res = await run_process(request(pack, "sub/where.sh", "shell"))
    assert res.succeeded and res.stdout == f"{pack}\n", res.stderr


async def test_node_modules_prepared_once_and_on_node_path(tmp_path):
    pack = make_pack(tmp_path, {"package.json": '{"name": "demo", "version": "1.0.0"}\n',
                                "actions/np.js": "console.log(process.env.NODE_PATH)\n"})
    first, second = await asyncio.gather(prepare_environment(str(pack), "nodejs"),
                                         prepare_environment(str(pack), "nodejs"))
    assert sorted([first.built, second.built]) == [False, True]  # concurrent callers: one build
    marker = pack / "node_modules" / READY_MARKER
    mtime = marker.stat().st_mtime_ns
    again = await prepare_environment(str(pack), "nodejs")
    assert not again.built and marker.stat().st_mtime_ns == mtime
    assert not (pack / "package-lock.json").exists()
    res = await run_process(request(pack, "np.js", "nodejs"))
    assert res.stdout.strip().split(os.pathsep)[0] == str(pack / "node_modules")


async def test_a_pack_the_worker_cannot_write_gets_node_modules_of_its_own_or_its_own_used(tmp_path, monkeypatch):
    """docker-compose mounts packs read-only for the workers: `npm install` in the pack failed
    (ENOENT/EROFS) for every Node.js pack with a package.json. (The read-only mount is told by
    os.access here; the real mount was checked by hand with `mount -o remount,ro,bind`.)"""
    from attune.runtimes import environments

    pack = make_pack(tmp_path, {"package.json": '{"name": "ro", "version": "1.0.0"}\n',
                                "actions/np.js": "console.log(process.env.NODE_PATH)\n"}, name="ro")
    monkeypatch.setenv("ATTUNE_ENV_DIR", str(tmp_path / "envs"))
    real_access = os.access
    monkeypatch.setattr(environments.os, "access",
                        lambda path, mode: False if Path(path) == pack and mode == os.W_OK else real_access(path, mode))
    built = await prepare_environment(str(pack), "nodejs")
    assert built.built and built.extra_env["NODE_PATH"].startswith(str(tmp_path / "envs" / "node-"))
    assert not (pack / "node_modules").exists()  # nothing written into the pack
    assert not (await prepare_environment(str(pack), "nodejs")).built
    (pack / "node_modules").mkdir()  # installed where the pack was written: used as it is
    assert (await prepare_environment(str(pack), "nodejs")).extra_env["NODE_PATH"] == str(pack / "node_modules")


async def test_a_packs_install_scripts_run_as_an_action_does(tmp_path, action_tmp, monkeypatch):
    """npm's lifecycle scripts (and a local package's setup.py) are the pack author's code: they
    ran as the worker (root), with its whole environment, the secret key file in reach. They
    now run as the action user, with an action's environment; what they built is the worker's,
    and no action can change it."""
    from attune.runtimes.isolation import action_user

    monkeypatch.setenv("ATTUNE_API_TOKEN", "operator-token-not-for-packs")
    spy = f"(id -u; env; cat {tmp_path}/secret.key) > {action_tmp}/seen.txt 2>&1; true"
    (tmp_path / "secret.key").write_text("the-fernet-key\n")
    (tmp_path / "secret.key").chmod(0o600)  # as attune.secrets writes it
    pack = make_pack(tmp_path, {"package.json": json.dumps({"name": "spy", "version": "1.0.0",
                                                            "scripts": {"preinstall": spy}}) + "\n",
                                "actions/x.js": "console.log(1)\n"}, name="spy")
    built = await prepare_environment(str(pack), "nodejs")
    assert built.built
    seen = (action_tmp / "seen.txt").read_text()
    run_as = action_user()
    assert seen.splitlines()[0] == str(run_as.uid if run_as else os.getuid())
    assert "operator-token-not-for-packs" not in seen and "ATTUNE_" not in seen
    if run_as is not None:  # the suite runs as root: the key file is out of reach
        assert "the-fernet-key" not in seen
        modules = pack / "node_modules"
        assert modules.stat().st_uid == os.getuid() and not modules.stat().st_mode & 0o022


async def test_broken_package_json_fails_with_npm_stderr(tmp_path):
    pack = make_pack(tmp_path, {"package.json": "{ not json", "actions/x.js": "console.log(1)\n"}, name="broken")
    with pytest.raises(EnvironmentBuildError, match=r"(?s)pack broken: npm install failed.*JSON"):
        await prepare_environment(str(pack), "nodejs")
    res = await run_process(request(pack, "x.js", "nodejs"))
    assert not res.succeeded and res.error.startswith("pack broken: npm install failed")


async def test_python_venv_prepared_once_and_used_both_ways(tmp_path, process_pool):
    # Requirements of their own (the comment): the pooled and the plain run build one venv each.
    pack = make_pack(tmp_path, {"requirements.txt": f"# nothing to install (pooled: {process_pool})\n",
                                "actions/v.py": "import os, sys\nprint(sys.prefix, os.environ['VIRTUAL_ENV'])\n"})
    first, second = await asyncio.gather(prepare_environment(str(pack), "python"),
                                         prepare_environment(str(pack), "python"))
    assert sorted([first.built, second.built]) == [False, True]
    venv = Path(first.env_dir)
    assert venv.parent == Path(os.environ["ATTUNE_ENV_DIR"]) and not (pack / ".attune-env").exists()
    mtime = (venv / READY_MARKER).stat().st_mtime_ns
    again = await prepare_environment(str(pack), "python")
    assert not again.built and (venv / READY_MARKER).stat().st_mtime_ns == mtime
    for warm_start in (True, False):
        res = await run_process(request(pack, "v.py", warm=warm_start))
        assert res.succeeded, res.stderr
        assert res.stdout.split() == [str(venv), str(venv)]


async def test_heartbeat_is_called_while_running(tmp_path):
    pack = make_pack(tmp_path, {"actions/s.sh": "sleep 0.5\n"})
    beats = []
    res = await run_process(request(pack, "s.sh", "shell"), heartbeat=lambda: beats.append(1),
                            heartbeat_interval=0.05)
    assert res.succeeded and len(beats) >= 4
    count = len(beats)
    await asyncio.sleep(0.2)
    assert len(beats) == count  # stopped with the process


def test_as_task_result_shape():
    ok = ProcessResult(succeeded=True, exit_code=0, duration_ms=5, data={"a": 1}, stderr="")
    assert ok.as_task_result() == {"succeeded": True, "exit_code": 0, "duration_ms": 5, "stderr": "", "data": {"a": 1}}
    bad = ProcessResult(succeeded=False, exit_code=-15, duration_ms=9, stdout="x", error="Timed out after 1 s",
                        timed_out=True, stderr_truncated=True)
    assert bad.as_task_result() == {"succeeded": False, "exit_code": -15, "duration_ms": 9, "stdout": "x",
                                    "error": "Timed out after 1 s", "stderr_truncated": True, "timed_out": True}


def test_secret_parameters_are_redacted_for_logs():
    req = ProcessRequest(execution_id="e", action_ref="p.a", pack_ref="p", pack_dir="/x", runner="shell",
                         entry_point="a.sh", parameters={"user": "bob", "token": "s3cr3t"}, secret_names=["token"])
    assert req.redacted_parameters() == {"user": "bob", "token": "********"}
    assert "s3cr3t" not in repr(req.redacted_parameters())


async def test_secrets_never_reach_the_log(tmp_path, caplog):
    pack = make_pack(tmp_path, {"actions/s.sh": "cat >/dev/null\n"})
    caplog.set_level("DEBUG", logger="attune.runtimes")
    res = await run_process(request(pack, "s.sh", "shell", parameters={"token": "s3cr3t-value"},
                                    secret_names=["token"]))
    assert res.succeeded and caplog.records  # something was logged ...
    assert "s3cr3t-value" not in caplog.text  # ... but not the secret


# ---- the stack's own processes stop when `attune up` is gone, also without a death signal -------

_WATCHER = """
import signal, sys, time
from attune.runtimes.lifecycle import watch_parent
signal.signal(signal.SIGTERM, lambda *_: (print("stopped by parent watch", flush=True), sys.exit(0)))
if sys.argv[1] == "watch":
    assert watch_parent(interval=0.05) is not None
time.sleep(60)
"""


@pytest.mark.parametrize("watch", [True, False])
def test_a_stack_process_whose_parent_is_killed_stops_on_its_own(tmp_path, watch):
    """No PR_SET_PDEATHSIG here (as on macOS): the parent is SIGKILLed, the child is re-parented
    and its watch sends it SIGTERM through its own handler. Without the watch it would stay."""
    script, log = tmp_path / "w.py", tmp_path / "w.log"
    script.write_text(_WATCHER)
    mode = "watch" if watch else "plain"
    parent = subprocess.Popen(
        ["bash", "-c", f'export ATTUNE_PARENT_PID=$$; "{sys.executable}" "{script}" {mode} > "{log}" 2>&1 & '
                       'echo $!; wait'],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    child = int(parent.stdout.readline())
    try:
        time.sleep(1.0)  # the child has imported and started watching
        parent.kill()
        parent.wait(timeout=5)
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alive(child) is not watch
        if watch:
            assert "stopped by parent watch" in log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_no_parent_watch_outside_the_stack(monkeypatch):
    monkeypatch.delenv("ATTUNE_PARENT_PID", raising=False)
    from attune.runtimes.lifecycle import watch_parent
    assert watch_parent() is None


async def test_a_pack_without_a_directory_says_how_to_give_it_one(tmp_path):
    """A pack created through the API has no files: its script action failed with 'pack
    directory not found: ' (an empty path)."""
    res = await run_process(request(tmp_path, "x.sh", "shell").model_copy(update={"pack_dir": ""}))
    assert not res.succeeded
    assert res.error == (f"pack '{tmp_path.name}' has no directory (it was created through the API): "
                         "register the pack's directory (POST /packs/register, `attune pack register`) "
                         "to run its script actions")


@pytest.mark.parametrize("warm_start", WARM)
async def test_stderr_over_its_cap_keeps_its_end_where_the_reason_is(tmp_path, warm_start):
    """stdout keeps its first 256 KiB, stderr its last: a failure's reason is its last line, and
    40,000 lines of noise before it made the error 'noise line' and lost the reason."""
    pack = make_pack(tmp_path, {"actions/noisy.py": (
        "import sys\nfor i in range(40000):\n    print(f'noise line {i}', file=sys.stderr)\n"
        "print('REAL ERROR: disk full', file=sys.stderr)\nsys.exit(1)\n")})
    res = await run_process(request(pack, "noisy.py", warm=warm_start, timeout_seconds=30))
    assert not res.succeeded and res.stderr_truncated
    assert res.error == "REAL ERROR: disk full"
    assert res.stderr.endswith("noise line 39999\nREAL ERROR: disk full\n")
    assert len(res.stderr.encode()) <= OUTPUT_CAP_BYTES


@pytest.mark.parametrize("warm_start", WARM)
async def test_a_cancelled_process_keeps_what_it_printed_and_its_exit(tmp_path, warm_start):
    """A cancel dropped everything: its stdout, its TERM handler's cleanup, its exit code."""
    from attune.runtimes.process import ProcessCancelled

    pack = make_pack(tmp_path, {"actions/trap.py": (
        "import signal, sys, time\nprint('started', flush=True)\n"
        "def stop(*_):\n    print('cleanup done', flush=True)\n    sys.exit(5)\n"
        "signal.signal(signal.SIGTERM, stop)\ntime.sleep(30)\n")})
    task = asyncio.ensure_future(run_process(request(pack, "trap.py", warm=warm_start, timeout_seconds=60)))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(ProcessCancelled) as stopped:
        await task
    result = stopped.value.result
    assert (result.cancelled, result.succeeded, result.exit_code, result.error) == (True, False, 5, "Cancelled")
    assert result.stdout == "started\ncleanup done\n"


@pytest.mark.parametrize("key", ["n\nl", "q'r", "$(id)", "a b", "x=y"])
async def test_a_dotenv_key_a_reader_would_misread_is_refused(tmp_path, key):
    """Keys were written as they are: 'n\\nl' started a line of its own, a fake parameter."""
    pack = make_pack(tmp_path, {"actions/e.sh": "cat\n"})
    res = await run_process(request(pack, "e.sh", "shell", parameters={"obj": {key: "1", "ok": "2"}},
                                    parameter_format="dotenv"))
    assert not res.succeeded and res.exit_code is None
    assert res.error.startswith(f"parameter name {'obj.' + key!r} cannot be written as a dotenv line")


@pytest.mark.parametrize("script, error", [
    ("throw new Error('node boom');", "Error: node boom"),
    ("require('missing-qa');", "Error: Cannot find module 'missing-qa'"),
    ("Promise.reject(new TypeError('late'));", "TypeError: late"),
    ("process.stderr.write('plain reason\\n'); process.exit(3);", "plain reason"),
])
async def test_a_nodejs_crash_reads_as_its_error_not_nodes_version(tmp_path, script, error):
    """Every Node.js crash ended its stderr with node's version, and that was the `error`."""
    pack = make_pack(tmp_path, {"actions/crash.js": script + "\n"})
    res = await run_process(request(pack, "crash.js", "nodejs"))
    assert not res.succeeded and res.error == error, res.stderr


def test_what_a_requirements_file_includes_is_part_of_its_environments_identity(tmp_path):
    """`-r base.txt` with base.txt edited (or a local package's setup.py) kept the old
    virtualenv: only requirements.txt's own text was hashed."""
    from attune.runtimes.environments import _requirement_inputs

    pack = make_pack(tmp_path, {"requirements.txt": "-r base.txt  # shared pins\n./localpkg\n",
                                "base.txt": "-c pins.txt\nsix==1.15.0\n", "pins.txt": "six<2\n",
                                "localpkg/setup.py": "from setuptools import setup\nsetup(name='x', version='1')\n"})
    before = _requirement_inputs(pack / "requirements.txt")
    assert b"six==1.15.0\n" in b"".join(before) and b"six<2" in b"".join(before) and b"version='1'" in b"".join(before)
    (pack / "base.txt").write_text("-c pins.txt\nsix==1.16.0\n")
    assert _requirement_inputs(pack / "requirements.txt") != before
    (pack / "base.txt").write_text("-r requirements.txt\n")  # a loop is read once
    assert len(_requirement_inputs(pack / "requirements.txt")) == 3
