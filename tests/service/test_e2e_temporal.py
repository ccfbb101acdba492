"""End to end on the real Temporal stack (tests/conftest.py `temporal_stack`): the API submits,
real workers run the svc pack, and the mirror keeps the records in step."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from attune.settings import Settings
from attune.statuses import TERMINAL as TERMINAL_STATUSES
from tests.engine.helpers import wait_ended
from tests.service.conftest import SVC_PACK, running_api

pytestmark = [pytest.mark.temporal, pytest.mark.slow]


@pytest.fixture
def live_settings(settings: Settings, stack: Any) -> Settings:
    return settings.model_copy(update={"temporal_address": stack.address, "mirror_interval": 0.25})


async def register(api: httpx.AsyncClient) -> None:
    assert (await api.post("/packs/register", json={"path": str(SVC_PACK)})).status_code == 200


async def submit(api: httpx.AsyncClient, ref: str, **params: Any) -> dict:
    response = await api.post("/executions/execute", json={"action_ref": ref, "parameters": params})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def wait_for(api: httpx.AsyncClient, execution_id: int, ok: Callable[[dict], bool],
                   timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = (await api.get(f"/executions/{execution_id}")).json()["data"]
        if ok(record):
            return record
        assert time.monotonic() < deadline, f"timed out waiting; last record: {record}"
        await asyncio.sleep(0.1)


def ended(record: dict) -> bool:
    return record["status"] in TERMINAL_STATUSES


async def tree_of(api: httpx.AsyncClient, execution_id: int) -> list[dict]:
    items = (await api.get("/executions", params={"parent": execution_id, "per_page": 1000})).json()["items"]
    return sorted(items, key=lambda e: e["id"])


async def test_workflow_runs_to_completion_with_its_full_record_tree(live_settings: Settings, stack: Any) -> None:
    # `None` = the real EngineClient, connected on first use.
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.tree", token="hunter2")
        assert top["config"]["token"] == "********"
        record = await wait_for(api, top["id"], ended)
        assert record["status"] == "completed", record
        assert record["result"]["succeeded"] is True and record["result"]["greeting"] == "hello"
        tasks = await tree_of(api, top["id"])
        names = [t["workflow_task"]["task_name"] for t in tasks]
        assert sorted(names) == ["each", "each", "each", "flaky", "flaky", "hello", "inner"]
        assert all(ended(t) for t in tasks)
        items = sorted(t["workflow_task"]["task_index"] for t in tasks if t["workflow_task"]["task_name"] == "each")
        assert items == [0, 1, 2]
        flaky = sorted((t for t in tasks if t["workflow_task"]["task_name"] == "flaky"), key=lambda t: t["retry_count"])
        assert [t["status"] for t in flaky] == ["failed", "failed"]
        assert flaky[1]["original_execution"] == flaky[0]["id"]
        inner = next(t for t in tasks if t["workflow_task"]["task_name"] == "inner")
        assert inner["status"] == "completed"
        # Nested records may land one mirror tick after the top row closes.
        nested = await wait_for_tasks(api, inner["id"])
        assert sorted(t["workflow_task"]["task_name"] for t in nested) == ["first", "last", "wait"]
        view = (await api.get(f"/executions/{top['id']}/workflow")).json()["data"]
        assert view["status"] == "completed" and set(view["completed_tasks"]) >= {"hello", "each", "inner"}
        everything = (await api.get("/executions", params={"per_page": 1000})).json()
        assert "hunter2" not in str(everything)


async def test_plain_action_record_and_timely_updates(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.echo", message="hi there", times=2, token="hunter2")
        outcome = await wait_ended(stack.engine, top["workflow_id"], 60)
        finished_at = time.monotonic()
        record = await wait_for(api, top["id"], ended, timeout=5)
        assert time.monotonic() - finished_at <= 1.0, "record not updated within a second"
        assert outcome[0] == "completed" and record["status"] == "completed", record
        assert record["result"]["stdout"].splitlines() == ["hi there", "hi there"]
        assert record["config"]["token"] == "********"
        assert await tree_of(api, top["id"]) == []


async def test_get_with_wait_answers_at_the_end_without_polling(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.sleep", seconds=2)
        began = time.monotonic()
        early = (await api.get(f"/executions/{top['id']}", params={"wait": 0.3})).json()["data"]
        assert early["status"] not in TERMINAL_STATUSES and 0.3 <= time.monotonic() - began < 1.5
        record = (await api.get(f"/executions/{top['id']}", params={"wait": 30})).json()["data"]
        assert record["status"] == "completed" and time.monotonic() - began < 10
        outcome = await api.get(f"/executions/{top['id']}", params={"wait": 61})
        assert outcome.status_code == 422 and "wait" in str(outcome.json()["error"]["details"])


async def test_a_submitted_run_settles_at_its_end_not_at_the_mirrors_next_pass(
        live_settings: Settings, stack: Any) -> None:
    """The API follows what it starts from the start: with passes an hour apart (the first at
    start-up, before anything was submitted), the record of a plain action and of a workflow
    still ends while the client waits for it, with its whole tree: nested runs included."""
    hourly = live_settings.model_copy(update={"mirror_interval": 3600.0})
    async with running_api(hourly, None) as api:
        await register(api)
        await asyncio.sleep(0.5)  # the first pass has run and found nothing
        plain = await submit(api, "svc.echo", message="hi", times=1)
        flow = await submit(api, "svc.tree", token="t")
        for top in (plain, flow):
            record = (await api.get(f"/executions/{top['id']}", params={"wait": 30})).json()["data"]
            assert record["status"] == "completed", record
        assert record["result"]["greeting"] == "hello"
        tasks = await tree_of(api, flow["id"])
        assert {t["workflow_task"]["task_name"] for t in tasks} >= {"hello", "each", "flaky", "inner"}
        inner = next(t for t in tasks if t["workflow_task"]["task_name"] == "inner")
        nested = await tree_of(api, inner["id"])
        assert sorted(t["workflow_task"]["task_name"] for t in nested) == ["first", "last", "wait"]
        assert all(ended(t) for t in tasks + nested), [t for t in tasks + nested if not ended(t)]
        view = (await api.get(f"/executions/{inner['id']}/workflow")).json()["data"]
        assert view["status"] == "completed", view


async def test_local_actions_are_mirrored_like_queued_ones(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.local_chain")
        record = (await api.get(f"/executions/{top['id']}", params={"wait": 30})).json()["data"]
        assert record["status"] == "completed", record
        assert record["result"]["last"] == "step 5\n"
        tasks = await tree_of(api, top["id"])
        assert [t["workflow_task"]["task_name"] for t in tasks] == [f"step{i}" for i in range(1, 6)]
        assert all(t["status"] == "completed" and t["started_at"] and t["ended_at"] for t in tasks)


async def test_running_is_recorded_while_the_process_runs(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.sleep", seconds=3)
        record = await wait_for(api, top["id"], lambda r: r["status"] != "scheduled", timeout=10)
        assert record["status"] == "running" and record["started_at"]
        assert (await wait_for(api, top["id"], ended))["status"] == "completed"


async def test_cancel_a_running_workflow(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.chain", pause=3)
        await wait_for(api, top["id"], lambda r: r["status"] == "running")
        await asyncio.sleep(0.5)  # `wait` is running; allow_finish lets it end, then stops
        response = await api.post(f"/executions/{top['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["data"]["status"] == "canceling"
        await asyncio.sleep(1)
        assert (await api.get(f"/executions/{top['id']}")).json()["data"]["status"] == "canceling"
        record = await wait_for(api, top["id"], ended)
        assert record["status"] == "cancelled"
        assert record["result"] == {"error": "Workflow cancelled", "succeeded": False}
        assert (await api.post(f"/executions/{top['id']}/cancel")).status_code == 409
        names = {t["workflow_task"]["task_name"] for t in await tree_of(api, top["id"])}
        assert "last" not in names


async def test_api_restart_mid_run_loses_and_duplicates_nothing(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.chain", pause=3)
        await wait_for(api, top["id"], lambda r: r["status"] == "running")
    await asyncio.sleep(1)  # the API is down while the workflow moves on
    async with running_api(live_settings, None) as api:
        record = await wait_for(api, top["id"], ended)
        assert record["status"] == "completed"
        tasks = await tree_of(api, top["id"])
        assert sorted(t["workflow_task"]["task_name"] for t in tasks) == ["first", "last", "wait"]
        assert all(t["status"] == "completed" for t in tasks)


async def test_database_outage_then_catch_up(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.chain", pause=1)
        await wait_for(api, top["id"], lambda r: r["status"] == "running")
        engine = api.app.state.attune.db.engine

        def down(*_args: object) -> None:
            raise OperationalError("SELECT", {}, ConnectionError("database is down"))

        event.listen(engine, "before_cursor_execute", down)
        try:  # the workflow finishes while the mirror cannot write
            assert (await wait_ended(stack.engine, top["workflow_id"], 60))[0] == "completed"
            await asyncio.sleep(0.5)
        finally:
            event.remove(engine, "before_cursor_execute", down)
        record = await wait_for(api, top["id"], ended, timeout=10)
        assert record["status"] == "completed"
        tasks = await tree_of(api, top["id"])
        assert [t["status"] for t in tasks] == ["completed"] * 3


async def test_terminated_from_outside_is_reconciled(live_settings: Settings, stack: Any) -> None:
    async with running_api(live_settings, None) as api:
        await register(api)
        top = await submit(api, "svc.chain", pause=30)
        await wait_for(api, top["id"], lambda r: r["status"] == "running")
        await asyncio.sleep(1.0)  # let the `wait` task start
        await stack.engine.client.get_workflow_handle(top["workflow_id"]).terminate("by the test")
        record = await wait_for(api, top["id"], ended, timeout=10)
        assert record["status"] == "failed"
        assert record["result"] == {"error": "Workflow terminated", "succeeded": False}
        tasks = await wait_for_tasks(api, top["id"])
        assert {t["workflow_task"]["task_name"]: t["status"] for t in tasks} == {
            "first": "completed", "wait": "abandoned"}
        [wait] = [t for t in tasks if t["workflow_task"]["task_name"] == "wait"]
        assert wait["status_detail"] == "its workflow ended while it ran (Workflow terminated); how the task " \
                                        "ended is unknown", wait


async def wait_for_tasks(api: httpx.AsyncClient, execution_id: int) -> list[dict]:
    for _ in range(50):
        tasks = await tree_of(api, execution_id)
        if tasks and all(ended(t) for t in tasks):
            return tasks
        await asyncio.sleep(0.1)
    return await tree_of(api, execution_id)


async def test_records_of_a_run_that_continues_as_new_are_all_mirrored(live_settings: Settings, stack: Any) -> None:
    """The mirror reads the changes each earlier run made (its memo, else a query of the closed
    run) before the current run's: every step lands once, whatever run it ran in."""
    qa = Path(__file__).resolve().parents[1] / "packs" / "qa"
    async with running_api(live_settings.model_copy(update={"continue_as_new_after": 150}), None) as api:
        assert (await api.post("/packs/register", json={"path": str(qa)})).status_code == 200
        top = await submit(api, "qa.long_loop", count=80, delay=0.5)
        record = await wait_for(api, top["id"], ended, timeout=180)
        assert record["status"] == "completed" and record["result"]["n"] == 80, record
        tasks = await wait_for_count(api, top["id"], 82)
        steps = [t for t in tasks if t["workflow_task"]["task_name"] == "step"]
        assert sorted(t["config"]["value"] for t in steps) == list(range(80))  # each step once
        assert all(t["status"] == "completed" for t in tasks)
        runs = [w async for w in stack.engine.client.list_workflows(f"WorkflowId = '{top['workflow_id']}'")]
        assert len(runs) >= 2  # it did continue as new


async def test_a_run_holding_its_tasks_to_continue_as_new_says_why_on_its_record(
        live_settings: Settings, stack: Any) -> None:
    """Its record read `running`, no detail, while the loop waited for a long task beside it."""
    qa = Path(__file__).resolve().parents[1] / "packs" / "qa"
    async with running_api(live_settings.model_copy(update={"continue_as_new_after": 60}), None) as api:
        assert (await api.post("/packs/register", json={"path": str(qa)})).status_code == 200
        top = await submit(api, "qa.held_loop", count=60, seconds=20)
        record = await wait_for(api, top["id"], lambda r: "until slow ends" in (r["status_detail"] or ""),
                                timeout=60)
        assert record["status"] == "running"
        assert record["status_detail"].startswith("Holding step until slow ends: its history passed 60 events")
        record = await wait_for(api, top["id"], ended, timeout=120)
        assert record["status"] == "completed" and record["status_detail"] is None, record


async def wait_for_count(api: httpx.AsyncClient, execution_id: int, count: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = await tree_of(api, execution_id)
        if len(tasks) >= count or time.monotonic() > deadline:
            return tasks
        await asyncio.sleep(0.2)
