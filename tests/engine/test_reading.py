"""Reading a closed run: the final snapshot every run leaves in its memo lets a reader skip the
query, which on a closed run replays its whole history on a worker."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHandle

from attune.engine.client import EngineClient
from attune.engine.workflow import FINAL_MEMO
from tests.engine.helpers import run


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


async def test_closed_run_is_read_from_its_memo_without_a_query(engine, monkeypatch):
    r = await run(engine, "qa.sequence", {"start": 2})
    final = await (await engine.handle(r.workflow_id).describe()).memo_value(FINAL_MEMO)
    assert final["covers_since"] == 0 and len(final["records"]) == 3

    async def no_query(*args, **kwargs):
        raise AssertionError("a closed run with a final memo was queried")

    monkeypatch.setattr(WorkflowHandle, "query", no_query)
    fresh = EngineClient(engine.client, engine.task_queue, engine.secret_key)
    snap = await fresh.snapshot(r.workflow_id, since=0)
    assert snap.status == "completed" and snap.result == r.result
    assert [x.model_dump() for x in snap.records] == [
        x.model_dump() for x in sorted(r.records, key=lambda x: x.seq)]
    assert snap.completed_tasks == ["a", "b", "c"]
    later = await fresh.snapshot(r.workflow_id, since=snap.seq)
    assert later.records == [] and later.status == "completed"


async def test_a_reader_behind_the_memo_tail_falls_back_to_the_query(engine):
    r = await run(engine, "qa.wide", {"count": 120, "pad": "x" * 400})
    assert r.status == "completed", r.result
    assert r.result == {"n": 120, "succeeded": True}
    assert sorted(x.task_index for x in r.records) == list(range(120))
    final = await (await engine.handle(r.workflow_id).describe()).memo_value(FINAL_MEMO)
    assert 0 < final["covers_since"] < final["seq"]  # only the latest changes fit
    fresh = EngineClient(engine.client, engine.task_queue, engine.secret_key)
    all_records = await fresh.records(r.workflow_id)  # since=0: needs the query
    assert len(all_records) == len(r.records)
    tail = await fresh.snapshot(r.workflow_id, since=final["covers_since"])
    assert {x.key for x in tail.records} == {x["key"] for x in final["records"]}


async def test_a_snapshot_says_whether_the_server_has_the_run_open(engine):
    """The mirror asked the server a second time, per read, whether a run had ended from outside;
    the snapshot's own describe answers that (server_open), so a running run costs one."""
    from tests.engine.helpers import start, wait_ended

    workflow_id = await start(engine, "qa.sleep", {"seconds": 30})
    try:
        snap = await engine.snapshot(workflow_id, patient=False)
        assert snap.server_open is True and snap.status not in ("completed", "failed")
        again = await engine.snapshot(workflow_id, since=snap.seq)  # the cached, unchanged answer
        assert again.server_open is True
    finally:
        await engine.handle(workflow_id).terminate("test over")
    await wait_ended(engine, workflow_id)
    ended = await engine.snapshot(workflow_id, since=snap.seq)
    assert ended.server_open is False
    done = await run(engine, "qa.sequence", {"start": 1})
    assert (await engine.snapshot(done.workflow_id)).server_open is False


async def test_a_read_that_finds_the_run_as_before_is_quiet_and_one_after_a_change_is_not(engine):
    """The records mirror reads quiet runs less often: quiet must mean the server shows the run
    exactly as at the previous read, and anything new (here a signal) must end it."""
    import asyncio

    from tests.engine.helpers import start, wait_ended

    workflow_id = await start(engine, "qa.sleep", {"seconds": 30})
    try:
        snap = await engine.snapshot(workflow_id, patient=False)
        for _ in range(100):  # until its start has settled (first task, the sleep dispatched)
            await asyncio.sleep(0.1)
            snap = await engine.snapshot(workflow_id, since=snap.seq, patient=False)
            if snap.quiet:
                break
        assert snap.quiet and snap.unchanged and snap.records == []
        await engine.pause(workflow_id, 1)
        await asyncio.sleep(0.3)
        moved = await engine.snapshot(workflow_id, since=snap.seq, patient=False)
        assert not moved.quiet
    finally:
        await engine.handle(workflow_id).terminate("test over")
    await wait_ended(engine, workflow_id)
