"""The edges of the contract (issue: no input hangs a run), on the real stack."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.engine.helpers import records, start, wait_ended


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


async def _child_id(engine, workflow_id: str, task: str) -> str:
    for _ in range(100):
        ids = [r.child_workflow_id for r in await records(engine, workflow_id)
               if r.task_name == task and r.child_workflow_id]
        if ids:
            return ids[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{task} never started")


async def _wait_for(engine, workflow_id: str, task: str, status: str = "running") -> None:
    for _ in range(200):
        if any(r.task_name == task and r.status == status for r in await records(engine, workflow_id)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task} never became {status}")


async def test_cancel_with_allow_finish_reaches_nested_workflows_and_slices(engine):
    """Spec §3: after a cancel nothing new starts anywhere in the tree; running processes end."""
    workflow_id = await start(engine, "qa.cancel_tree", {"items": 600})
    nested = await _child_id(engine, workflow_id, "nested")
    first_slice = await _child_id(engine, workflow_id, "many")
    await _wait_for(engine, nested, "first")
    await engine.cancel(workflow_id)
    status, result = await wait_ended(engine, workflow_id, 60)
    assert status == "cancelled" and result == {"error": "Workflow cancelled", "succeeded": False}
    nested_records = await records(engine, nested)
    assert [r.task_name for r in nested_records] == ["first"]  # `second` never started
    assert nested_records[0].status == "completed"  # allow_finish: the running one ended
    assert (await engine.status(nested)).status == "cancelled"
    items = await records(engine, first_slice)
    assert 1 <= len(items) < 20, f"{len(items)} items dispatched after the cancel"
    assert (await engine.status(first_slice)).status == "cancelled"
    parent = await records(engine, workflow_id)
    assert [r.task_name for r in parent if r.task_name == "many"] == ["many"]  # no second slice


async def test_a_nested_workflow_cancelled_on_its_own_fails_its_task_unless_handled(engine):
    workflow_id = await start(engine, "qa.nested_alone")
    inner = await _child_id(engine, workflow_id, "inner")
    handled = await _child_id(engine, workflow_id, "handled")
    await engine.cancel(inner)
    await engine.cancel(handled)
    status, result = await wait_ended(engine, workflow_id, 60)
    assert status == "failed"
    assert result == {"error": "Workflow failed: 1 task(s) failed: inner", "succeeded": False}
    recs = await records(engine, workflow_id)
    assert {r.task_name: r.status for r in recs} == {"inner": "cancelled", "handled": "cancelled",
                                                     "cleanup": "completed"}
    # the result of a cancelled workflow (spec §3), as the nested run's own end says
    assert [r.result for r in recs if r.task_name == "inner"] == [
        {"error": "Workflow cancelled", "succeeded": False}]


async def test_a_disabled_action_is_refused_inside_workflows_too(engine):
    workflow_id = await start(engine, "qa.uses_disabled")
    status, result = await wait_ended(engine, workflow_id, 30)
    assert status == "failed"
    refused, = await records(engine, workflow_id)
    assert refused.status == "failed"
    assert refused.result["error"] == "task 'refused': action 'qa.disabled' is disabled (enabled: false)"


async def test_nesting_has_a_depth_limit_and_ids_do_not_grow_with_depth(engine):
    ok_id = await start(engine, "qa.recurse", {"n": 3})
    assert (await wait_ended(engine, ok_id, 60))[0] == "completed"

    workflow_id = await start(engine, "qa.recurse", {"n": 100})
    status, result = await wait_ended(engine, workflow_id, 120)
    assert status == "failed"
    assert result["error"] == "Workflow failed: 1 task(s) failed: again"
    chain, current = [], workflow_id
    while current is not None:  # down the chain of nested runs to the one that refused
        chain.append(current)
        again = [r for r in await records(engine, current) if r.task_name == "again"]
        current = again[0].child_workflow_id
    assert len(chain) == 21  # the submitted run and 20 nested levels
    assert again[0].result["error"] == (
        "task 'again': nested workflow 'qa.recurse' would run 21 levels deep, over the limit of 20"
        " (setting ATTUNE_MAX_NESTING_DEPTH); does a workflow run itself?")
    lengths = {len(w) for w in chain[2:]}
    assert len(lengths) == 1 and max(lengths) < len(workflow_id) + 40  # no growth with depth


async def test_a_value_over_the_size_limit_fails_its_task_naming_the_limit(engine, monkeypatch):
    """The orchestrator runs in this process: lower the limit instead of moving 64 MiB."""
    from attune.engine import workflow as driver

    monkeypatch.setattr(driver, "MAX_VALUE_BYTES", 10_000)
    workflow_id = await start(engine, "qa.big_items", {"count": 2, "pad": 20_000})
    status, result = await wait_ended(engine, workflow_id, 60)
    assert status == "failed" and result["error"] == "Workflow failed: 1 task(s) failed: each"
    errors = {r.result["error"] for r in await records(engine, workflow_id)}
    assert errors == {"task 'each': its input is 19.6 KiB of JSON, over the limit of 9.8 KiB per "
                      "value (pass references such as file paths instead)"}


async def test_a_run_whose_workflow_task_keeps_failing_is_reported_stuck(temporal_stack, tmp_path):
    """A client that offloads the run's input to a blob directory the workers cannot see: every
    workflow task fails to decode it. The engine says so (for records, API and CLI) instead of
    looking slow or unreachable."""
    from attune.contract import new_workflow_id
    from attune.engine.client import CANCELLED_WHILE_STUCK, EngineClient
    from tests.engine.helpers import catalog

    elsewhere = await EngineClient.connect(temporal_stack.address, blob_dir=str(tmp_path / "x"))
    workflow_id = new_workflow_id("qa.echo")
    await elsewhere.start(catalog=catalog().closure("qa.echo"), action_ref="qa.echo",
                          parameters={"message": "m" * 300_000}, workflow_id=workflow_id)
    engine = temporal_stack.engine
    try:
        for _ in range(150):
            snap = await engine.snapshot(workflow_id)
            if snap.stuck:
                break
            await asyncio.sleep(0.2)
        assert snap.stuck is not None and snap.records == []
        assert snap.stuck.startswith("the workflow task keeps failing (attempt ")
        assert "must share ATTUNE_BLOB_DIR" in snap.stuck
        # It could never act on a cancel request: cancelling it ends it, as cancelled.
        await engine.cancel(workflow_id)
        end = await asyncio.wait_for(engine.wait(workflow_id), 30)
        assert end.status == "cancelled" and end.external
        assert end.result == {"error": CANCELLED_WHILE_STUCK, "succeeded": False}
    finally:
        with contextlib.suppress(Exception):
            await engine.handle(workflow_id).terminate("test over")


async def test_a_plain_action_sent_pause_and_resume_signals_still_ends_with_its_own_result(engine):
    # The API refuses to pause a plain action; a signal sent from the Temporal Web UI or the
    # temporal CLI reaches it all the same, and used to fail the run with an AssertionError.
    workflow_id = await start(engine, "qa.sleep", {"seconds": 1})
    await engine.pause(workflow_id, 1)
    await engine.resume(workflow_id, 2)
    await engine.pause(workflow_id, 3)
    status, result = await wait_ended(engine, workflow_id)
    assert status == "completed" and result["data"] == {"slept": 1}, result


async def test_a_pause_that_arrives_before_the_first_step_holds_the_run_until_resumed(temporal_stack):
    """A pause that reached a run with its start ended it `completed`, no task run (under load,
    or when a parent's pause reached a nested run as it started). Here no orchestrator polls
    the run's queue until the pause is in: its first workflow task sees both at once."""
    import os
    import signal
    import subprocess
    import sys

    from attune.engine.client import EngineClient
    from attune.settings import orchestrator_queue

    prefix = f"early{os.getpid()}"
    engine = EngineClient(temporal_stack.engine.client, orchestrator_queue(prefix),
                          temporal_stack.engine.secret_key)
    workflow_id = await start(engine, "qa.sequence", {"start": 2}, queue_prefix=prefix)
    await engine.pause(workflow_id, 1)
    workers = [subprocess.Popen([sys.executable, "-m", "attune.cli", "worker", "--runtime", runtime,
                                 "--temporal-address", temporal_stack.address, "--queue-prefix", prefix],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for runtime in ("orchestrator", "shell", "nodejs")]
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while (snap := await engine.snapshot(workflow_id)).status != "paused":
            assert snap.status in ("running", "pausing"), snap.status  # not completed, nothing run
            assert asyncio.get_running_loop().time() < deadline, "never paused"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        assert (await engine.snapshot(workflow_id)).status == "paused" and await records(engine, workflow_id) == []
        await engine.resume(workflow_id, 2)
        status, result = await wait_ended(engine, workflow_id, 60)
        assert status == "completed" and result["a"] == 21 and result["b"] == 42, result
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)


async def test_cancel_reaches_nested_runs_whose_start_was_on_its_way(engine):
    """A cancel that arrives while nested runs are starting reaches every one of them: each
    child's task is cancelled. The SDK's cancel of a child whose start was in flight let the
    parent end while the server still started the child, which then ran to its end. On a busy
    machine the server took up to ~30 s to deliver a cancel request to a nested run, so each
    naps 150 s: one that never gets the cancel still fails the test (it completes)."""
    workflow_id = await start(engine, "qa.cancel_nested_items", {"items": 150, "seconds": 150})
    await asyncio.sleep(0.5)
    await engine.cancel(workflow_id)
    status, _ = await wait_ended(engine, workflow_id, 200)
    assert status == "cancelled"
    children = [r.child_workflow_id for r in await records(engine, workflow_id) if r.child_workflow_id]
    assert children, "no nested run started before the cancel"
    ended = [(await engine.status(c)).status for c in children]
    assert [s for s in ended if s != "cancelled"] == []


async def test_a_task_whose_runtime_has_no_worker_says_so(temporal_stack, monkeypatch):
    """With no worker of a task's runtime started, the run stayed `scheduled` with no word;
    its records now say what it waits for and how to start one (lowered from 10 s here)."""
    import os
    import signal
    import subprocess
    import sys

    from attune.engine import client as engine_client
    from attune.engine.client import EngineClient
    from attune.settings import orchestrator_queue

    monkeypatch.setattr(engine_client, "NO_WORKER_AFTER", 1.0)
    prefix = f"noworker{os.getpid()}"
    engine = EngineClient(temporal_stack.engine.client, orchestrator_queue(prefix),
                          temporal_stack.engine.secret_key)
    orchestrator = subprocess.Popen([sys.executable, "-m", "attune.cli", "worker", "--runtime", "orchestrator",
                                     "--temporal-address", temporal_stack.address, "--queue-prefix", prefix],
                                    start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workflow_id = await start(engine, "qa.echo", {"value": 1}, queue_prefix=prefix)
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while not (snap := await engine.snapshot(workflow_id)).stuck:
            assert asyncio.get_running_loop().time() < deadline, "never said what it waits for"
            await asyncio.sleep(0.3)
        assert snap.stuck == (f"task echo waits for a worker: none polls the task queue {prefix}-shell "
                              f"(start one: attune worker --runtime shell --queue-prefix {prefix})"), snap.stuck
    finally:
        os.killpg(orchestrator.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await engine.handle(workflow_id).terminate("test over")


def test_a_poller_temporal_still_lists_but_that_stopped_polling_is_no_worker():
    """Temporal lists a stopped worker among a queue's pollers for minutes: a pool scaled down
    to none said so five minutes late. A live worker renews its last access within its long
    poll."""
    from temporalio.api.taskqueue.v1 import PollerInfo

    from attune.engine.client import POLLER_GONE_AFTER, live_pollers

    def poller(seconds_ago: float) -> PollerInfo:
        info = PollerInfo(identity="4709@vm")
        info.last_access_time.FromSeconds(int(1_000_000 - seconds_ago))
        return info

    assert live_pollers([poller(5)], 1_000_000)
    assert live_pollers([poller(POLLER_GONE_AFTER + 60), poller(30)], 1_000_000)
    assert not live_pollers([poller(POLLER_GONE_AFTER + 1), poller(236)], 1_000_000)
    assert not live_pollers([], 1_000_000)


async def test_many_items_with_inputs_under_the_blob_threshold_start_across_workflow_tasks(engine):
    """100 items of 45 KB started at once: one workflow task's commands passed gRPC's 4 MiB
    and Temporal terminated the run ("Workflow terminated", no record). The starts now spread
    over workflow tasks of at most 2 MiB of commands each."""
    workflow_id = await start(engine, "qa.big_items", {"count": 100, "pad": 45_000})
    status, result = await wait_ended(engine, workflow_id, 120)
    assert status == "completed" and result["n"] == 100, result
    assert len(await records(engine, workflow_id)) == 100


async def test_a_cancel_that_comes_with_the_start_starts_nothing(temporal_stack):
    """A cancel already requested when a run takes its first step (sent at once, or a parent's
    cancel reaching a nested run as it starts, both common under load) starts nothing, under
    either policy, and a nested run given its parent's policy too. The first step ran before the
    cancel was seen: the first tasks were dispatched (allow_finish ran them to their end, nested
    runs were started). Here no orchestrator polls the runs' queue until the cancels are in."""
    import os
    import signal
    import subprocess
    import sys

    from attune.contract import new_workflow_id
    from attune.engine.client import EngineClient
    from attune.engine.payloads import WorkflowInput
    from attune.engine.workflow import BASELINE_LEVEL, WORKFLOW_NAME
    from attune.settings import orchestrator_queue
    from tests.engine.helpers import catalog

    prefix = f"precancel{os.getpid()}"
    engine = EngineClient(temporal_stack.engine.client, orchestrator_queue(prefix),
                          temporal_stack.engine.secret_key)
    runs = {
        "allow_finish": await start(engine, "qa.cancellable", queue_prefix=prefix),
        "cancel_running": await start(engine, "qa.cancel_running", queue_prefix=prefix),
        "nested runs": await start(engine, "qa.cancel_nested_items", {"items": 3}, queue_prefix=prefix),
    }
    # A nested run as its parent starts it: the parent's policy in its input.
    parent = new_workflow_id("qa.parent")
    runs["a nested run"] = f"{parent}/nap.1#0"
    await engine.client.start_workflow(
        WORKFLOW_NAME, WorkflowInput(action_ref="qa.nap", parameters={"seconds": 3},
                                     catalog=catalog().closure("qa.nap"), queue_prefix=prefix,
                                     cancellation_policy="allow_finish", parent_key="nap.1#0",
                                     depth=1, root_workflow_id=parent, baseline=BASELINE_LEVEL),
        id=runs["a nested run"], task_queue=orchestrator_queue(prefix))
    for workflow_id in runs.values():
        await engine.cancel(workflow_id)
    workers = [subprocess.Popen([sys.executable, "-m", "attune.cli", "worker", "--runtime", runtime,
                                 "--temporal-address", temporal_stack.address, "--queue-prefix", prefix],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for runtime in ("orchestrator", "shell")]
    try:
        ended = {name: await wait_ended(engine, workflow_id, 60) for name, workflow_id in runs.items()}
        assert ended == dict.fromkeys(runs, ("cancelled", {"error": "Workflow cancelled", "succeeded": False}))
        started = {name: [(r.task_name, r.status) for r in await records(engine, workflow_id)]
                   for name, workflow_id in runs.items()}
        assert started == dict.fromkeys(runs, [])
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGKILL)


async def test_a_nested_runs_start_is_never_cancelled_however_often_its_attempt_is():
    """Cancelled while its nested run was starting, an attempt waits for the start, then cancels
    the run it started. Cancelled again meanwhile (its run ending), the cancel reached the start
    itself: the SDK's cancel of a start in flight, which ends the attempt while the server still
    starts the child (runs from before CANCEL_STARTING_AT_ONCE replay so)."""
    from attune.engine.workflow import _started

    start = asyncio.get_running_loop().create_future()
    attempt = asyncio.ensure_future(_started(start))
    for _ in range(3):
        await asyncio.sleep(0)
        attempt.cancel()
    await asyncio.sleep(0)
    assert not start.cancelled() and not attempt.done()
    start.set_result("handle")
    assert await attempt == "handle"
