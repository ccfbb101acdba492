"""The Temporal → SQL mirror against a scripted engine: the record tree, idempotence, outages,
reconciliation of workflows that ended outside their control."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from attune.contract import RunEnd
from attune.records.models import ExecutionRow, WorkflowExecutionRow
from tests.service.fakes import FakeEngine, FakeWorkflow
from tests.service.test_api_executions import submit


async def tick(api: httpx.AsyncClient) -> None:
    await api.app.state.attune.mirror.tick()


async def children(api: httpx.AsyncClient, parent: int) -> list[dict]:
    items = (await api.get("/executions", params={"parent": parent, "per_page": 1000})).json()["items"]
    return sorted(items, key=lambda e: e["id"])


async def get(api: httpx.AsyncClient, execution_id: int) -> dict:
    return (await api.get(f"/executions/{execution_id}")).json()["data"]


def run_tree(wf: FakeWorkflow, child: FakeWorkflow) -> None:
    """What the engine would report for svc.tree: a task, 3 items, 2 attempts, a nested workflow."""
    wf.record("hello.1#0", task_name="hello", status="completed", result={"succeeded": True, "stdout": "hello"})
    for i in range(3):
        wf.record(f"each.1[{i}]#0", task_name="each", task_index=i, triggered_by="hello",
                  parameters={"message": f"n{i}"}, status="completed", result={"succeeded": True})
    wf.record("flaky.1#0", task_name="flaky", action_ref="svc.fail", triggered_by="hello", status="failed")
    wf.record("flaky.1#1", task_name="flaky", action_ref="svc.fail", triggered_by="hello", status="failed",
              retry_count=1, original_key=f"{wf.workflow_id}/flaky.1#0")
    wf.record("inner.1#0", task_name="inner", action_ref="svc.chain", status="running",
              child_workflow_id=child.workflow_id, parameters={"message": "from tree"})
    child.record("first.1#0", task_name="first", status="completed")
    child.record("wait.1#0", task_name="wait", action_ref="svc.sleep", status="running", triggered_by="first")
    wf.current_tasks, wf.completed_tasks, wf.failed_tasks = ["inner"], ["hello", "each"], ["flaky"]
    wf.variables = {"greeting": "hello"}


async def test_workflow_tree_is_mirrored_with_links(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    child = fake_engine.add(f"{top['workflow_id']}/inner", "svc.chain")
    run_tree(wf, child)
    await tick(svc_api)

    assert (await get(svc_api, top["id"]))["status"] == "running"
    tasks = await children(svc_api, top["id"])
    assert [(t["workflow_task"]["task_name"], t["workflow_task"]["task_index"], t["retry_count"]) for t in tasks] == [
        ("hello", None, 0), ("each", 0, 0), ("each", 1, 0), ("each", 2, 0),
        ("flaky", None, 0), ("flaky", None, 1), ("inner", None, 0)]
    view = (await svc_api.get(f"/executions/{top['id']}/workflow")).json()["data"]
    assert all(t["workflow_task"]["workflow_execution"] == view["id"] for t in tasks)
    assert tasks[1]["workflow_task"]["triggered_by"] == "hello" and tasks[2]["config"] == {"message": "n1"}
    assert tasks[5]["original_execution"] == tasks[4]["id"] and tasks[4]["original_execution"] is None
    assert view["current_tasks"] == ["inner"] and view["failed_tasks"] == ["flaky"]
    assert view["variables"] == {"greeting": "hello"} and view["status"] == "running"
    # in creation order (`inner`, dispatched before the mirror wrote the others, which say no
    # start, comes first), not by id
    assert [t["id"] for t in view["tasks"]] == [t["id"] for t in sorted(tasks, key=lambda t: (t["created"], t["id"]))]

    nested = tasks[6]
    assert nested["action_ref"] == "svc.chain" and nested["workflow_id"] == child.workflow_id
    inner_tasks = await children(svc_api, nested["id"])
    assert [(t["workflow_task"]["task_name"], t["status"]) for t in inner_tasks] == [("first", "completed"), ("wait", "running")]
    nested_view = (await svc_api.get(f"/executions/{nested['id']}/workflow")).json()["data"]
    assert nested_view["workflow_id"] == child.workflow_id
    assert all(t["workflow_task"]["workflow_execution"] == nested_view["id"] for t in inner_tasks)

    # Both finish; the top-level record gets the workflow's result.
    child.record("wait.1#0", status="completed")
    child.finish("completed", {"said": "from tree", "succeeded": True})
    wf.record("inner.1#0", status="completed", result={"said": "from tree", "succeeded": True})
    wf.finish("completed", {"greeting": "hello", "succeeded": True})
    await tick(svc_api)
    done = await get(svc_api, top["id"])
    assert done["status"] == "completed" and done["result"] == {"greeting": "hello", "succeeded": True}
    assert done["ended_at"] is not None
    assert [t["status"] for t in await children(svc_api, nested["id"])] == ["completed", "completed"]
    assert (await svc_api.get(f"/executions/{nested['id']}/workflow")).json()["data"]["status"] == "completed"
    total = (await svc_api.get("/executions")).json()["pagination"]["total_items"]
    assert total == 1 + 7 + 2

    # Finished workflows are no longer polled.
    calls = fake_engine.snapshot_calls
    await tick(svc_api)
    assert fake_engine.snapshot_calls == calls


async def test_a_pass_that_finds_a_tree_ended_writes_its_nested_records_before_its_end(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass read the top run and its nested runs side by side: the top's end could be written
    (and a reader waiting for it woken, `attune run` then looking for why it failed) while a
    nested run's records still read `running`."""
    from attune.records.mirror import apply as apply_module

    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    child = fake_engine.add(f"{top['workflow_id']}/inner", "svc.chain")
    run_tree(wf, child)
    await tick(svc_api)
    nested = [t for t in await children(svc_api, top["id"]) if t["workflow_id"] == child.workflow_id][0]
    seen: list[list[str]] = []  # the nested run's task statuses as the top row ends
    real = apply_module.apply_snapshot

    def watched(db, target, snap):
        if target.execution_id == top["id"] and snap.status in ("completed", "failed"):
            with db.session() as s:
                seen.append(sorted(s.scalars(select(ExecutionRow.status).where(
                    ExecutionRow.parent == nested["id"]))))
        return real(db, target, snap)

    monkeypatch.setattr(apply_module, "apply_snapshot", watched)
    child.record("wait.1#0", status="failed", result={"succeeded": False, "error": "boom"})
    child.finish("failed", error="Workflow failed: 1 task(s) failed: wait")
    wf.record("inner.1#0", status="failed", result={"succeeded": False, "error": "nested failed"})
    wf.finish("failed", error="Workflow failed: 1 task(s) failed: inner")
    await tick(svc_api)
    assert seen and seen[0] == ["completed", "failed"], seen
    assert (await get(svc_api, top["id"]))["status"] == "failed"


