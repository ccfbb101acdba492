"""Issue 9.2, 9.10, 9.11 on real action processes (no Temporal): output made safe before it leaves
the worker, the environment and user an action gets, and its process group ending with it. Each
test runs with processes started ahead of need (issue 13) and without (`process_pool`)."""

from __future__ import annotations

import json
import os
import pwd

import pydantic_core
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from attune.runtimes import ProcessResult, run_process, warm
from attune.runtimes.isolation import ACTION_USER_DEFAULT, IsolationError, action_user
from attune.runtimes.safety import (
    DATA_CAP_BYTES,
    ERROR_CAP_BYTES,
    MAX_DATA_DEPTH,
    RESULT_CAP_BYTES,
    TEXT_CAP_BYTES,
    cap_text,
    encodable,
    plain_data,
)
from tests.unit.test_runtimes import (  # process_pool: every test here runs pooled and plain
    WARM,
    action_writable,
    make_pack,
    process_pool,  # noqa: F401
    request,
    wait_dead,
)

ROOT = os.geteuid() == 0


def encodes(result: ProcessResult) -> int:
    """Size of the result as the worker sends it to Temporal, and back as the workflow reads it."""
    payload = pydantic_data_converter.payload_converter.to_payloads([result])[0]
    assert pydantic_data_converter.payload_converter.from_payloads([payload], [ProcessResult])[0] == result
    return len(payload.data)


def text_size(text: str) -> int:
    return len(pydantic_core.to_json(text)) - 2


# ---- 9.2: every field, every output format -------------------------------------------------------

CONTROL = "head -c 262144 /dev/zero | tr '\\0' '\\001'"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
@pytest.mark.parametrize("code", [0, 3])
async def test_control_character_burst_is_capped_after_encoding(tmp_path, stream, code):
    redirect = "" if stream == "stdout" else " >&2"
    pack = make_pack(tmp_path, {"actions/c.sh": f"{CONTROL}{redirect}\nexit {code}\n"})
    res = await run_process(request(pack, "c.sh", "shell"))
    text = getattr(res, stream)
    assert getattr(res, f"{stream}_truncated") and 0 < text_size(text) <= TEXT_CAP_BYTES
    assert set(text) == {"\x01"} and len(text) == TEXT_CAP_BYTES // 6  # \u0001: 6 bytes each
    if code:  # the error is stderr's last line: capped too
        assert res.error is not None and len(res.error.encode()) <= ERROR_CAP_BYTES
    assert encodes(res) < RESULT_CAP_BYTES


@pytest.mark.parametrize("warm_start", WARM)
@pytest.mark.parametrize("fmt, text, expected", [
    ("json", '{"a": "\\ud800", "\\udfff": ["x\\ud83d", {"n": "\\u0000"}]}',
     {"a": "\ufffd", "\ufffd": ["x\ufffd", {"n": "\ufffd"}]}),
    ("json", '"\\udc80"', "\ufffd"),
    ("jsonl", '{"a": "\\ud800"}\n["\\udbff"]\n', [{"a": "\ufffd"}, ["\ufffd"]]),
    ("yaml", 'a: "\\0"\n1: [2024-01-01, !!binary "aGk="]\n? !!null\n: {true: !!set {x}}\n',
     {"a": "\ufffd", "1": ["2024-01-01", "aGk="], "null": {"true": ["x"]}}),
    ("json", '{"ok": "\\ud83d\\ude00 caf\\u00e9"}', {"ok": "\U0001F600 café"}),  # a valid pair stays
])
async def test_parsed_data_is_plain_valid_text(tmp_path, warm_start, fmt, text, expected):
    pack = make_pack(tmp_path, {"actions/o.py": f"import sys\nsys.stdout.write({text!r})\n"})
    res = await run_process(request(pack, "o.py", output_format=fmt, warm=warm_start))
    assert res.succeeded, res.error
    assert res.data == expected
    encodes(res)


