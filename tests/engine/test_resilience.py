"""Scale and failure: 10,000 items, a worker killed mid-task."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cryptography.fernet import Fernet

from tests.conftest import TEST_PACKS
from tests.engine.helpers import records, run, start, wait_ended


async def test_two_thousand_items_of_10_kb_complete_within_history_limits(temporal_stack):
    """20 MB of item results: each slice's 5 MB result is over Temporal's 2 MB payload limit,
    so it travels through the blob directory (engine/blobs.py) instead of the history. (It ran
    5,000 items, then 10,000 of 5 kB: more processes for the same point, a twelfth of the
    suite's time; `make bench` runs 10,000 items.)"""
    engine = temporal_stack.engine
    r = await run(engine, "qa.big_items", {"count": 2_000, "pad": 10_000}, timeout=900)
    assert r.status == "completed", r.result
    assert r.result == {"n": 2_000, "last": 1_999, "succeeded": True}
    assert len(r.tasks("each")) == 4  # slices of 500
    assert len(r.tasks("each")[0].result) == 500
    assert r.tasks("each")[0].result[7]["data"]["message"] == "x" * 10_000
    sizes = []
    for wid in [r.workflow_id, r.tasks("each")[0].child_workflow_id]:
        history = await engine.handle(wid).fetch_history()
        assert len(history.events) < 10_240  # below even Temporal's warning threshold
        sizes.append(len(history.to_json()))
    assert sizes[0] < 1_000_000  # the parent holds references to its slices' inputs and results
    assert sizes[1] < 20_000_000  # a slice: 500 items' own (small) inputs and results


async def _kill_runner_mid_task_then_finish(engine, workflow_id: str, pid_file,
                                           processes: list[subprocess.Popen], *,
                                           how: str = "killed", within: float = 90) -> list[int]:
    """Once the task wrote its runner's pid, SIGKILL that runner (`killed`), stop it as `attune
    down` does (`stopped`: SIGTERM to the worker alone) or SIGKILL its process launchers
    (`launcher`: the OOM killer's pick); the run must still complete, the task having run again
    in another process. Returns the pids the task wrote."""
    deadline = time.monotonic() + 30
    # Until the pid is in it: the shell's `>>` creates the file a moment before it writes, and
    # a read in between found it empty (a CI failure).
    while not (pid_file.exists() and pid_file.read_text().split()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    first = int(pid_file.read_text().split()[0])
    victim = next(p for p in processes if p.pid == first)
    if how == "stopped":
        victim.send_signal(signal.SIGTERM)
    elif how == "launcher":
        for child in psutil.Process(victim.pid).children():
            if any("_starter.py" in part for part in child.cmdline()):
                child.kill()
    else:
        os.killpg(victim.pid, signal.SIGKILL)
    end = await asyncio.wait_for(engine.wait(workflow_id), within)
    status, result = end.status, end.result
    assert status == "completed", result
    assert result["data"] == {"done": True}
    pids = [int(p) for p in pid_file.read_text().split()]
    assert len(pids) == 2 and (how == "launcher" or pids[0] != pids[1])  # the same worker may run it again
    return pids


def _worker(address: str, prefix: str, *, packs: str | None = None,
            env: dict[str, str] | None = None, log: Path | None = None) -> subprocess.Popen:
    with open(log or os.devnull, "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "attune.cli", "worker", "--runtime", "shell",
             "--temporal-address", address, "--queue-prefix", prefix, *(["--packs", packs] if packs else [])],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=err, env=env,
        )


def _without_echo(tmp_path: Path) -> str:
    """A copy of the qa pack from before its echo action existed: a worker set up with it
    hands qa.echo back."""
    old = tmp_path / "old"
    shutil.copytree(TEST_PACKS / "qa", old / "qa")
    (old / "qa" / "actions" / "echo.sh").unlink()
    return str(old)


@pytest.mark.parametrize("how", ["killed", "stopped", "launcher"])
async def test_killed_worker_task_completes_on_another_worker(temporal_stack, action_tmp, how):
    """The task's worker dies (SIGKILL): after the heartbeat timeout Temporal retries it on the
    surviving worker, and the workflow completes. Stopped cleanly (SIGTERM, as `attune down`
    and Ctrl-C do), the worker ends the action's process and hands the task back at once: it
    failed the run as "cancelled" before. Its process launcher killed, the worker hands the task
    back too: it failed the run with "exit status unknown" before."""
    engine = temporal_stack.engine
    prefix = f"kill{os.getpid()}"
    workers = [_worker(temporal_stack.address, prefix) for _ in range(2)]
    pid_file = action_tmp / "pids"
    try:
        await asyncio.sleep(3)  # both workers polling
        workflow_id = await start(engine, "qa.pid_sleep", {"pid_file": str(pid_file)},
                                  queue_prefix=prefix)
        await _kill_runner_mid_task_then_finish(engine, workflow_id, pid_file, workers,
                                                how=how, within=90 if how == "killed" else 30)
        assert [r.status for r in await records(engine, workflow_id)] == ["completed"]
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)


