"""How the CLI reads big runs (QA of runs with hundreds of tasks): every task record, not the
newest 100; a failed slice of a large with_items named by its failed items; a loop's runs told
apart; a cut table that says so; output cut at the cap that says how much of how much. The API
is served on a real socket on a real records database, the run reported by the scripted engine."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from sqlalchemy import select

from attune.cli.api_client import Api, _Records, follow
from attune.records.models import ExecutionRow
from attune.settings import Settings
from tests.service import test_api_values
from tests.service.fakes import FakeEngine, FakeWorkflow
from tests.service.test_api_values import _cli

served = test_api_values.served  # the API on a real socket (the CLI is another process)

T0 = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)


async def _submit(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        return (await http.post("/executions/execute", json={"action_ref": "svc.tree"})).json()["data"]


async def _submitted(url: str, app: Any) -> tuple[dict[str, Any], FakeEngine, FakeWorkflow]:
    """A svc.tree run submitted over HTTP: its record, the stand-in engine and its workflow."""
    top = await _submit(url)
    engine: FakeEngine = await app.state.attune.engine.get()
    return top, engine, engine.workflows[top["workflow_id"]]


async def _tick(app: Any, times: int = 3) -> None:
    for _ in range(times):  # nested runs' records are read once their parent's row exists
        await app.state.attune.mirror.tick()


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _hidden_failure(wf: FakeWorkflow, steps: int) -> None:
    """`slow` fails first-dispatched, then a loop's `step` runs `steps` times (QA's big.hidden)."""
    wf.record("slow.1#0", task_name="slow", action_ref="svc.sleep", status="failed", started_at=_at(0),
              ended_at=_at(25), result={"succeeded": False, "error": "SLOW BRANCH BROKE"})
    for i in range(1, steps + 1):
        wf.record(f"step.{i}#0", task_name="step", iteration=i, status="completed", started_at=_at(i),
                  ended_at=_at(i), result={"succeeded": True})


async def test_a_failed_task_older_than_the_newest_100_is_told_and_explained(served):
    url, app = served
    top, engine, wf = await _submitted(url, app)
    _hidden_failure(wf, 150)
    wf.finish("failed", error="Workflow failed: 1 task(s) failed: slow")
    await _tick(app)

    code, out, err = await _cli(url, "execution", "tail", str(top["id"]))
    assert code == 1, err
    lines = out.splitlines()
    assert "task slow (svc.sleep): failed" in lines, out  # it was never said: only the newest 100 were read
    assert any(line.startswith("task slow (svc.sleep, execution ") and line.endswith("failed: SLOW BRANCH BROKE")
               for line in lines), out
    # A loop's runs are told apart: 150 lines `task step (svc.echo): completed` read alike.
    steps = [line for line in lines if line.startswith("task step")]
    assert steps[0] == "task step (svc.echo): completed" and "task step #150 (svc.echo): completed" in steps
    assert len(set(steps)) == len(steps) == 150, steps[:5]


def _slices(engine: FakeEngine, wf: FakeWorkflow, bad: list[int]) -> str:
    """`each` over 1,000 items as two slices of 500 (nested runs), the second one failed by the
    items `bad`; item 600 failed once, then passed on its retry. Returns the failed slice's id."""
    for n, (start, status) in enumerate(((0, "completed"), (500, "failed"))):
        child = engine.add(f"{wf.workflow_id}/each.1[{start}:{start + 500}]#0", "svc.tree")
        wf.record(f"each.1[{start}:{start + 500}]#0", task_name="each", status=status,
                  child_workflow_id=child.workflow_id, started_at=_at(n), ended_at=_at(100 + n),
                  result=[{"succeeded": True}] * 500)
        for i in range(start, start + 500):
            failed = i in bad
            if i == 600:
                child.record(f"each.1[{i}]#0", task_name="each", task_index=i, status="failed",
                             started_at=_at(i / 100), result={"succeeded": False, "error": "item 600 flaked"})
                child.record(f"each.1[{i}]#1", task_name="each", task_index=i, retry_count=1,
                             status="completed", started_at=_at(i / 100 + 1), result={"succeeded": True})
                continue
            child.record(f"each.1[{i}]#0", task_name="each", task_index=i, started_at=_at(i / 100),
                         status="failed" if failed else "completed",
                         result={"succeeded": not failed, **({"error": f"item {i} is broken"} if failed else {})})
        child.finish(status, result=[{"succeeded": True}] * 500)
    return f"{wf.workflow_id}/each.1[500:1000]#0"


async def test_a_failed_slice_of_a_large_with_items_is_explained_by_its_failed_items(served):
    url, app = served
    top, engine, wf = await _submitted(url, app)
    bad = [777, 501, 990, 502, 503, 504, 505]
    _slices(engine, wf, bad)
    wf.finish("failed", error="Workflow failed: 1 task(s) failed: each")
    await _tick(app)

    code, out, err = await _cli(url, "execution", "tail", str(top["id"]))
    assert code == 1, err
    lines = out.splitlines()
    # Progress names each slice's items, not a bare `task each` (a slice is not an attempt).
    assert "task each items 0-499 (svc.echo): completed" in lines, out
    assert "task each items 500-999 (svc.echo): failed" in lines, out
    # The failure is the items' (first five by index), not `task each (…): failed` with no error.
    said = [line for line in lines if line.startswith("task each[")]
    assert [line.split(" ")[1] for line in said] == ["each[501]", "each[502]", "each[503]", "each[504]",
                                                    "each[505]"], out
    assert said[0].endswith("): failed: item 501 is broken"), said
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        slices = (await http.get("/executions", params={"parent": top["id"], "status": "failed"})).json()["items"]
    assert f"… and 2 more failed item(s): attune execution list --parent {slices[0]['id']} --status failed" in lines
    assert "item 600" not in out  # retried, then passed: it did not fail the slice


