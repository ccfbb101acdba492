"""Processes started ahead of need (issue 13, runtimes/pool.py): each task takes a process that
was already started, and still gets one of its own (spec §7). The semantics every action relies
on run pooled and plain in test_runtimes.py and test_process_safety.py; here is what is specific
to the pool: that the process was indeed started before the task, that nothing of one task or of
the waiting reaches another, Node.js's main module and ES modules, refills and fallbacks."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from attune.runtimes import pool, run_process, warm
from tests.unit.test_runtimes import alive, make_pack, request, wait_dead

SIZE = 2


@pytest.fixture(autouse=True)
def _pooled(monkeypatch):
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", str(SIZE))
    yield
    warm.shutdown()  # this test's waiting processes end with it (and so do the pools)


def pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}


async def run_ahead(pack, entry, runner, **kw):
    """Run an action whose pool was filled by an earlier run; its pid must have existed before."""
    await asyncio.sleep(0.3)  # the pool refills when a task ends: let the starter fork
    before = pids()
    res = await run_process(request(pack, entry, runner, **kw))
    assert res.succeeded, res.stderr
    return res, before


# Reports what a task could inherit from a process that waited, or from the task before it.
IDENTITY = {
    "python": ("who.py", """
        import json, os, sys
        import helper
        helper.count += 1
        dirty = hasattr(json, "_touched")
        json._touched = True
        stat = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
        print(json.dumps({"pid": os.getpid(), "pgid": int(stat[2]), "sid": int(stat[3]),
                          "count": helper.count, "dirty": dirty, "cwd": os.getcwd(), "argv": sys.argv,
                          "stdin": sys.stdin.read(), "env": dict(os.environ), "main": __name__,
                          "modules": sorted(m for m in sys.modules if "attune" in m or "_starter" in m)}))
    """),
    "nodejs": ("who.js", """
        const fs = require("fs");
        // What is pending in this process before the action does anything: nothing the waiter rehearsed.
        const pending = {handles: process._getActiveHandles().map((h) => h.constructor.name),
          requests: process._getActiveRequests().length, events: process.eventNames()};
        const helper = require("./helper.js");
        helper.count += 1;
        const dirty = globalThis.touched === true;
        globalThis.touched = true;
        const stat = fs.readFileSync("/proc/self/stat", "utf8").split(")").pop().trim().split(" ");
        console.log(JSON.stringify({pid: process.pid, pgid: Number(stat[2]), sid: Number(stat[3]),
          count: helper.count, dirty, cwd: process.cwd(), argv: process.argv, stdin: fs.readFileSync(0, "utf8"),
          env: process.env, main: require.main === module, mainModule: process.mainModule === module,
          id: module.id, parent: module.parent ?? null, execArgv: process.execArgv,
          cache: Object.keys(require.cache), globals: Object.keys(globalThis).sort(), pending}));
    """),
    "shell": ("who.sh", """
        . ./actions/helper.sh
        count=$((count + 1))
        dirty=${ATTUNE_TOUCHED:-false}
        export ATTUNE_TOUCHED=true
        read -r stat < /proc/self/stat
        # $$ is bash's own pid; /proc/self is `read`'s builtin, the same process
        set -- ${stat##*) }
        stdin=$(cat)
        python3 -c 'import json, os, sys; print(json.dumps({"pid": int(sys.argv[1]), "pgid": int(sys.argv[2]),
            "sid": int(sys.argv[3]), "count": int(sys.argv[4]), "dirty": sys.argv[5] == "true",
            "cwd": os.getcwd(), "argv0": sys.argv[6], "stdin": sys.argv[7],
            "env": {k: v for k, v in os.environ.items() if k not in ("ATTUNE_TOUCHED", "_", "SHLVL")}}))' \
            "$$" "$3" "$4" "$count" "$dirty" "$0" "$stdin"
    """),
}
HELPERS = {"actions/helper.py": "count = 0\n", "actions/helper.js": "module.exports = {count: 0};\n",
           "actions/helper.sh": "count=0\n"}
POOLED = ["python", "nodejs"]  # shell actions are not pooled (runtimes/pool.py)
RUNNERS = [*POOLED, "shell"]
EXT = {"python": "py", "nodejs": "js", "shell": "sh"}


@pytest.mark.parametrize("runner", POOLED)
async def test_each_task_takes_a_process_started_ahead_and_gets_it_alone(tmp_path, monkeypatch, runner):
    entry, script = IDENTITY[runner]
    pack = make_pack(tmp_path, {f"actions/{entry}": script, **HELPERS})
    params = {"n": 1, "s": "hé"}
    await run_process(request(pack, entry, runner, parameters=params))  # fills the pool
    runs = [await run_ahead(pack, entry, runner, parameters=params, output_format="json") for _ in range(3)]
    seen = [res.data for res, _ in runs]
    assert all(d["pid"] in before for d, (_, before) in zip(seen, runs, strict=True))  # started ahead
    assert len({d["pid"] for d in seen}) == 3 and os.getpid() not in {d["pid"] for d in seen}
    assert all(d["pid"] == d["pgid"] == d["sid"] for d in seen)  # its own session and group
    assert all((d["count"], d["dirty"]) == (1, False) for d in seen)  # fresh module state and globals
    assert all(d["cwd"] == str(pack) and json.loads(d["stdin"]) == params for d in seen)
    # The plain start is the reference for everything else: argv, env, main module, what is loaded.
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", "0")
    plain = (await run_process(request(pack, entry, runner, parameters=params, output_format="json"))).data
    for key in ("pid", "pgid", "sid"):
        del plain[key]
        del seen[0][key]
    assert seen[0] == plain


async def test_a_shell_action_gets_a_process_started_for_it_alone(tmp_path):
    """Not pooled: spawned at once by the starter (`_starter._spawn`), with the same identity a
    pooled process has: its own session, nothing of the task before, the pack as cwd."""
    entry, script = IDENTITY["shell"]
    pack = make_pack(tmp_path, {f"actions/{entry}": script, **HELPERS})
    params = {"n": 1, "s": "hé"}
    await run_process(request(pack, entry, "shell", parameters=params))
    runs = [await run_ahead(pack, entry, "shell", parameters=params, output_format="json") for _ in range(3)]
    seen = [res.data for res, _ in runs]
    assert not any(d["pid"] in before for d, (_, before) in zip(seen, runs, strict=True))
    assert not [key for key in pool._pools if key[0] == "shell"]
    assert len({d["pid"] for d in seen}) == 3 and os.getpid() not in {d["pid"] for d in seen}
    assert all(d["pid"] == d["pgid"] == d["sid"] for d in seen)
    assert all((d["count"], d["dirty"]) == (1, False) for d in seen)
    assert all(d["cwd"] == str(pack) and json.loads(d["stdin"]) == params for d in seen)


async def test_pooled_node_main_module_and_exit_semantics(tmp_path):
    pack = make_pack(tmp_path, {
        "actions/main.js": "console.log(require.main === module, require.main.filename === __filename);\n",
        "actions/code.js": "process.exitCode = 4;\nsetTimeout(() => console.log('later'), 20);\n",
        "actions/exit.js": "process.on('exit', (c) => console.log('exit', c));\nprocess.exit(6);\n"
                           "console.log('not reached');\n",
        "actions/throw.js": "console.log('before');\nthrow new Error('boom');\n",
        "actions/reject.js": "Promise.reject(new Error('nope'));\n",
    })
    for entry in ("main.js", "code.js"):  # fill the pool
        await run_process(request(pack, entry, "nodejs"))
    results = {e: await run_process(request(pack, e, "nodejs"))
               for e in ("main.js", "code.js", "exit.js", "throw.js", "reject.js")}
    assert (results["main.js"].exit_code, results["main.js"].stdout) == (0, "true true\n")
    assert (results["code.js"].exit_code, results["code.js"].stdout) == (4, "later\n")
    assert (results["exit.js"].exit_code, results["exit.js"].stdout) == (6, "exit 6\n")
    assert results["throw.js"].exit_code == 1 and results["throw.js"].stdout == "before\n"
    assert "Error: boom" in results["throw.js"].stderr
    assert results["reject.js"].exit_code == 1 and "Error: nope" in results["reject.js"].stderr


@pytest.mark.parametrize("entry", ["m.mjs", "esm/m.js"])
async def test_pooled_node_runs_es_modules(tmp_path, entry):
    script = """
        import { readFileSync } from "node:fs";
        import { fileURLToPath } from "node:url";
        const params = JSON.parse(readFileSync(0, "utf8"));
        await new Promise((resolve) => setTimeout(resolve, 10));  // top-level await
        console.log(JSON.stringify({n: params.n, self: fileURLToPath(import.meta.url), argv1: process.argv[1],
                                    cjs: typeof require}));
        process.exitCode = 2;
    """
    pack = make_pack(tmp_path, {"actions/m.mjs": script, "actions/esm/m.js": script,
                                "actions/esm/package.json": '{"type": "module"}'})
    await run_process(request(pack, entry, "nodejs", parameters={"n": 0}))  # fills the pool
    await asyncio.sleep(0.3)
    res = await run_process(request(pack, entry, "nodejs", parameters={"n": 7}))
    path = str(pack / "actions" / entry)
    assert res.exit_code == 2, res.stderr
    assert json.loads(res.stdout) == {"n": 7, "self": path, "argv1": path, "cjs": "undefined"}


@pytest.mark.parametrize("runner", RUNNERS)
async def test_each_task_has_its_own_exit_code(tmp_path, runner):
    pack = make_pack(tmp_path, {"actions/x.py": "import json, sys\nsys.exit(json.load(sys.stdin)['code'])\n",
                                "actions/x.js": "process.exitCode = JSON.parse(require('fs').readFileSync(0))"
                                                ".code;\n",
                                "actions/x.sh": "read -r line\nexit ${line//[!0-9]/}\n"})
    entry = f"x.{EXT[runner]}"
    codes = [(await run_process(request(pack, entry, runner, parameters={"code": c}))).exit_code
             for c in (3, 0, 7, 0, 1)]
    assert codes == [3, 0, 7, 0, 1]


@pytest.mark.parametrize("runner", POOLED)
async def test_pool_refills_and_serves_a_burst_larger_than_itself(tmp_path, runner):
    pack = make_pack(tmp_path, {"actions/p.py": "import os, time\ntime.sleep(0.2)\nprint(os.getpid())\n",
                                "actions/p.js": "setTimeout(() => console.log(process.pid), 200);\n",
                                "actions/p.sh": "sleep 0.2\necho $$\n"})
    entry = f"p.{EXT[runner]}"
    results = await asyncio.gather(*(run_process(request(pack, entry, runner)) for _ in range(5)))
    assert all(r.succeeded for r in results) and len({r.stdout for r in results}) == 5
    (key, filled), = [(k, p) for k, p in pool._pools.items() if k[0] == runner]
    assert len(filled.waiters) == SIZE  # refilled as the tasks ended, up to the size and no more
    res, before = await run_ahead(pack, entry, runner)
    assert int(res.stdout) in before


@pytest.mark.parametrize("runner", POOLED)
async def test_pooled_timeout_and_cancel_end_the_whole_group(tmp_path, runner):
    # (test_runtimes runs its timeout and cancellation tests pooled too; here the process is
    # also shown to be one started ahead.)
    pidfile = tmp_path / "out" / "pids"
    pidfile.parent.mkdir(mode=0o777)
    pidfile.parent.chmod(0o777)
    script = {"python": f"""
        import os, subprocess, time
        child = subprocess.Popen(["sleep", "300"])
        open({str(pidfile)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(300)
    """, "nodejs": f"""
        const child = require("child_process").spawn("sleep", ["300"], {{stdio: "ignore"}});
        require("fs").writeFileSync({json.dumps(str(pidfile))}, `${{process.pid}} ${{child.pid}}`);
        setTimeout(() => {{}}, 300000);
    """, "shell": f"""
        sleep 300 &
        echo "$$ $!" > {str(pidfile)!r}
        sleep 300
    """}[runner]
    entry = f"g.{EXT[runner]}"
    pack = make_pack(tmp_path, {f"actions/{entry}": script})
    await run_process(request(pack, entry, runner, timeout_seconds=0.3))  # fills the pool
    for stop in ("timeout", "cancel"):
        pidfile.unlink(missing_ok=True)
        await asyncio.sleep(0.3)
        before = pids()
        task = asyncio.create_task(run_process(request(pack, entry, runner, timeout_seconds=1.5)))
        while not (pidfile.exists() and len(pidfile.read_text().split()) == 2):
            await asyncio.sleep(0.02)
        main, child = (int(p) for p in pidfile.read_text().split())
        assert main in before and alive(child)
        if stop == "cancel":
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            res = await task
            assert res.timed_out and res.exit_code == -15
        assert [await wait_dead(main), await wait_dead(child)] == [True, True]


async def test_waiting_processes_that_die_are_replaced_and_the_task_still_runs(tmp_path):
    pack = make_pack(tmp_path, {"actions/ok.js": "console.log('ok')\n", "actions/ok.py": "print('ok')\n"})
    for runner, entry in (("nodejs", "ok.js"), ("python", "ok.py")):
        await run_process(request(pack, entry, runner))
    await asyncio.sleep(0.5)
    for p in pool._pools.values():
        for w in p.waiters:
            assert await w.alive() is not None  # sets its pid
            os.kill(w.pending.pid, 9)  # e.g. the OOM killer
    await asyncio.sleep(0.2)
    for runner, entry in (("nodejs", "ok.js"), ("python", "ok.py")):
        res = await run_process(request(pack, entry, runner))
        assert (res.succeeded, res.stdout) == (True, "ok\n"), res.stderr


async def test_a_pool_whose_processes_die_before_use_gives_up_and_tasks_start_plainly(tmp_path, monkeypatch,
                                                                                        caplog):
    broken = tmp_path / "broken_waiter.js"
    broken.write_text("process.exit(0);\n")
    broken.chmod(0o644)
    monkeypatch.setattr(pool, "WAITER_JS", str(broken))
    pack = make_pack(tmp_path, {"actions/ok.js": "console.log('ok')\n"})
    for _ in range(pool.MAX_STRIKES + 2):
        res = await run_process(request(pack, "ok.js", "nodejs"))
        assert (res.succeeded, res.stdout) == (True, "ok\n"), res.stderr
    assert "die before use" in caplog.text
    assert all(p.disabled for k, p in pool._pools.items() if k[0] == "nodejs")


async def test_pool_off_and_shutdown(tmp_path, monkeypatch):
    pack = make_pack(tmp_path, {"actions/ok.py": "print('ok')\n"})
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", "0")
    await run_process(request(pack, "ok.py"))
    assert not pool._pools  # off: nothing started ahead
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", str(SIZE))
    await run_process(request(pack, "ok.py"))
    await asyncio.sleep(0.2)
    waiting = [w for p in pool._pools.values() for w in p.waiters]
    assert len(waiting) == SIZE
    for w in waiting:
        assert await w.alive() is not None
    warm.shutdown()
    assert not pool._pools and all([await wait_dead(w.pending.pid) for w in waiting])


def test_pool_size_setting(monkeypatch):
    monkeypatch.delenv("ATTUNE_PROCESS_POOL")
    pool.configure(2)
    assert pool.size() == 2
    pool.configure(100)
    assert pool.size() == pool.MAX_SIZE
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", "0")
    assert pool.size() == 0
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", "x")
    assert pool.size() == 0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("pooled", [True, False])
async def test_many_tasks_leave_no_descriptor_behind(tmp_path, monkeypatch, runner, pooled):
    """A worker runs tasks for weeks: each one must give back every fd it took (a leak of one
    pipe per pooled task once ended a 20,000-iteration loop at the worker's fd limit)."""
    if not pooled:
        monkeypatch.setenv("ATTUNE_PROCESS_POOL", "0")
    pack = make_pack(tmp_path, {"actions/t.py": "import sys\nprint(sys.stdin.read())\nsys.exit(len(sys.argv) % 2)\n",
                                "actions/t.js": "console.log(require('fs').readFileSync(0, 'utf8'));\n",
                                "actions/t.sh": "cat\n"})
    entry = f"t.{EXT[runner]}"

    async def settled() -> int:
        await asyncio.sleep(0.4)  # the pool refills when a task ends
        return open_fds()

    for _ in range(3):  # starter, pool and event loop in their steady state
        assert (await run_process(request(pack, entry, runner))).exit_code is not None
    baseline = await settled()
    for _ in range(25):
        await run_process(request(pack, entry, runner))
    assert await settled() <= baseline + 1


# ---- a started-ahead Python child tells its own exit status (pool.SelfReporting) -----------------

class _SilentStarter:
    """A starter whose report never comes (or comes with `code` once `release` is set)."""

    def __init__(self, code: int | None = None):
        self.pid, self.code, self.release = 0, code, asyncio.Event()

    async def wait(self) -> int | None:
        await self.release.wait()
        return self.code


async def test_the_childs_own_report_settles_the_exit_without_waiting_for_the_starter():
    r, w = os.pipe()
    os.write(w, b"exit 5")
    assert await asyncio.wait_for(pool.SelfReporting(_SilentStarter(), r).wait(), 2) == 5
    os.close(w)
    # Silent child (killed by a signal, or os._exit of its own): the starter's report decides.
    r, w = os.pipe()
    os.close(w)  # EOF
    starter = _SilentStarter(code=-9)
    waiting = asyncio.ensure_future(pool.SelfReporting(starter, r).wait())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # EOF alone says nothing
    starter.release.set()
    assert await asyncio.wait_for(waiting, 2) == -9


SELF_REPORT = {
    # A fork the script makes and lets run to the end of the script, with its own exit status:
    # the action's status is still its main process's.
    "actions/forked.py": """
        import os, sys
        pid = os.fork()
        if pid == 0:
            sys.exit(9)
        os.waitpid(pid, 0)
        print("main")
        sys.exit(4)
    """,
    # The script closes every fd it did not open and opens files until the numbers come back:
    # the status must not land in a file that took the pipe's number.
    "actions/reuse.py": """
        import json, os, sys
        out = json.load(sys.stdin)["out"]
        os.closerange(3, 256)
        files = [open(os.path.join(out, f"f{i}"), "w") for i in range(12)]
        sys.kept_open = files  # still open as the process exits
        print(json.dumps([f.fileno() for f in files]))
    """,
    "actions/interrupt.py": "raise KeyboardInterrupt\n",
    "actions/crash.py": "import os, signal\nprint('partial', flush=True)\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "actions/raises.py": "raise ValueError('boom')\n",
}


async def test_a_self_reported_exit_is_the_actions_own_and_lands_nowhere_else(tmp_path):
    from tests.unit.test_runtimes import action_writable
    pack = make_pack(tmp_path, SELF_REPORT)
    await run_process(request(pack, "raises.py"))  # fills the pool
    await asyncio.sleep(0.3)
    forked = await run_process(request(pack, "forked.py"))
    assert (forked.exit_code, forked.stdout) == (4, "main\n"), forked.stderr
    out = action_writable(tmp_path / "out")
    res = await run_process(request(pack, "reuse.py", parameters={"out": str(out)}))
    assert res.succeeded, res.stderr
    assert [(out / f"f{i}").read_text() for i in range(12)] == [""] * 12
    interrupted = await run_process(request(pack, "interrupt.py"))
    assert interrupted.exit_code == -2  # killed by SIGINT, as CPython does
    crashed = await run_process(request(pack, "crash.py"))
    assert (crashed.exit_code, crashed.stdout) == (-11, "partial\n")
    raised = await run_process(request(pack, "raises.py"))
    assert raised.exit_code == 1 and "ValueError: boom" in raised.stderr


EXITS = {
    "python": {
        "ok.py": "print('out')\n",
        "code.py": "import sys\nprint('out')\nsys.exit(3)\n",
        "message.py": "import sys\nsys.exit('bye')\n",
        "big.py": "import sys\nsys.exit(300)\n",
        "atexit_late.py": "import atexit, sys\natexit.register(lambda: print('late'))\nsys.exit(2)\n",
        "thread.py": "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.1), print('t'))).start()\n",
        "own_exit.py": "import os\nprint('out', flush=True)\nos._exit(5)\n",
        "raises.py": "raise ValueError('boom')\n",
        "sigterm.py": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n",
        "closed_stdio.py": "import sys\nsys.stdin.close()\nprint('out')\nsys.stdout.close()\nsys.exit(6)\n",
    },
    "nodejs": {
        "ok.js": "console.log('out');\n",
        "code.js": "console.log('out'); process.exitCode = 3;\n",
        "exit.js": "console.log('out'); process.exit(4);\n",
        "neg.js": "process.exit(-1);\n",
        "handler_sets.js": "process.on('exit', () => { console.log('late'); process.exitCode = 6; });\n",
        "handler_exits.js": "process.on('exit', () => process.exit(8));\n",
        "handler_throws.js": "process.on('exit', () => { throw new Error('late'); });\n",
        "throws.js": "throw new Error('boom');\n",
        "rejects.js": "Promise.reject(new Error('nope'));\n",
        "killed.js": "console.log('out'); process.kill(process.pid, 'SIGKILL');\n",
        "closes_fds.js": "const fs = require('fs');\nfor (let fd = 3; fd < 64; fd++) { try { fs.closeSync(fd); } "
                         "catch {} }\nconsole.log('out'); process.exitCode = 2;\n",
    },
}


@pytest.mark.parametrize("runner", ["python", "nodejs"])
async def test_every_way_of_exiting_reads_the_same_pooled_as_started_plainly(tmp_path, monkeypatch, runner):
    """A pooled child tells its own exit status as it exits (the starter reports it only after
    the teardown); whatever way the action ends, what the task sees is what a plain start gives."""
    pack = make_pack(tmp_path, {f"actions/{name}": text for name, text in EXITS[runner].items()})

    async def outcomes(**kw) -> dict[str, tuple]:
        seen = {}
        for name in EXITS[runner]:
            res = await run_process(request(pack, name, runner, **kw))
            seen[name] = (res.exit_code, res.stdout, res.stderr.strip().splitlines()[-1:] if res.stderr else [])
        return seen

    pooled = await outcomes()
    monkeypatch.setenv("ATTUNE_PROCESS_POOL", "0")
    plain = await outcomes(warm=False)  # Python: the interpreter itself, `python3 -u script`
    assert pooled == plain
    assert pooled[f"code.{EXT[runner]}"][:2] == (3, "out\n")


@pytest.mark.parametrize("runner", ["python", "nodejs"])
async def test_the_result_does_not_wait_for_the_starters_report(tmp_path, monkeypatch, runner):
    pack = make_pack(tmp_path, {f"actions/{name}": text for name, text in EXITS[runner].items()})
    await run_process(request(pack, f"ok.{EXT[runner]}", runner))  # fills the pool
    await asyncio.sleep(0.3)
    order: list[str] = []
    report = warm.WarmProcess.wait

    async def late_report(self):
        code = await report(self)
        await asyncio.sleep(5)  # the starter's report, made late
        order.append("starter")
        return code

    monkeypatch.setattr(warm.WarmProcess, "wait", late_report)
    res = await run_process(request(pack, f"code.{EXT[runner]}", runner))
    order.append("result")
    assert (res.exit_code, res.stdout, order) == (3, "out\n", ["result"])
    if runner == "python":  # also when the script closed its own stdio first
        res = await run_process(request(pack, "closed_stdio.py", runner))
        order.append("result")
        assert (res.exit_code, res.stdout, order) == (6, "out\n", ["result", "result"])