async def test_invalid_utf8_and_nul_in_text_are_replaced(tmp_path):
    pack = make_pack(tmp_path, {"actions/b.sh": "printf 'a\\xff\\x00b'; printf 'c\\xc3\\x28' >&2; exit 1\n"})
    res = await run_process(request(pack, "b.sh", "shell"))
    assert res.stdout == "a\ufffd\ufffdb" and res.stderr == "c\ufffd(" and res.error == "c\ufffd("
    encodes(res)


@pytest.mark.parametrize("fmt, text", [
    ("json", "[" * (MAX_DATA_DEPTH + 2) + "]" * (MAX_DATA_DEPTH + 2)),
    ("json", '{"a":' * 150 + "1" + "}" * 150),
    ("yaml", "- " * (MAX_DATA_DEPTH + 5) + "x\n"),
    ("json", "[" * 100_000 + "]" * 100_000),  # deeper than the parser's own recursion limit
])
async def test_nesting_over_the_limit_fails_the_task_naming_it(tmp_path, fmt, text):
    pack = make_pack(tmp_path, {"actions/d.py": f"import sys\nsys.stdout.write({text!r})\n"})
    res = await run_process(request(pack, "d.py", output_format=fmt))
    assert not res.succeeded and res.data is None
    assert f"{MAX_DATA_DEPTH} levels" in res.error
    assert res.stdout  # the output stays visible
    encodes(res)


async def test_nesting_at_the_limit_passes(tmp_path):
    text = "[" * MAX_DATA_DEPTH + "]" * MAX_DATA_DEPTH
    pack = make_pack(tmp_path, {"actions/d.py": f"import sys\nsys.stdout.write({text!r})\n"})
    res = await run_process(request(pack, "d.py", output_format="json"))
    assert res.succeeded, res.error
    encodes(res)


async def test_yaml_alias_bomb_fails_on_size_not_memory(tmp_path):
    bomb = 'a: &a ["' + "x" * 100 + '"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20))
    pack = make_pack(tmp_path, {"actions/y.py": f"import sys\nsys.stdout.write({bomb!r})\n"})
    res = await run_process(request(pack, "y.py", output_format="yaml"))
    assert not res.succeeded and f"over the limit of {DATA_CAP_BYTES} bytes" in res.error
    encodes(res)


@pytest.mark.parametrize("kib", [100, 300, 500])
async def test_json_output_parses_whole_up_to_the_data_limit(tmp_path, kib):
    """stdout that is parsed is read whole: a JSON result of 300 KiB used to be cut at the
    256 KiB text cap and fail as a syntax error. Pretty-printed, the text is larger still."""
    script = f"import json\nprint(json.dumps({{'blob': 'z' * {kib} * 1024, 'n': [1, 2]}}, indent=4))\n"
    pack = make_pack(tmp_path, {"actions/big.py": script})
    res = await run_process(request(pack, "big.py", output_format="json"))
    assert res.succeeded, res.error
    assert len(res.data["blob"]) == kib * 1024 and res.data["n"] == [1, 2]
    assert res.stdout is None and not res.stdout_truncated  # parsed: the text is not kept
    encodes(res)


async def test_a_log_printed_before_a_json_result_is_kept_as_stdout(tmp_path):
    """The result on the last line after a log: the data is parsed and the log kept (it was
    dropped with the rest of stdout); a stdout that is all JSON is not kept twice."""
    logs = "import json\nprint('step 1')\nprint('\\x1b[32mstep 2\\x1b[0m')\nprint(json.dumps({'ok': 1}))\n"
    whole = "import json\nprint(json.dumps({'ok': 1}, indent=2))\n"
    pack = make_pack(tmp_path, {"actions/logs.py": logs, "actions/whole.py": whole})
    res = await run_process(request(pack, "logs.py", output_format="json"))
    assert res.succeeded and res.data == {"ok": 1}
    assert res.stdout == "step 1\n\x1b[32mstep 2\x1b[0m\n" and not res.stdout_truncated
    res = await run_process(request(pack, "whole.py", output_format="json"))
    assert res.succeeded and res.data == {"ok": 1} and res.stdout is None