async def test_following_many_tasks_reads_only_what_changed(served):
    """The CLI polls about three times a second: reading 1,200 records each time to learn that
    one has ended is what it must not do. A record that ended long after it started (deep in
    the newest-first list) is still found."""
    url, app = served
    top, engine, wf = await _submitted(url, app)
    wf.record("slow.1#0", task_name="slow", status="running", started_at=_at(0))
    for i in range(1, 1200):
        wf.record(f"step.{i}#0", task_name="step", iteration=i, status="completed", started_at=_at(i))
    await _tick(app)
    api = Api(Settings(api_url=url))
    read: list[int] = []
    real = api.read

    def counted(path: str, **kwargs: Any) -> Any:
        body = real(path, **kwargs)
        read.append(len(body.get("items", [])))
        return body
    api.read = counted  # type: ignore[method-assign]
    records = _Records(api, top["id"])
    first = await asyncio.to_thread(records.read)
    assert len(first) == 1200 and sum(read) == 1200

    wf.record("slow.1#0", status="failed", result={"error": "late"})
    wf.record("step.1200#0", task_name="step", iteration=1200, status="completed", started_at=_at(1200))
    await _tick(app)
    read.clear()
    again = await asyncio.to_thread(records.read)
    assert len(again) == 1201 and {t["id"] for t in first} < {t["id"] for t in again}
    assert [t["status"] for t in again if t["workflow_task"]["task_name"] == "slow"] == ["failed"]
    assert sum(read) <= 2 * _Records.PAGE, read  # the running ones, the newest ended, `slow` by id
    read.clear()
    assert len(await asyncio.to_thread(records.read)) == 1201
    assert sum(read) <= _Records.PAGE, read  # nothing changed: one page


async def test_a_table_cut_to_the_terminal_says_how_many_rows_it_left_out(served):
    url, app = served
    top, engine, wf = await _submitted(url, app)
    _hidden_failure(wf, 201)
    wf.record("slow.1#0", status="running", result=None)
    await _tick(app)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, height=40)
    api = Api(Settings(api_url=url))
    following = asyncio.create_task(asyncio.to_thread(follow, api, top, console, 0.2))
    deadline = time.monotonic() + 30
    while "more task records not shown" not in screen.getvalue():
        assert not following.done() and time.monotonic() < deadline, screen.getvalue()[-3000:]
        await asyncio.sleep(0.1)
    wf.record("slow.1#0", status="failed", result={"succeeded": False, "error": "SLOW BRANCH BROKE"})
    wf.finish("failed", error="Workflow failed: 1 task(s) failed: slow")
    await _tick(app)
    assert (await asyncio.wait_for(following, 30))["status"] == "failed"
    text = screen.getvalue()
    # 40 lines: 32 rows, the running `slow` first, then the newest; the rest counted.
    assert f"… 170 more task records not shown (170 completed): attune execution list --parent {top['id']}" in text
    final = text.rsplit("┏", 1)[-1]  # the table left on screen: every row
    assert "slow" in final and "step #2 " in final and "step #201" in final and "not shown" not in final


async def test_output_cut_at_the_cap_says_how_much_was_kept_of_how_much(served):
    url, app = served
    top, engine, wf = await _submitted(url, app)
    wf.record("big.1#0", task_name="big", status="completed", result={
        "succeeded": True, "stdout": "x" * 262144, "stdout_truncated": True, "stdout_bytes": 5_100_000,
        "stderr": "e" * 1000, "stderr_truncated": True})
    wf.finish("completed", result={"succeeded": True})
    await _tick(app)
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        task = (await http.get("/executions", params={"parent": top["id"]})).json()["items"][0]["id"]
    code, out, err = await _cli(url, "execution", "get", str(task))
    assert code == 0, err
    assert "stdout cut at 256 KiB of 4.9 MiB; the rest was not kept" in out.splitlines(), out[-500:]
    # A result recorded before the total was: what was kept, no total.
    assert "stderr keeps the last 1000 B; what came before was not kept" in out.splitlines(), out[-500:]


async def test_a_slice_s_record_says_its_items_and_a_loop_s_record_its_run(served):
    """A slice's record had task_index null and nothing else: clients read the slices of a
    3,000-item task as six attempts of it, and the last one's status as the task's."""
    url, app = served
    top, engine, wf = await _submitted(url, app)
    _slices(engine, wf, [])
    wf.record("step.3#0", task_name="step", iteration=3, status="completed")
    await _tick(app)
    with app.state.attune.db.session() as s:
        stored = [row.workflow_task for row in s.scalars(select(ExecutionRow).where(ExecutionRow.parent == top["id"]))]
    assert sorted(((t["task_name"], t["iteration"], t.get("items_span")) for t in stored), key=str) == [
        ("each", 1, [0, 500]), ("each", 1, [500, 1000]), ("step", 3, None)]
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        listed = (await http.get("/executions", params={"parent": top["id"]})).json()["items"]
    assert sorted((t["workflow_task"]["iteration"], t["workflow_task"]["items_span"]) for t in listed) == [
        (1, [0, 500]), (1, [500, 1000]), (3, None)]
