"""No history ceiling: a long run goes on in fresh Temporal runs (continue-as-new) under the same
workflow id, and readers (records, queries, pause, cancel) never notice. The threshold is lowered
from 10,000 events so that a few hundred tasks cross it several times."""

from __future__ import annotations

import asyncio

import pytest

from attune.statuses import ExecutionStatus
from tests.engine.helpers import records, run, start, wait_ended


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


async def temporal_runs(engine, workflow_id: str) -> int:
    """How many Temporal runs the execution has had (visibility lags a little)."""
    count = 0
    for _ in range(50):
        count = len([w async for w in engine.client.list_workflows(f"WorkflowId = '{workflow_id}'")])
        if count:
            return count
        await asyncio.sleep(0.1)
    return count


async def test_a_long_loop_continues_as_new_and_loses_no_record(engine):
    r = await run(engine, "qa.long_loop", {"count": 120, "delay": 1}, continue_after=150, timeout=240)
    assert r.status == "completed", r.result
    assert r.result["n"] == 120 and r.result["last"] == 119
    steps = r.tasks("step")
    assert sorted(x.iteration for x in steps) == list(range(1, 121))  # every run, once
    assert len({x.key for x in r.records}) == len(r.records) == 122
    assert all(x.status == ExecutionStatus.COMPLETED for x in r.records)
    # `system.workflow_start` is the first run's start, whichever run reads it
    assert r.tasks("later")[0].result["data"]["message"] == r.result["started"]
    assert await temporal_runs(engine, r.workflow_id) >= 3  # it did continue as new


async def test_a_paused_run_stays_paused_across_runs_and_resumes(engine):
    workflow_id = await start(engine, "qa.long_loop", {"count": 400, "delay": 0.1}, continue_after=150)
    while await temporal_runs(engine, workflow_id) < 2:
        await asyncio.sleep(0.2)
    await engine.pause(workflow_id, 7)  # the records' number for this request
    for _ in range(100):
        snap = await engine.snapshot(workflow_id, patient=False)
        if snap.status == ExecutionStatus.PAUSED:
            break
        await asyncio.sleep(0.1)
    assert snap.status == ExecutionStatus.PAUSED and snap.control == 7
    held = len(await records(engine, workflow_id))
    await asyncio.sleep(1.5)
    assert len(await records(engine, workflow_id)) == held  # nothing started while paused
    runs = await temporal_runs(engine, workflow_id)
    await engine.resume(workflow_id, 8)
    status, result = await wait_ended(engine, workflow_id, 240)
    assert status == "completed" and result["n"] == 400
    # The last request's number went along into every later run: the records can tell a report
    # from before it (mirror.apply) however many runs the execution has.
    assert await temporal_runs(engine, workflow_id) > runs
    assert (await engine.snapshot(workflow_id, patient=False)).control == 8
    steps = [x for x in await records(engine, workflow_id) if x.task_name == "step"]
    assert sorted(x.iteration for x in steps) == list(range(1, 401))


async def test_cancel_reaches_a_run_that_continued_as_new(engine):
    workflow_id = await start(engine, "qa.long_loop", {"count": 5000, "delay": 0.1}, continue_after=150)
    while await temporal_runs(engine, workflow_id) < 2:
        await asyncio.sleep(0.2)
    await engine.cancel(workflow_id)
    status, _ = await wait_ended(engine, workflow_id, 60)
    assert status == "cancelled"
