"""`local: true` actions: Temporal local activities inside the orchestrator, same semantics."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest
from temporalio.api.enums.v1 import EventType

from attune.engine.client import EngineClient
from tests.engine.helpers import records, run, start

# Runtime queues nobody polls: a queued action would wait forever, a local one runs anyway.
NOBODY = "nobody"


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


async def _history_events(engine: EngineClient, workflow_id: str) -> list:
    return (await engine.handle(workflow_id).fetch_history()).events


async def test_local_actions_of_every_runtime_run_without_a_runtime_worker(engine, action_tmp):
    workflow_id = await start(engine, "qa.local_chain", {"start": 2, "tmp": str(action_tmp)},
                              queue_prefix=NOBODY)
    # Everything but the last task is local; `queued` waits for an attune-less "nobody-shell"
    # worker, so the run stops there: proof that the others never needed a runtime queue.
    for _ in range(100):
        recs = await records(engine, workflow_id)
        if any(r.task_name == "queued" for r in recs):
            break
        await asyncio.sleep(0.1)
    by_task = {r.task_name: r for r in recs}
    assert by_task["a"].status == by_task["b"].status == "completed"
    assert by_task["b"].result["data"] == {"value": 21, "runtime": "node"}
    assert by_task["slow"].status == "timeout"
    assert by_task["secret"].result["data"] == {"length": len("local-s3cret")}
    assert by_task["queued"].status == "scheduled"
    await engine.handle(workflow_id).terminate("test over")  # `queued` would wait forever


async def test_local_chain_semantics_match_queued_actions(engine, action_tmp):
    r = await run(engine, "qa.local_chain", {"start": 2, "tmp": str(action_tmp)})
    assert r.status == "completed", r.result
    assert r.result == {"a": 20, "b": 21, "runtime": "node", "attempts": 2, "slow_timed_out": True,
                        "secret_length": len("local-s3cret"), "last": "after 2 attempts",
                        "succeeded": True}
    flaky = r.tasks("flaky")
    assert [(x.retry_count, x.status) for x in flaky] == [(0, "failed"), (1, "completed")]
    assert flaky[1].original_key == flaky[0].key
    assert flaky[0].result["error"] == "attempt 1 failed"
    slow = r.tasks("slow")[0]
    assert (slow.ended_at - slow.started_at).total_seconds() < 10  # killed at its 1 s timeout
    assert r.tasks("queued")[0].triggered_by in {"flaky", "slow", "secret"}
    events = await _history_events(engine, r.workflow_id)
    kinds = [e.event_type for e in events]
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    # Only `queued` went to a runtime queue (a checkpoint, if any, is the orchestrator's own).
    assert [name for name in scheduled if name != "checkpoint"] == ["run_action"]
    assert kinds.count(EventType.EVENT_TYPE_MARKER_RECORDED) >= 6  # local activity results
    raw = b"".join(e.SerializeToString() for e in events)
    assert b"local-s3cret" not in raw  # sealed for local actions too
    assert "local-s3cret" not in json.dumps([x.model_dump(mode="json") for x in r.records])


async def test_plain_local_action(engine):
    r = await run(engine, "qa.local_echo", {"message": "hi"}, queue_prefix=NOBODY)
    assert r.status == "completed"
    assert r.result["data"] == {"message": "hi"}
    assert [x.status for x in r.records] == ["completed"]


async def test_local_with_items_closes_its_workflow_task_as_it_goes(engine):
    r = await run(engine, "qa.local_wide", {"count": 120}, queue_prefix=NOBODY)
    assert r.status == "completed", r.result
    assert r.result == {"values": list(range(120)), "succeeded": True}
    assert sorted(x.task_index for x in r.records) == list(range(120))
    events = await _history_events(engine, r.workflow_id)
    # ~0.5 s of local work in all: at least one checkpoint (a no-op activity on the orchestrator's
    # queue) closed the task between the first and the last item, so queries got through.
    checkpoints = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                   and e.activity_task_scheduled_event_attributes.activity_type.name == "checkpoint"]
    assert checkpoints
    assert all(e.activity_task_scheduled_event_attributes.task_queue.name == "attune-orchestrator"
               for e in checkpoints)
    kinds = [e.event_type for e in events]
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) >= 2


async def test_a_task_timeout_over_the_local_limit_is_refused(engine, tmp_path):
    """A local action may run 60 s at most (no heartbeats inside the orchestrator); a task
    `timeout` of 120 ran on regardless. A literal one is a load error, a templated one refuses
    the task when it renders."""
    from attune.packs.loader import validate_path
    from tests.engine.helpers import TEST_PACKS

    r = await run(engine, "qa.local_long")
    assert r.status == "failed"
    assert r.tasks("t")[0].result["error"] == (
        "task 't': timeout 120 s is over the 60 s a local action may run (it runs inside the "
        "orchestrator, without heartbeats): give the task a shorter timeout")
    assert (await run(engine, "qa.local_long", {"limit": 30})).status == "completed"
    pack = tmp_path / "qa"
    shutil.copytree(TEST_PACKS / "qa", pack)
    flow = pack / "actions" / "workflows" / "local_long.workflow.yaml"
    flow.write_text(flow.read_text().replace('"{{ parameters.limit }}"', "120"))
    assert [p.message for p in validate_path(pack)] == [
        "'qa.local_sleep' is a local action, which may run at most 60 s (inside the orchestrator, "
        "without heartbeats): this timeout is 120 s"]