async def test_json_output_over_the_limits_fails_naming_them(tmp_path):
    over_data = "import json\nprint(json.dumps({'blob': 'z' * 600 * 1024}))\n"
    over_read = "import sys\nsys.stdout.write('[' + '1, ' * (1024 * 1024) + '1]')\n"
    pack = make_pack(tmp_path, {"actions/data.py": over_data, "actions/read.py": over_read})
    res = await run_process(request(pack, "data.py", output_format="json"))
    assert not res.succeeded and f"over the limit of {DATA_CAP_BYTES} bytes" in res.error
    res = await run_process(request(pack, "read.py", output_format="json"))
    assert not res.succeeded and res.exit_code == 0
    assert "stdout is over 2,097,152 bytes, more than is read to parse it as json" in res.error
    assert f"at most {DATA_CAP_BYTES:,} bytes" in res.error
    assert res.stdout is not None and res.stdout_truncated  # kept for reading, capped
    encodes(res)


def test_cap_text_cuts_on_encoded_size_for_every_kind_of_character():
    for char, size in [("o", 1), ("\x01", 6), ('"', 2), ("é", 2), ("\u20ac", 3), ("\U0001F600", 4)]:
        text, cut = cap_text(char * 1000, 600)
        assert cut and text == char * (600 // size) and text_size(text) <= 600
        assert cap_text(char * 10, 600) == (char * 10, False)


def test_plain_data_limits():
    assert plain_data({"k": [1, 2.5, None, True]}) == {"k": [1, 2.5, None, True]}
    with pytest.raises(ValueError, match="over the limit"):
        plain_data(["\x01" * (DATA_CAP_BYTES // 6 + 10)])  # fits by length, not once encoded


@pytest.mark.parametrize("field", ["stdout", "stderr", "error", "data"])
def test_unencodable_or_oversized_result_becomes_a_failed_result(field):
    # What masking a secret can still do after the caps: the last check turns it into a failure
    # that Temporal stores, not an activity error (which Temporal would retry, re-running it).
    bad = {"data": {"x": "\ud800"}}.get(field, "\ud800")
    fixed = encodable(ProcessResult(succeeded=True, exit_code=0, duration_ms=5, **{field: bad}))
    assert not fixed.succeeded and "could not be encoded" in fixed.error and fixed.exit_code == 0
    encodes(fixed)
    big = encodable(ProcessResult(succeeded=True, exit_code=0, duration_ms=5, stdout="o" * (RESULT_CAP_BYTES + 1)))
    assert not big.succeeded and f"over the limit of {RESULT_CAP_BYTES} bytes" in big.error
    assert big.stdout is None and big.stdout_truncated
    assert big.stdout_bytes == RESULT_CAP_BYTES + 1 and big.stderr_bytes is None  # how much was dropped
    fine = ProcessResult(succeeded=True, exit_code=0, duration_ms=5, stdout="ok")
    assert encodable(fine) is fine


# ---- 9.10: environment and user ------------------------------------------------------------------

ENV_PY = """
import json, os, sys
params = json.load(sys.stdin)
readable = {}
for path in params["files"]:
    try:
        open(path, "rb").close()
        readable[path] = True
    except OSError:
        readable[path] = False
print(json.dumps({"env": dict(os.environ), "uid": os.getuid(), "gid": os.getgid(),
                  "groups": os.getgroups(), "readable": readable}))
"""
ENV_SH = """
printf '{"env": {'
first=1
while IFS='=' read -r -d '' name value; do
  [ $first = 1 ] || printf ','; first=0
  printf '"%s": 1' "$name"
done < /proc/self/environ
printf '}, "uid": %s}\\n' "$(id -u)"
"""
ENV_JS = "console.log(JSON.stringify({env: process.env, uid: process.getuid()}))\n"
DOCUMENTED = {"ATTUNE_EXEC_ID", "ATTUNE_ACTION", "ATTUNE_PACK_REF", "ATTUNE_API_URL",
              "ATTUNE_PARAMETER_DELIVERY", "ATTUNE_PARAMETER_FORMAT", "ATTUNE_EXECUTION_KEY"}
# bash adds a few of its own (PWD, SHLVL, _) to what it was given.
SHELL_OWN = {"PWD", "SHLVL", "_"}


@pytest.mark.parametrize("runner, entry, warm_start", [
    ("python", "env.py", True), ("python", "env.py", False), ("shell", "env.sh", True), ("nodejs", "env.js", True)])
async def test_action_gets_only_the_documented_environment(tmp_path, monkeypatch, runner, entry, warm_start):
    for leaked in ("ATTUNE_SECRET_KEY", "ATTUNE_DATABASE_URL", "ATTUNE_STATE_DIR", "AWS_SECRET_ACCESS_KEY",
                   "PYTHONPATH", "NODE_PATH", "ATTUNE_PARAMETER_FILE"):
        monkeypatch.setenv(leaked, "worker-only")
    monkeypatch.setenv("LANG", "C.UTF-8")
    pack = make_pack(tmp_path, {"actions/env.py": ENV_PY, "actions/env.sh": ENV_SH, "actions/env.js": ENV_JS})
    res = await run_process(request(pack, entry, runner, output_format="json", warm=warm_start,
                                    parameters={"files": []}))
    assert res.succeeded, res.stderr
    names = set(res.data["env"]) - (SHELL_OWN if runner == "shell" else set())
    assert names == DOCUMENTED | {"PATH", "HOME", "LANG"}
    expected_home = pwd.getpwnam(ACTION_USER_DEFAULT).pw_dir if ROOT else os.environ["HOME"]
    if runner != "shell":
        assert res.data["env"]["HOME"] == expected_home and res.data["env"]["LANG"] == "C.UTF-8"


@pytest.mark.parametrize("runner, entry", [("python", "env.py"), ("shell", "env.sh"), ("nodejs", "env.js")])
async def test_the_operator_can_pass_named_variables_to_actions_but_no_attune_one(
        tmp_path, monkeypatch, caplog, runner, entry):
    monkeypatch.setenv("ATTUNE_ACTION_ENV", "HTTPS_PROXY, no_proxy  ATTUNE_SECRET_KEY bad-name UNSET_ONE")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "localhost,.internal")
    monkeypatch.setenv("ATTUNE_SECRET_KEY", "worker-only")
    monkeypatch.setenv("HTTP_PROXY", "not named")
    monkeypatch.setenv("LANG", "C.UTF-8")
    from attune.runtimes import isolation
    isolation._parse_names.cache_clear()  # each setting is checked (and warned about) once
    pack = make_pack(tmp_path, {"actions/env.py": ENV_PY, "actions/env.sh": ENV_SH, "actions/env.js": ENV_JS})
    res = await run_process(request(pack, entry, runner, output_format="json", parameters={"files": []}))
    assert res.succeeded, res.stderr
    names = set(res.data["env"]) - (SHELL_OWN if runner == "shell" else set())
    assert names == DOCUMENTED | {"PATH", "HOME", "LANG", "HTTPS_PROXY", "no_proxy"}
    if runner != "shell":
        assert res.data["env"]["HTTPS_PROXY"] == "http://proxy.example:3128"
    assert "ATTUNE_SECRET_KEY is not passed to actions" in caplog.text
    assert "'bad-name' is not an environment variable name" in caplog.text


async def test_node_and_venv_variables_are_the_packs(tmp_path, monkeypatch):
    monkeypatch.setenv("NODE_PATH", "/worker/node_modules")
    pack = make_pack(tmp_path, {"actions/env.js": ENV_JS, "package.json": '{"name": "p", "version": "1.0.0"}'})
    res = await run_process(request(pack, "env.js", "nodejs", output_format="json", timeout_seconds=120))
    assert res.succeeded, res.stderr
    assert res.data["env"]["NODE_PATH"] == str(pack / "node_modules")


@pytest.mark.skipif(not ROOT, reason="a worker that is not root runs actions as its own user")
@pytest.mark.parametrize("warm_start", WARM)
async def test_root_worker_runs_actions_unprivileged_and_they_cannot_read_its_secrets(tmp_path, warm_start):
    secret = tmp_path / "secret.key"  # what `attune up` writes: mode 0600, the worker's
    secret.write_text("key")
    secret.chmod(0o600)
    files = [str(secret), "/etc/shadow", "/etc/passwd"]
    pack = make_pack(tmp_path, {"actions/env.py": ENV_PY})
    res = await run_process(request(pack, "env.py", output_format="json", warm=warm_start,
                                    parameters={"files": files}))
    assert res.succeeded, res.stderr
    user = pwd.getpwnam(ACTION_USER_DEFAULT)
    assert (res.data["uid"], res.data["gid"], res.data["groups"]) == (user.pw_uid, user.pw_gid, [])
    assert res.data["readable"] == {str(secret): False, "/etc/shadow": False, "/etc/passwd": True}


@pytest.mark.skipif(not ROOT, reason="needs a root worker")
async def test_missing_action_user_fails_every_action_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTUNE_ACTION_USER", "no-such-attune-user")
    with pytest.raises(IsolationError, match="does not exist"):
        action_user()
    pack = make_pack(tmp_path, {"actions/ok.sh": "echo ok\n"})
    res = await run_process(request(pack, "ok.sh", "shell"))
    assert not res.succeeded and res.exit_code is None
    assert "the action user 'no-such-attune-user' does not exist" in res.error
    assert "ATTUNE_ACTION_USER" in res.error


@pytest.mark.skipif(not ROOT, reason="needs a root worker")
@pytest.mark.parametrize("runner, entry, warm_start", [("shell", "x.sh", True), ("python", "x.py", True),
                                                       ("python", "x.py", False)])
@pytest.mark.parametrize("mode", [0o700, 0o750], ids=["0700", "0750"])
async def test_pack_the_action_user_cannot_enter_is_named(tmp_path, runner, entry, warm_start, mode):
    private = tmp_path / "private"
    private.mkdir(mode=mode)
    private.chmod(mode)
    os.chown(private, 0, 0)
    pack = make_pack(private, {"actions/x.sh": "echo hi\n", "actions/x.py": "print('hi')\n"})
    groups = os.getgroups()
    if mode == 0o750:  # open to root's group: a worker in that group must still ask as the action
        os.setgroups([0])  # user alone (its starters, started now, inherit the group)
        warm.shutdown()
    try:
        res = await run_process(request(pack, entry, runner, warm=warm_start))
    finally:
        os.setgroups(groups)
        warm.shutdown()
    assert not res.succeeded and res.exit_code == 127
    assert res.error == (f"attune: could not start the action: {private} is not accessible to uid "
                         f"{pwd.getpwnam(ACTION_USER_DEFAULT).pw_uid} (the action user), so {pack} "
                         "cannot be entered")


@pytest.mark.parametrize("warm_start", WARM)
async def test_parameter_file_belongs_to_the_action_user_only(tmp_path, warm_start):
    pack = make_pack(tmp_path, {"actions/f.py": """
        import json, os
        path = os.environ["ATTUNE_PARAMETER_FILE"]
        st = os.stat(path)
        print(json.dumps({"params": json.load(open(path)), "mode": oct(st.st_mode & 0o777),
                          "owner": st.st_uid == os.getuid()}))
    """})
    res = await run_process(request(pack, "f.py", parameter_delivery="file", output_format="json",
                                    parameters={"token": "t0k"}, warm=warm_start))
    assert res.succeeded, res.stderr
    assert res.data == {"params": {"token": "t0k"}, "mode": "0o600", "owner": True}


@pytest.mark.parametrize("runner, entry", [("shell", "s.sh"), ("python", "s.py"), ("nodejs", "s.js")])
async def test_stdio_can_be_reopened_by_path(tmp_path, runner, entry):
    # `source /dev/stdin`, `cat /dev/stdin`, open('/dev/stdout'): the pipes are the action user's.
    pack = make_pack(tmp_path, {
        "actions/s.sh": "cat /dev/stdin > /dev/stdout\n",
        "actions/s.py": "print(open('/dev/stdin').read(), file=open('/dev/stdout', 'w'))\n",
        "actions/s.js": "process.stdout.write(require('fs').readFileSync('/dev/stdin', 'utf8'))\n",
    })
    res = await run_process(request(pack, entry, runner, parameters={"k": 1}))
    assert res.succeeded, res.stderr
    assert res.stdout.strip() == '{"k":1}'


# ---- 9.11: the process group ends with the action's main process ---------------------------------

BACKGROUND = {
    "actions/bg.sh": "sleep 300 &\necho $!\n",
    "actions/bg_nohup.sh": "nohup sleep 300 >/dev/null 2>&1 &\necho $!\n",
    "actions/bg.py": "import subprocess\nprint(subprocess.Popen(['sleep', '300']).pid)\n",
    "actions/bg_daemon.py": "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(300)\n"
                            "    os._exit(0)\nprint(pid)\n",
    "actions/bg.js": "const c = require('child_process').spawn('sleep', ['300'], {detached: false, stdio: 'ignore'});\n"
                     "console.log(c.pid); c.unref();\n",
}


@pytest.mark.parametrize("runner, entry, warm_start", [
    ("shell", "bg.sh", True), ("shell", "bg_nohup.sh", True), ("python", "bg.py", True),
    ("python", "bg.py", False), ("python", "bg_daemon.py", True), ("nodejs", "bg.js", True)])
async def test_background_process_does_not_outlive_the_action(tmp_path, runner, entry, warm_start):
    pack = make_pack(tmp_path, BACKGROUND)
    res = await run_process(request(pack, entry, runner, warm=warm_start))
    assert res.succeeded, res.stderr
    assert await wait_dead(int(res.stdout.split()[0]))


async def test_background_process_no_longer_delays_the_result(tmp_path):
    # It held stdout open, so the worker waited for EOF until the drain window ran out.
    out = action_writable(tmp_path / "out")
    pack = make_pack(tmp_path, {"actions/hold.sh": f"(sleep 300; echo late) &\necho $! > {out}/pid\necho done\n"})
    res = await run_process(request(pack, "hold.sh", "shell"))
    assert res.succeeded and res.stdout == "done\n"
    assert await wait_dead(int((out / "pid").read_text()))
    assert json.loads(json.dumps(res.as_task_result()))["stdout"] == "done\n"


@pytest.mark.parametrize("runner, entry", [("shell", "bg.sh"), ("python", "bg.py")])
async def test_plain_spawn_fallback_keeps_the_same_guarantees(tmp_path, monkeypatch, runner, entry):
    # No starter (not Linux, or it failed to start): Popen switches the user and sets the
    # parent-death signal, and the worker ends the group after the main process.
    from attune.runtimes import warm

    monkeypatch.setattr(warm, "SUPPORTED", False)
    pack = make_pack(tmp_path, {**BACKGROUND, "actions/env.py": ENV_PY})
    res = await run_process(request(pack, entry, runner))
    assert res.succeeded, res.stderr
    assert await wait_dead(int(res.stdout.split()[0]))
    env = await run_process(request(pack, "env.py", output_format="json", parameters={"files": []}))
    expected = pwd.getpwnam(ACTION_USER_DEFAULT).pw_uid if ROOT else os.getuid()
    assert env.succeeded and env.data["uid"] == expected and env.data["groups"] == ([] if ROOT else env.data["groups"])


def test_an_action_run_as_another_user_gets_no_path_into_the_workers_home():
    """The worker's PATH went through whole: /root/.pyenv/shims and /root/.cargo/bin (twice),
    which the action user cannot enter."""
    from attune.runtimes.isolation import _usable_path

    path = "/root/.cargo/bin:/root/.cargo/bin:/root/.pyenv/shims:/usr/local/bin:/usr/bin:/rootless/bin:/usr/bin"
    assert _usable_path(path, "/root") == "/usr/local/bin:/usr/bin:/rootless/bin"
    assert _usable_path("/root/bin", "/root") == os.defpath  # nothing left: the system's default
    assert _usable_path("/usr/bin:/bin", "/") == "/usr/bin:/bin"  # a worker whose home is /
