"""Issue 9.2, 9.9, 9.10, 9.11 on the real stack (Temporal dev server, the session's workers, real
processes): output that cannot be stored as printed, cancel_running reaching the process, the
environment and user of an action, and its background processes ending with it."""

from __future__ import annotations

import asyncio
import os
import pwd
from pathlib import Path

import pytest

from attune.runtimes.isolation import ACTION_USER_DEFAULT
from attune.runtimes.safety import MAX_DATA_DEPTH, TEXT_CAP_BYTES
from tests.engine.helpers import records, run, start, wait_ended
from tests.unit.test_runtimes import alive


def commands(procs) -> list[str]:
    out = []
    for proc in procs:
        try:
            out.append(" ".join(proc.cmdline()))
        except Exception:  # noqa: BLE001 - gone meanwhile
            pass
    return out

EDGE_PACKS = str(Path(__file__).resolve().parent / "edge_packs")


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


BOMB = 'a: &a ["' + "x" * 100 + '"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(20))


@pytest.mark.parametrize("ref, params, status, check", [
    ("edge.control_chars", {"stream": "stdout"}, "completed",
     lambda r: r["stdout_truncated"] and len(r["stdout"]) == TEXT_CAP_BYTES // 6),
    ("edge.control_chars", {"stream": "stderr", "code": 3}, "failed",
     lambda r: r["stderr_truncated"] and r["exit_code"] == 3),
    ("edge.json_out", {"text": '{"a": "\\ud800", "\\udc00": "\\u0000"}'}, "completed",
     lambda r: r["data"] == {"a": "\ufffd", "\ufffd": "\ufffd"}),
    ("edge.json_out", {"text": "[" * 150 + "]" * 150}, "failed",
     lambda r: f"{MAX_DATA_DEPTH} levels" in r["error"]),
    ("edge.yaml_out", {"text": BOMB}, "failed", lambda r: "too large" in r["error"]),
    ("edge.json_out", {"text": '{"blob": "' + "z" * 400 * 1024 + '"}'}, "completed",
     lambda r: len(r["data"]["blob"]) == 400 * 1024 and "stdout" not in r),
], ids=["control-stdout", "control-stderr", "surrogates", "deep", "yaml-bomb", "json-400-kib"])
async def test_output_that_cannot_be_stored_as_printed_runs_once(engine, action_tmp, ref, params, status, check):
    runs = action_tmp / "runs"
    r = await run(engine, ref, {**params, "runs": str(runs)}, packs=EDGE_PACKS)
    assert r.status == status, r.result
    result = r.records[0].result
    assert check(result), result
    assert [x.retry_count for x in r.records] == [0]
    assert runs.read_text() == "run\n"  # the process ran once: no activity retry re-ran it


async def test_cancel_running_reaches_the_process_group(engine, action_tmp):
    workflow_id = await start(engine, "edge.cancel_running", {"dir": str(action_tmp)}, packs=EDGE_PACKS)
    pids = action_tmp / "pids"
    for _ in range(300):
        if pids.exists() and len(pids.read_text().split()) == 2:
            break
        await asyncio.sleep(0.05)
    main, background = (int(p) for p in pids.read_text().split())
    await engine.cancel(workflow_id)
    status, _ = await wait_ended(engine, workflow_id, 30)
    assert status == "cancelled"
    assert (action_tmp / "term").read_text().strip()  # the script got SIGTERM, not a bare kill
    for _ in range(100):
        if not alive(main) and not alive(background):
            break
        await asyncio.sleep(0.05)
    assert not alive(main) and not alive(background)
    assert [x.status for x in await records(engine, workflow_id)] == ["cancelled"]


async def test_background_process_ends_with_the_action(engine, action_tmp):
    r = await run(engine, "edge.background", {"dir": str(action_tmp)}, packs=EDGE_PACKS)
    assert r.status == "completed", r.result
    background = int((action_tmp / "background").read_text())
    for _ in range(100):
        if not alive(background):
            break
        await asyncio.sleep(0.05)
    assert not alive(background)


async def test_action_sees_none_of_the_workers_environment_nor_its_key(engine):
    # The session's workers hold ATTUNE_SECRET_KEY in their environment (tests/conftest.py).
    assert os.environ.get("ATTUNE_SECRET_KEY")
    r = await run(engine, "edge.environ", {"files": ["/etc/shadow"]}, packs=EDGE_PACKS)
    assert r.status == "completed", r.result
    data = r.records[0].result["data"]
    assert not {name for name in data["env"] if name.startswith("ATTUNE_")} - {
        "ATTUNE_EXEC_ID", "ATTUNE_ACTION", "ATTUNE_PACK_REF", "ATTUNE_API_URL",
        "ATTUNE_PARAMETER_DELIVERY", "ATTUNE_PARAMETER_FORMAT", "ATTUNE_EXECUTION_KEY"}
    assert os.environ["ATTUNE_SECRET_KEY"] not in str(data)
    if os.geteuid() == 0:
        assert data["uid"] == pwd.getpwnam(ACTION_USER_DEFAULT).pw_uid
        assert data["readable"] == {"/etc/shadow": False}


@pytest.mark.parametrize("pool_size", ["2", "0"], ids=["pooled", "plain"])
async def test_actions_and_starters_end_when_their_worker_is_killed(temporal_stack, action_tmp, pool_size):
    """A runtime worker SIGKILLed mid-action: its starters get SIGTERM from the kernel and kill
    every running action's group, background children included, and every process started ahead
    of need (ATTUNE_PROCESS_POOL) that is still waiting for a task."""
    import signal
    import subprocess
    import sys

    import psutil

    prefix = f"die{os.getpid()}"
    workers = [subprocess.Popen(
        [sys.executable, "-m", "attune.cli", "worker", "--runtime", runtime, "--temporal-address",
         temporal_stack.address, "--queue-prefix", prefix],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "ATTUNE_PROCESS_POOL": pool_size})
        for runtime in ("shell", "python", "nodejs")]
    engine = temporal_stack.engine
    try:
        shell = await start(engine, "edge.term_stamp", {"dir": str(action_tmp)}, packs=EDGE_PACKS,
                            queue_prefix=prefix)
        python = await start(engine, "edge.hold", {"dir": str(action_tmp)}, packs=EDGE_PACKS,
                             queue_prefix=prefix)
        # A quick one first: when it ends, its worker's pool is full (2 node processes waiting).
        quick = await run(engine, "edge.hold_node", {"dir": str(action_tmp), "quick": True}, packs=EDGE_PACKS,
                          queue_prefix=prefix)
        assert quick.status == "completed", quick.result
        node = await start(engine, "edge.hold_node", {"dir": str(action_tmp)}, packs=EDGE_PACKS,
                           queue_prefix=prefix)
        held = [action_tmp / name for name in ("pids", "hold", "hold_node")]
        for _ in range(600):
            if all(path.exists() and path.read_text() for path in held):
                break
            await asyncio.sleep(0.05)
        actions = [int(p) for path in held for p in path.read_text().split()]
        await asyncio.sleep(0.5)  # processes started ahead: let them get there
        tree = [p for w in workers for p in psutil.Process(w.pid).children(recursive=True)]
        assert {p.pid for p in tree} >= set(actions) and len(tree) >= 7  # 3+ starters, 4 actions
        # A pooled node keeps its waiter's command line: the running action, and one still waiting.
        waiters = [c for c in commands(tree) if c.endswith("_waiter.js")]
        assert len(waiters) == (2 if pool_size == "2" else 0)
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        left = tree
        for _ in range(300):
            left = [p for p in left if alive(p.pid)]
            if not left:
                break
            await asyncio.sleep(0.1)
        assert not left, commands(left)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for workflow_id in (locals().get("shell"), locals().get("python"), locals().get("node")):
            if workflow_id:
                await engine.handle(workflow_id).terminate("test over")
