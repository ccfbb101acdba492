"""No history ceiling: a long run goes on in fresh Temporal runs (continue-as-new) under the same
workflow id, and readers (records, queries, pause, cancel) never notice. The threshold is lowered
from 10,000 events so that a few hundred tasks cross it several times."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

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


async def test_a_nested_run_continues_as_new_by_the_threshold_its_tree_was_given(engine):
    """A nested loop kept the 10,000-event default whatever the submission said
    (ATTUNE_CONTINUE_AS_NEW_AFTER): every run of a tree goes by the same threshold."""
    r = await run(engine, "qa.nested_long_loop", {"count": 120}, continue_after=150, timeout=240)
    assert r.status == "completed" and r.result["n"] == 120, r.result
    [nested] = [x for x in r.records if x.task_name == "loop"]
    assert await temporal_runs(engine, nested.child_workflow_id) >= 3


async def test_a_run_holding_its_tasks_to_continue_as_new_says_why(engine):
    """A loop that reached the threshold holds its next step until a long task beside it ends:
    it read `running`, its step current and no step running, as if hung."""
    workflow_id = await start(engine, "qa.held_loop", {"count": 100, "seconds": 25}, continue_after=60)
    for _ in range(200):
        snap = await engine.snapshot(workflow_id, patient=False)
        if snap.held and snap.held.startswith("Holding step until slow ends"):
            break
        await asyncio.sleep(0.1)
    assert snap.held and snap.held.startswith("Holding step until slow ends: its history "
                                              "passed 60 events"), snap.held
    assert "continue-as-new" in snap.held
    meta = await engine.handle(workflow_id).query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "Holding step until slow ends" in meta.current_details  # the Temporal Web UI's
    status, result = await wait_ended(engine, workflow_id, 120)
    assert status == "completed" and result["n"] == 100
    assert (await engine.snapshot(workflow_id, patient=False)).held is None


async def test_a_paused_run_stays_paused_across_runs_and_resumes(engine):
    workflow_id = await start(engine, "qa.long_loop", {"count": 200, "delay": 0.1}, continue_after=60)
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
    assert status == "completed" and result["n"] == 200
    # The last request's number went along into every later run: the records can tell a report
    # from before it (mirror.apply) however many runs the execution has.
    assert await temporal_runs(engine, workflow_id) > runs
    assert (await engine.snapshot(workflow_id, patient=False)).control == 8
    steps = [x for x in await records(engine, workflow_id) if x.task_name == "step"]
    assert sorted(x.iteration for x in steps) == list(range(1, 201))


async def test_cancel_reaches_a_run_that_continued_as_new(engine):
    workflow_id = await start(engine, "qa.long_loop", {"count": 5000, "delay": 0.1}, continue_after=150)
    while await temporal_runs(engine, workflow_id) < 2:
        await asyncio.sleep(0.2)
    await engine.cancel(workflow_id)
    status, _ = await wait_ended(engine, workflow_id, 60)
    assert status == "cancelled"


async def test_a_run_whose_history_grows_by_bytes_continues_as_new(engine):
    """Results under the blob threshold stay in the history: 300 of 200 KB passed Temporal's
    50 MB long before 10,000 events, and the run was terminated ("Workflow terminated", its
    records lost). It continues as new by size too (lowered here from 10 MiB)."""
    r = await run(engine, "qa.bulky_loop", {"count": 30, "pad": 40_000},
                  continue_after_bytes=512 * 1024, timeout=240)
    assert r.status == "completed" and r.result["n"] == 30, r.result
    assert sorted(x.iteration for x in r.tasks("step")) == list(range(1, 31))
    assert all(x.status == ExecutionStatus.COMPLETED for x in r.records)
    assert await temporal_runs(engine, r.workflow_id) >= 3


async def test_a_slice_whose_history_nears_temporals_size_limit_fails_naming_it(engine):
    """A with_items slice never continues as new: when its items' inputs and results add up
    past the guard (32 MiB; 1 MiB here), it fails saying so instead of being terminated."""
    r = await run(engine, "qa.big_items", {"count": 520, "pad": 20_000},
                  history_bytes_guard=1024 * 1024, timeout=240)
    assert r.status == "failed", r.result
    (each,) = [x for x in r.tasks("each") if x.status == ExecutionStatus.FAILED][:1]
    assert "near Temporal's limit of 50 MB: a slice of 500 with_items items keeps every item's " \
           "input and result under 64 KiB in its history" in each.result["error"], each.result