@pytest.mark.parametrize("lacks", ["files", "key"])
async def test_a_worker_without_the_packs_files_or_the_key_hands_its_tasks_to_another(
        temporal_stack, tmp_path, lacks):
    """A worker set up wrong (an older copy of the pack under its --packs, another secret key)
    failed each task it took for good, about 1/N of its pool's: it now hands the task back,
    naming itself, and another worker of the pool runs it."""
    engine = temporal_stack.engine
    prefix = f"lacks{lacks}{os.getpid()}"
    env = {**os.environ, "ATTUNE_SECRET_KEY": Fernet.generate_key().decode()} if lacks == "key" else None
    bad = _worker(temporal_stack.address, prefix, packs=_without_echo(tmp_path) if lacks == "files" else None,
                  env=env)
    good = None
    try:
        ref, params = ("qa.echo", {"message": "hi"}) if lacks == "files" else ("qa.secret_echo", {"token": "s3cret"})
        workflow_id = await start(engine, ref, params, queue_prefix=prefix)
        failure = await _failed_attempt(engine, workflow_id)
        expected = "entry point not found: " if lacks == "files" else "cannot unseal the secret in parameters.token"
        assert expected in failure and f"pid {bad.pid}" in failure, failure
        assert "runs again on a worker that is up" in failure, failure
        detail = (await engine.snapshot(workflow_id)).stuck  # the run's status_detail meanwhile
        task = "echo" if lacks == "files" else "secret_echo"
        assert detail and detail.startswith(f"task {task} runs again (attempt ") and expected in detail, detail
        bad.send_signal(signal.SIGTERM)
        bad.wait(timeout=30)
        good = _worker(temporal_stack.address, prefix)
        end = await asyncio.wait_for(engine.wait(workflow_id), 60)
        assert end.status == "completed", end.result
    finally:
        for w in (bad, good):
            if w is not None and w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)


async def test_a_worker_that_hands_tasks_back_steps_aside_for_one_that_runs_them(temporal_stack, tmp_path):
    """Temporal picks the worker of each attempt, and the one that hands tasks back (it lacks
    the pack's files) polled first often enough that 3 runs in 20 failed, all 5 attempts
    handed back. It now stops polling for a while after handing one back when another worker
    polls the queue (engine/step_aside.py), and every run completes on the good worker."""
    engine = temporal_stack.engine
    prefix = f"aside{os.getpid()}"
    log = tmp_path / "bad.log"
    bad = _worker(temporal_stack.address, prefix, packs=_without_echo(tmp_path), log=log)
    good = _worker(temporal_stack.address, prefix)
    try:
        await asyncio.sleep(3)  # both workers polling
        ends = [await wait_ended(engine, await start(engine, "qa.echo", {"message": f"hi {i}"},
                                                     queue_prefix=prefix), 60) for i in range(20)]
        failed = [result for status, result in ends if status != "completed"]
        assert not failed, f"{len(failed)} of 20 runs failed: {failed[0]}"
        assert f"pid {bad.pid} stands aside from task queue {prefix}-shell for 5 s (another worker " \
               "polls it): it handed a task back: entry point not found: " in log.read_text()
    finally:
        for w in (bad, good):
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)