async def test_rereading_from_an_old_seq_duplicates_nothing(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    run_tree(wf, fake_engine.add("child-x", "svc.chain"))
    await tick(svc_api)
    before = [(t["id"], t["status"]) for t in await children(svc_api, top["id"])]
    # As after an API restart that lost its last commit: the seq goes back to 0.
    db = svc_api.app.state.attune.db
    with db.session() as s:
        s.execute(update(WorkflowExecutionRow).values(seq=0))
    await tick(svc_api)
    assert [(t["id"], t["status"]) for t in await children(svc_api, top["id"])] == before
    assert (await svc_api.get("/executions")).json()["pagination"]["total_items"] == 1 + 7 + 2


async def test_long_histories_are_read_page_by_page_in_one_pass(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    fake_engine.page_size = 3
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    for i in range(10):
        wf.record(f"each.1[{i}]#0", task_name="each", task_index=i, status="completed")
    wf.finish("completed", {"succeeded": True})
    await tick(svc_api)
    assert len(await children(svc_api, top["id"])) == 10
    assert (await get(svc_api, top["id"]))["status"] == "completed"


async def test_plain_action_is_mirrored_onto_its_own_record(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.echo", message="m")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("echo.1#0", status="running")
    await tick(svc_api)
    running = await get(svc_api, top["id"])
    assert running["status"] == "running" and running["started_at"] is not None
    wf.record("echo.1#0", status="failed", result={"succeeded": False, "exit_code": 3, "error": "bad"})
    wf.finish("failed", error="bad")
    await tick(svc_api)
    done = await get(svc_api, top["id"])
    assert done["status"] == "failed" and done["result"]["exit_code"] == 3
    assert await children(svc_api, top["id"]) == []
    assert done["config"] == {"message": "m", "times": 1, "mode": "plain", "token": "********"}


async def test_plain_action_timeout_keeps_the_precise_status(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.sleep")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("sleep.1#0", status="timeout", result={"succeeded": False, "error": "timed out"})
    wf.finish("failed", error="timed out")
    await tick(svc_api)
    assert (await get(svc_api, top["id"]))["status"] == "timeout"


async def test_terminated_workflow_is_reconciled(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    svc_api.app.state.attune.mirror.status_check_interval = 0
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    child = fake_engine.add("nested-1", "svc.chain")
    run_tree(wf, child)
    await tick(svc_api)
    # Terminated from outside: the engine's query still shows it running, describe says otherwise.
    wf.outcome = RunEnd(status="failed", external=True,
                        result={"error": "Workflow terminated", "succeeded": False})
    child.outcome = RunEnd(status="failed", external=True)
    await tick(svc_api)
    record = await get(svc_api, top["id"])
    assert record["status"] == "failed" and record["result"] == {"error": "Workflow terminated", "succeeded": False}
    tasks = await children(svc_api, top["id"])
    assert [t["status"] for t in tasks] == ["completed"] * 4 + ["failed", "failed", "abandoned"]
    assert [t["status"] for t in await children(svc_api, tasks[6]["id"])] == ["completed", "abandoned"]
    view = (await svc_api.get(f"/executions/{top['id']}/workflow")).json()["data"]
    assert view["status"] == "failed" and view["error_message"] == "Workflow terminated"
    calls = fake_engine.snapshot_calls
    await tick(svc_api)
    assert fake_engine.snapshot_calls == calls  # nothing left to poll


async def test_a_run_the_server_has_open_costs_one_describe_a_read(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    """Each read of a running run described it twice: once for its changes, and once more to
    learn whether it had ended from outside, which the first describe already says."""
    svc_api.app.state.attune.mirror.status_check_interval = 0
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("hello.1#0", status="running")
    for _ in range(3):
        await tick(svc_api)
    assert fake_engine.snapshot_calls == 3 and fake_engine.status_calls == 0
    wf.outcome = RunEnd(status="failed", external=True,  # the server says closed: ask how
                        result={"error": "Workflow terminated", "succeeded": False})
    await tick(svc_api)
    assert fake_engine.status_calls >= 1  # (its completion watcher may read it once more)
    assert (await get(svc_api, top["id"]))["status"] == "failed"


async def test_workflow_gone_from_the_server_fails_its_record(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.echo", message="m")
    del fake_engine.workflows[top["workflow_id"]]
    await tick(svc_api)
    record = await get(svc_api, top["id"])
    assert record["status"] == "failed" and "not found" in record["result"]["error"]


async def test_canceling_is_not_overwritten_by_a_stale_running(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.tree")
    fake_engine.workflows[top["workflow_id"]].record("hello.1#0", status="running")
    await svc_api.post(f"/executions/{top['id']}/cancel")
    await tick(svc_api)
    assert (await get(svc_api, top["id"]))["status"] == "canceling"


async def test_database_outage_is_logged_once_and_caught_up(svc_api: httpx.AsyncClient, fake_engine: FakeEngine,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("hello.1#0", status="running")
    await tick(svc_api)
    engine = svc_api.app.state.attune.db.engine

    def down(*_args: object) -> None:
        raise OperationalError("SELECT", {}, ConnectionError("database is down"))

    event.listen(engine, "before_cursor_execute", down)
    try:
        with caplog.at_level(logging.WARNING, logger="attune.mirror"):
            wf.record("hello.1#0", status="completed")
            await tick(svc_api)
            wf.record("each.1[0]#0", task_name="each", task_index=0, status="completed")
            wf.finish("completed", {"succeeded": True})
            await tick(svc_api)
        # Only the mirror's own records: the session's workers may log about other tests' runs.
        logged = [r.getMessage() for r in caplog.records if r.name == "attune.mirror"]
        assert len(logged) == 1 and "database unreachable" in logged[0]
    finally:
        event.remove(engine, "before_cursor_execute", down)
    await tick(svc_api)
    assert (await get(svc_api, top["id"]))["status"] == "completed"
    assert [t["status"] for t in await children(svc_api, top["id"])] == ["completed", "completed"]


async def test_a_write_that_keeps_meeting_other_writers_is_not_a_database_outage(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers inserting the same row are retried once (test_mirror_apply, at_once); a third
    meeting them again leaves that run to the next pass, without calling the database down or
    holding up the other runs of the pass."""
    from attune.records.mirror import apply

    stuck, moving = await submit(svc_api, "svc.echo", message="a"), await submit(svc_api, "svc.echo", message="b")
    for run in (stuck, moving):
        fake_engine.workflows[run["workflow_id"]].record("echo.1#0", status="running")
    real = apply.apply_snapshot

    def conflicting(db: object, target: apply.Target, snap: object) -> list[int]:
        if target.execution_id == stuck["id"]:
            raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: executions.key"))
        return real(db, target, snap)  # type: ignore[arg-type]

    monkeypatch.setattr(apply, "apply_snapshot", conflicting)
    with caplog.at_level(logging.WARNING, logger="attune.mirror"):
        await tick(svc_api)
    logged = [r.getMessage() for r in caplog.records if r.name == "attune.mirror"]
    assert not any("unreachable" in m for m in logged), logged
    assert any(stuck["workflow_id"] in m and "IntegrityError" in m for m in logged), logged
    assert (await get(svc_api, moving["id"]))["status"] == "running"
    monkeypatch.setattr(apply, "apply_snapshot", real)
    await tick(svc_api)
    assert (await get(svc_api, stuck["id"]))["status"] == "running"


async def test_engine_outage_is_survived(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.echo", message="m")
    fake_engine.down = True
    await tick(svc_api)
    fake_engine.down = False
    fake_engine.workflows[top["workflow_id"]].record("echo.1#0", status="completed", result={"succeeded": True})
    fake_engine.workflows[top["workflow_id"]].finish("completed", {"succeeded": True})
    await tick(svc_api)
    assert (await get(svc_api, top["id"]))["status"] == "completed"


@pytest.mark.parametrize("started", [True, False])
async def test_a_row_left_requested_is_settled(svc_api: httpx.AsyncClient, fake_engine: FakeEngine, started: bool) -> None:
    db = svc_api.app.state.attune.db
    with db.session() as s:
        row = ExecutionRow(action_ref="svc.echo", status="requested", config={}, retry_count=0,
                           mirror_seq=0, workflow_id="svc.echo-orphan")
        s.add(row)
        s.flush()
        row.created = row.created - timedelta(minutes=5)
        row_id = row.id
    if started:
        fake_engine.add("svc.echo-orphan", "svc.echo")
    await tick(svc_api)
    assert (await get(svc_api, row_id))["status"] == ("scheduled" if started else "failed")


async def test_the_background_mirror_updates_records_within_a_second(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    top = await submit(svc_api, "svc.echo", message="m")
    mirror = svc_api.app.state.attune.mirror
    mirror.start()
    try:
        fake_engine.workflows[top["workflow_id"]].record("echo.1#0", status="running")
        for _ in range(20):
            await asyncio.sleep(0.05)
            if (await get(svc_api, top["id"]))["status"] == "running":
                break
        assert (await get(svc_api, top["id"]))["status"] == "running"
    finally:
        await mirror.stop()


async def test_a_waiting_reader_is_woken_by_writes_to_its_own_row_only(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    mirror = svc_api.app.state.attune.mirror
    echo = await submit(svc_api, "svc.echo", message="m")
    tree = await submit(svc_api, "svc.tree")
    tree_wf = fake_engine.workflows[tree["workflow_id"]]
    tree_wf.record("hello.1#0", task_name="hello", status="running")
    await tick(svc_api)
    hello = (await children(svc_api, tree["id"]))[0]

    def waiting(execution_id: int) -> asyncio.Task:
        return asyncio.create_task(mirror.wait_for_change(execution_id, 5))

    echo_reader, hello_reader = waiting(echo["id"]), waiting(hello["id"])
    await asyncio.sleep(0.05)
    fake_engine.workflows[echo["workflow_id"]].record("echo.1#0", status="running")
    await tick(svc_api)  # writes the echo row, and the tree's own row, not its task rows
    await asyncio.sleep(0.05)
    assert echo_reader.done() and not hello_reader.done()
    tree_wf.record("hello.1#0", task_name="hello", status="completed")
    await tick(svc_api)
    await asyncio.wait_for(hello_reader, 1)
    assert mirror.changes.waiting == 0  # nobody left registered


def _later(mirror, seconds: float) -> None:
    """As if `seconds` had passed since each run's last read."""
    mirror._last_read = {w: at - seconds for w, at in mirror._last_read.items()}


async def test_with_many_runs_in_flight_the_longest_unread_are_read_first_within_the_budget(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from attune.records.mirror import scheduler as mirror_module

    mirror = svc_api.app.state.attune.mirror
    # A tick is 0.05 s here: 40 reads a second allow 2 a tick.
    monkeypatch.setattr(mirror_module, "READS_PER_SECOND", 40)
    runs = [await submit(svc_api, "svc.echo", message=str(i)) for i in range(3)]
    await tick(svc_api)
    assert fake_engine.snapshot_calls == 2
    fake_engine.workflows[runs[2]["workflow_id"]].record("echo.1#0", status="running")
    _later(mirror, 1)
    await tick(svc_api)  # the one never read goes first, then one of the two read longest ago
    assert fake_engine.snapshot_calls == 4 and (await get(svc_api, runs[2]["id"]))["status"] == "running"
    _later(mirror, 1)
    await tick(svc_api)
    assert fake_engine.snapshot_calls == 6
    monkeypatch.setattr(mirror_module, "READS_PER_SECOND", 200)  # room for all: every tick reads all
    _later(mirror, 1)
    await tick(svc_api)
    assert fake_engine.snapshot_calls == 9


async def test_a_quiet_run_is_read_less_often_down_to_the_slowest_rate_and_at_once_when_it_moves(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from attune.records.mirror import scheduler as mirror_module

    mirror = svc_api.app.state.attune.mirror
    # Ticks of 1 s (time is shifted below, not waited for), reads of a quiet run at most 8 s apart.
    monkeypatch.setattr(mirror, "interval", 1.0)
    monkeypatch.setattr(mirror_module, "QUIET_READ_EVERY", 8.0)
    fake_engine.quiet_reads = True
    run = await submit(svc_api, "svc.echo", message="hi")
    wf = fake_engine.workflows[run["workflow_id"]]
    wf.record("echo.1#0", status="scheduled")
    await tick(svc_api)  # it has records: not quiet
    for _ in range(mirror_module.QUIET_AFTER):  # quiet, but for too short a time to matter yet
        await tick(svc_api)
    reads = fake_engine.snapshot_calls
    assert reads == 1 + mirror_module.QUIET_AFTER
    for gap in (2, 4, 8, 8):  # then each quiet read doubles the time to the next, up to 8 s
        _later(mirror, gap - 1)
        await tick(svc_api)
        assert fake_engine.snapshot_calls == reads, f"read {gap - 1} s after a quiet read"
        _later(mirror, 1)
        await tick(svc_api)
        assert fake_engine.snapshot_calls == reads + 1, f"not read {gap} s after a quiet read"
        reads += 1
    wf.record("echo.1#0", status="running")  # it moves: seen at the next slow read...
    _later(mirror, 8)
    await tick(svc_api)
    assert (await get(svc_api, run["id"]))["status"] == "running"
    await tick(svc_api)  # ...and read every tick again while it changes
    assert fake_engine.snapshot_calls == reads + 2


async def test_a_steered_run_is_read_at_the_next_tick_however_quiet_it_was(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    mirror = svc_api.app.state.attune.mirror
    fake_engine.quiet_reads = True
    run = await submit(svc_api, "svc.tree")
    fake_engine.workflows[run["workflow_id"]].record("hello.1#0", task_name="hello", status="running")
    for _ in range(6):
        _later(mirror, 10)
        await tick(svc_api)
    reads = fake_engine.snapshot_calls
    await tick(svc_api)
    assert fake_engine.snapshot_calls == reads  # quiet: not read again so soon
    for verb in ("pause", "resume", "cancel"):
        assert (await svc_api.post(f"/executions/{run['id']}/{verb}")).status_code == 200, verb
        await tick(svc_api)
        assert fake_engine.snapshot_calls == reads + 1, verb
        reads = fake_engine.snapshot_calls


async def test_stop_ends_the_mirror_even_if_a_cancel_is_swallowed(svc_api: httpx.AsyncClient) -> None:
    # What asyncio.wait_for does on Python < 3.12 when the cancel lands as its inner await
    # finishes (CPython gh-86296): the API's shutdown then waited for the mirror forever.
    mirror = svc_api.app.state.attune.mirror
    ticks = 0

    async def tick_that_swallows_a_cancel() -> None:
        nonlocal ticks
        ticks += 1
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            pass

    mirror.tick = tick_that_swallows_a_cancel
    mirror.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(mirror.stop(), 5)
    assert ticks >= 1 and mirror._task is None


async def test_a_stuck_run_is_reported_as_stuck_not_as_an_outage(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine, caplog: pytest.LogCaptureFixture) -> None:
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("hello.1#0", task_name="hello", status="running")
    await tick(svc_api)
    why = "the workflow task keeps failing (attempt 4); nothing can move until this is fixed: boom"
    wf.stuck = why
    with caplog.at_level(logging.WARNING, logger="attune.mirror"):
        for _ in range(3):
            await tick(svc_api)
    record = await get(svc_api, top["id"])
    assert record["status"] == "running" and record["status_detail"] == why
    assert [r.getMessage() for r in caplog.records] == [f"mirror: {top['workflow_id']} is stuck: {why}"]
    assert [t["status"] for t in await children(svc_api, top["id"])] == ["running"]  # kept
    wf.stuck = None
    wf.record("hello.1#0", task_name="hello", status="completed")
    await tick(svc_api)
    record = await get(svc_api, top["id"])
    assert record["status_detail"] is None
    assert [t["status"] for t in await children(svc_api, top["id"])] == ["completed"]


async def test_readers_waiting_for_ends_cost_one_query_a_sweep_and_see_ends_written_elsewhere(
        svc_api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each reader re-read its row every second: with 200 runs waited on (bench rest200) that cost
    the API more CPU than the mirror. One query over all waited rows now finds the ends that
    this mirror did not write (a cancel, another API's mirror); its own writes wake at once."""
    from attune.records.mirror import scheduler as mirror_module

    monkeypatch.setattr(mirror_module, "SWEEP_EVERY", 0.2)
    state = svc_api.app.state.attune
    runs = [await submit(svc_api, "svc.echo", message=str(i)) for i in range(20)]
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    readers = [asyncio.create_task(svc_api.get(f"/executions/{r['id']}", params={"wait": 20}))
               for r in runs]
    deadline = time.monotonic() + 30  # every reader has read its row once and waits (on a busy
    while state.mirror.changes.waiting < len(runs):  # machine that can take well over 0.5 s)
        assert time.monotonic() < deadline, f"{state.mirror.changes.waiting} readers wait"
        await asyncio.sleep(0.02)
    event.listen(state.db.engine, "before_cursor_execute", count)
    try:
        await asyncio.sleep(1.5)
    finally:
        event.remove(state.db.engine, "before_cursor_execute", count)
    assert 4 <= len(statements) <= 10, statements  # the sweeps: ~7, not 20 readers x re-reads
    with state.db.session() as s:  # an end written by someone else
        s.execute(update(ExecutionRow).where(ExecutionRow.id == runs[0]["id"]).values(status="cancelled"))
    answer = await asyncio.wait_for(readers[0], 2)
    assert answer.json()["data"]["status"] == "cancelled"
    await asyncio.sleep(0.3)
    assert not any(r.done() for r in readers[1:])
    for r in readers[1:]:
        r.cancel()
    await asyncio.gather(*readers[1:], return_exceptions=True)


async def test_a_secret_passed_on_whole_shows_redacted_not_as_its_sealed_token(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    """An output_map or publish may pass a secret on whole: it travels sealed (a parent can hand
    it to its tasks), and every API answer shows ******** where it is, not the sealed token."""
    sealed = {"__attune_secret__": "gAAAAABsealedtoken"}
    top = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("hello.1#0", task_name="hello", status="completed",
              result={"succeeded": True, "data": {"key_back": sealed}}, parameters={"token": sealed})
    wf.variables = {"token": sealed, "plain": "x"}
    wf.finish("completed", {"direct": sealed, "nested": [{"k": sealed}], "succeeded": True})
    await tick(svc_api)
    done = await get(svc_api, top["id"])
    assert done["result"] == {"direct": "********", "nested": [{"k": "********"}], "succeeded": True}
    task, = await children(svc_api, top["id"])
    assert task["result"]["data"] == {"key_back": "********"} and task["config"] == {"token": "********"}
    view = (await svc_api.get(f"/executions/{top['id']}/workflow")).json()["data"]
    assert view["variables"] == {"token": "********", "plain": "x"}
    listed = (await svc_api.get("/executions", params={"per_page": 5})).json()["items"]
    assert "__attune_secret__" not in str(listed) and "__attune_secret__" not in str(view)