async def test_a_worker_alone_that_hands_tasks_back_keeps_polling(temporal_stack, tmp_path):
    """With no other worker on the queue, standing aside would only delay the task: the worker
    hands it back at once, and it fails after its attempts (1+2+4+8 s apart) saying why."""
    engine = temporal_stack.engine
    prefix = f"alone{os.getpid()}"
    log = tmp_path / "bad.log"
    bad = _worker(temporal_stack.address, prefix, packs=_without_echo(tmp_path), log=log)
    try:
        began = time.monotonic()
        status, result = await wait_ended(engine, await start(engine, "qa.echo", {"message": "hi"},
                                                              queue_prefix=prefix), 60)
        assert status == "failed" and "entry point not found: " in result["error"], result
        assert "not run again, after 5 attempts" in result["error"], result
        assert time.monotonic() - began < 30  # 15 s of retry delays, a worker start
        assert "stands aside" not in log.read_text()
    finally:
        if bad.poll() is None:
            os.killpg(bad.pid, signal.SIGKILL)


async def test_a_runtime_worker_runs_as_many_tasks_at_once_as_its_slots(temporal_stack):
    """The runtime workers' slots (StepAside) behave as a fixed-size supplier: 6 one-second
    tasks on a worker of 2 slots run 2 at a time, and all complete."""
    from attune.engine.worker import runtime_worker

    engine = temporal_stack.engine
    prefix = f"slots{os.getpid()}"
    worker = runtime_worker(engine.client, "shell", max_concurrent=2, queue_prefix=prefix)
    async with worker:
        ids = [await start(engine, "qa.sleep", {"seconds": 1}, queue_prefix=prefix) for _ in range(6)]
        ends = await asyncio.gather(*(wait_ended(engine, w, 60) for w in ids))
    assert [status for status, _ in ends] == ["completed"] * 6, ends
    ended = sorted([r.ended_at for w in ids for r in await records(engine, w) if r.ended_at])
    assert len(ended) == 6 and (ended[-1] - ended[0]).total_seconds() >= 1.8, ended  # 3 waves of 2


async def _failed_attempt(engine, workflow_id: str) -> str:
    """The message of the task's last failed attempt, once one has failed."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pending = (await engine.handle(workflow_id).describe()).raw_description.pending_activities
        if pending and pending[0].HasField("last_failure"):
            return pending[0].last_failure.message
        await asyncio.sleep(0.2)
    raise AssertionError("no attempt failed")


ORCHESTRATOR = """
import asyncio, sys
from attune.engine.client import EngineClient
from attune.engine.worker import orchestrator_worker

async def main(address, queue):
    engine = await EngineClient.connect(address)
    print("polling", flush=True)
    await orchestrator_worker(engine.client, task_queue=queue).run()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_killed_orchestrator_local_action_reruns_on_another(temporal_stack, action_tmp):
    """A local action runs inside the orchestrator: when that dies (SIGKILL) mid-action, the
    workflow task times out (10 s) and another orchestrator replays the run and runs it again."""
    from attune.engine.client import EngineClient

    queue = f"orchestrator-kill{os.getpid()}"
    orchestrators = [subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, temporal_stack.address,
                                       queue], start_new_session=True, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for _ in range(2)]
    engine = EngineClient(temporal_stack.engine.client, queue, temporal_stack.engine.secret_key)
    pid_file = action_tmp / "pids"
    try:
        await asyncio.sleep(3)  # both orchestrators polling
        workflow_id = await start(engine, "qa.local_pid_sleep", {"pid_file": str(pid_file)})
        pids = await _kill_runner_mid_task_then_finish(engine, workflow_id, pid_file, orchestrators)
        assert pids[1] in {o.pid for o in orchestrators}
        assert [r.status for r in await records(engine, workflow_id)] == ["completed"]
    finally:
        for o in orchestrators:
            if o.poll() is None:
                os.killpg(o.pid, signal.SIGKILL)
