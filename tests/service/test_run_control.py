"""Run control (spec §9) on the real stack: inquiries (core.ask, an action asking through the
API with its execution token, wait_for), pause/resume of a tree, re-run, and what an execution
token may and may not do. The API runs as a real HTTP server (uvicorn, in this process) so that
action processes can call it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from attune.api import create_app
from attune.engine.server import free_port
from attune.records.mirror import apply
from attune.settings import Settings
from attune.statuses import TERMINAL
from tests.conftest import PACKS

pytestmark = [pytest.mark.temporal, pytest.mark.slow]
CTL_PACK = Path(__file__).parent / "packs" / "ctl"


@pytest.fixture
async def api(stack: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP API on the session's Temporal stack, with the core and ctl packs."""
    async with serving(tmp_path, stack.address) as client:
        yield client


def _settings(tmp_path: Path, port: int, address: str, **more: Any) -> Settings:
    return Settings(state_dir=str(tmp_path / ".attune"), temporal_address=address,
                    database_url=f"sqlite:///{tmp_path / 'attune.db'}",
                    api_url=f"http://127.0.0.1:{port}", mirror_interval=0.1, **more)


class serving:
    """`async with serving(tmp_path) as api`: the API on a free port, stopped at the end; a
    second one on the same database continues where the first stopped."""

    def __init__(self, tmp_path: Path, address: str, register: bool = True, **settings: Any) -> None:
        self.tmp_path, self.address, self.register, self.settings = tmp_path, address, register, settings

    async def __aenter__(self) -> httpx.AsyncClient:
        port = free_port()
        app = create_app(_settings(self.tmp_path, port, self.address, **self.settings))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning", lifespan="on"))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            assert not self.task.done(), "the API did not start"
            await asyncio.sleep(0.05)
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30)
        self.client.app = app  # type: ignore[attr-defined]
        if self.register:
            for pack in (PACKS / "core", CTL_PACK):
                response = await self.client.post("/packs/register", json={"path": str(pack)})
                assert response.status_code == 200, response.text
        return self.client

    async def __aexit__(self, *_: Any) -> None:
        await self.client.aclose()
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 30)


async def submit(api: httpx.AsyncClient, ref: str, **params: Any) -> dict:
    response = await api.post("/executions/execute", json={"action_ref": ref, "parameters": params})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def until(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def record(api: httpx.AsyncClient, execution_id: int) -> dict:
    return (await api.get(f"/executions/{execution_id}")).json()["data"]


async def ended(api: httpx.AsyncClient, execution_id: int, timeout: float = 60) -> dict:
    async def probe() -> dict | None:
        found = await record(api, execution_id)
        return found if found["status"] in TERMINAL else None
    return await until(probe, f"execution {execution_id} to end", timeout)


async def pending_inquiry(api: httpx.AsyncClient) -> dict:
    async def probe() -> dict | None:
        items = (await api.get("/inquiries", params={"status": "pending"})).json()["items"]
        return items[0] if items else None
    return await until(probe, "a pending inquiry")


async def tasks(api: httpx.AsyncClient, execution_id: int) -> dict[str, list[dict]]:
    view = (await api.get(f"/executions/{execution_id}/workflow")).json()["data"]
    found: dict[str, list[dict]] = {}
    for task in view["tasks"]:
        found.setdefault(task["workflow_task"]["task_name"], []).append(task)
    return found


async def _task_of(api: httpx.AsyncClient, execution_id: int, name: str) -> dict | None:
    found = (await tasks(api, execution_id)).get(name)
    return found[0] if found and found[0]["status"] in TERMINAL else None


# ---- inquiries -----------------------------------------------------------------------------------

async def test_an_answer_reaches_the_run_before_the_answer_is_acknowledged(api: httpx.AsyncClient,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer was committed and acknowledged, then told to the run by the mirror's next
    pass: a cancel sent right after the 200 overtook it (under load: here every delivery is
    made slow), and the run ended with its core.ask task cancelled while the inquiry read
    `responded`."""
    mirror = api.app.state.attune.mirror  # type: ignore[attr-defined]
    tell = mirror._tell_inquiries_once

    async def slowly(client: Any) -> None:
        await asyncio.sleep(1)
        await tell(client)
    monkeypatch.setattr(mirror, "_tell_inquiries_once", slowly)
    top = await submit(api, "ctl.approve")
    inquiry = await pending_inquiry(api)
    good = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": True}})
    assert good.status_code == 200
    cancel = await api.post(f"/executions/{top['id']}/cancel")  # 409 if it ended meanwhile
    done = await ended(api, top["id"])
    assert (cancel.status_code, done["status"]) in ((200, "cancelled"), (409, "completed")), (cancel.text, done)
    ask = (await tasks(api, top["id"]))["ask"][0]
    assert ask["status"] == "completed" and ask["result"]["response"] == {"approved": True}, ask
    assert (await api.get(f"/inquiries/{inquiry['id']}")).json()["data"]["status"] == "responded"


async def test_core_ask_waits_for_an_answer_that_meets_its_schema(api: httpx.AsyncClient, stack: Any) -> None:
    top = await submit(api, "ctl.approve")
    inquiry = await pending_inquiry(api)
    assert inquiry["prompt"] == "Deploy release 42?" and inquiry["assigned_to"] == "ops"

    async def details() -> str | None:  # the Temporal Web UI's "current details" name it
        handle = stack.engine.handle(top["workflow_id"])
        text = (await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details
        return text if f"Waiting for an answer to inquiry {inquiry['id']} (task ask" in text else None
    await until(details, "the run's current details to name its inquiry", timeout=10)
    ask = (await tasks(api, top["id"]))["ask"][0]
    assert ask["status"] == "running" and ask["waits_for_inquiry"] == inquiry["id"]
    assert ask["status_detail"] == "waiting for an answer to its inquiry"
    bad = await api.post(f"/inquiries/{inquiry['id']}/respond",
                         json={"response": {"approved": "maybe", "extra": 1}})
    assert bad.status_code == 422
    assert {d["path"]: d["message"] for d in bad.json()["error"]["details"]} == {
        "response.approved": '"maybe" is not of type boolean', "response.extra": "unknown field 'extra'"}
    good = await api.post(f"/inquiries/{inquiry['id']}/respond",
                          json={"response": {"approved": True, "note": "go"}})
    assert good.status_code == 200 and good.json()["data"]["status"] == "responded"
    again = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": False}})
    assert again.status_code == 409 and "already answered" in again.json()["error"]["message"]
    done = await ended(api, top["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"note": "go", "deployed": True, "expired": None, "succeeded": True}
    answered = (await tasks(api, top["id"]))["ask"][0]
    assert answered["result"]["response"] == {"approved": True, "note": "go"}


async def test_an_unanswered_core_ask_times_out_and_a_late_answer_is_refused(api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.approve", timeout=1)
    inquiry = await pending_inquiry(api)
    done = await ended(api, top["id"])
    assert done["status"] == "completed" and done["result"]["expired"] is True, done["result"]
    assert (await tasks(api, top["id"]))["ask"][0]["status"] == "timeout"
    late = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": True}})
    assert late.status_code == 409
    assert (await api.get(f"/inquiries/{inquiry['id']}")).json()["data"]["status"] == "timeout"


async def test_a_core_ask_tasks_timeout_bounds_its_wait_and_its_inquiry(api: httpx.AsyncClient) -> None:
    """A task's `timeout` overrides its action's (spec §2): on core.ask it is the wait, shorter
    than the inquiry's own timeout_seconds here, and the inquiry expires with it."""
    top = await submit(api, "ctl.approve_soon")
    inquiry = await pending_inquiry(api)
    done = await ended(api, top["id"], timeout=30)
    assert done["result"]["expired"] is True, done["result"]
    assert (await tasks(api, top["id"]))["ask"][0]["status"] == "timeout"

    async def expired() -> bool:
        return (await api.get(f"/inquiries/{inquiry['id']}")).json()["data"]["status"] == "timeout"
    await until(expired, "the inquiry to expire with the task", timeout=10)
    late = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": True}})
    assert late.status_code == 409


async def test_cancelling_a_waiting_workflow_cancels_its_inquiry(api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.approve")
    inquiry = await pending_inquiry(api)
    assert (await api.post(f"/executions/{top['id']}/cancel")).status_code == 200
    assert (await ended(api, top["id"]))["status"] == "cancelled"

    async def cancelled() -> bool:
        found = (await api.get(f"/inquiries/{inquiry['id']}")).json()["data"]
        return found["status"] == "cancelled"
    await until(cancelled, "the inquiry to be cancelled")


def ship_id(by_task: dict[str, list[dict[str, Any]]]) -> int:
    return by_task["ship"][0]["id"]


async def test_an_action_asks_with_its_token_and_wait_for_holds_the_next_task(api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.gate")
    inquiry = await pending_inquiry(api)
    create = (await until(lambda: _task_done(api, top["id"], "create"), "the asking action"))
    asked = create["result"]["data"]
    assert asked["inquiry_id"] == inquiry["id"] and asked["same"] is True
    assert (asked["created"], asked["again"]) == (201, 200)  # asking again returns the same one
    # What an execution token must not do, and what it may.
    assert asked["refused"] == {"list_executions": 403, "submit": 403, "respond": 403, "packs": 403}
    assert asked["own"] == 200
    # Asked before its attempt's record was written: the inquiry names that record once it is.
    linked = (await api.get(f"/inquiries/{inquiry['id']}")).json()["data"]
    assert linked["execution"] == create["id"], linked
    listed = (await api.get("/inquiries", params={"execution": create["id"]})).json()["items"]
    assert [i["id"] for i in listed] == [inquiry["id"]]
    # The workflow's id (what `attune run --async` prints) lists its tasks' inquiries too.
    by_run = (await api.get("/inquiries", params={"execution": top["id"]})).json()["items"]
    assert [i["id"] for i in by_run] == [inquiry["id"]]
    other = (await api.get("/inquiries", params={"execution": ship_id(await tasks(api, top["id"]))}))
    assert other.json()["items"] == []
    ship = (await tasks(api, top["id"]))["ship"][0]
    assert ship["status"] == "scheduled" and ship["status_detail"] == f"waiting for inquiry {inquiry['id']}"
    answer = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"by": "ana"}})
    assert answer.status_code == 200
    done = await ended(api, top["id"])
    assert done["status"] == "completed" and done["result"]["shipped_by"] == "ana", done
    assert "attx." not in str((await api.get("/executions", params={"per_page": 1000})).json())


async def test_the_run_times_out_a_waited_inquiry_itself(api: httpx.AsyncClient, monkeypatch) -> None:
    """The run holds a durable timer at the inquiry's timeout_at, so the wait ends on time even
    when no API expires the inquiry (here its expiry is switched off). The timer once failed on
    the zone-less time an API on SQLite sent, and only the API's expiry ended such waits."""
    monkeypatch.setattr(apply, "expire_inquiries", lambda db, now=None: [])
    top = await submit(api, "ctl.gate", timeout=2)
    await pending_inquiry(api)
    done = await ended(api, top["id"])
    found = await tasks(api, top["id"])
    assert found["ship"][0]["status"] == "timeout", found["ship"]
    assert found["late"][0]["status"] == "completed" and done["status"] == "completed", done


async def test_a_withdrawn_inquiry_fails_the_waiting_task(api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.gate")
    inquiry = await pending_inquiry(api)
    await until(lambda: _task_done(api, top["id"], "create"), "the asking action")
    assert (await api.post(f"/inquiries/{inquiry['id']}/cancel")).status_code == 200
    done = await ended(api, top["id"])
    assert done["status"] == "completed"  # failed() was handled by `withdrawn`
    found = await tasks(api, top["id"])
    assert found["ship"][0]["status"] == "failed" and found["withdrawn"][0]["status"] == "completed"


async def test_tokens_are_issued_only_with_permission_sets(api: httpx.AsyncClient) -> None:
    plain = await submit(api, "ctl.whoami")
    done = await ended(api, plain["id"])
    assert done["result"]["data"]["token"] is False  # no permission sets named: no token
    assert done["result"]["data"]["key"].endswith("/whoami.1#0")


async def _task_done(api: httpx.AsyncClient, execution_id: int, name: str) -> dict | None:
    found = (await tasks(api, execution_id)).get(name) or []
    return found[0] if found and found[0]["status"] in TERMINAL else None


# ---- pause / resume ------------------------------------------------------------------------------

async def test_pause_during_with_items_dispatches_nothing_new_and_resumes_to_the_same_results(
        api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.items")

    async def some_done() -> bool:
        return len((await tasks(api, top["id"])).get("each", [])) >= 5
    await until(some_done, "the first items")
    paused = await api.post(f"/executions/{top['id']}/pause")
    assert paused.status_code == 200 and paused.json()["data"]["status"] == "pausing"
    assert (await api.post(f"/executions/{top['id']}/pause")).status_code == 409

    async def is_paused() -> bool:
        return (await record(api, top["id"]))["status"] == "paused"
    await until(is_paused, "paused")
    count = len((await tasks(api, top["id"]))["each"])
    await asyncio.sleep(1.5)  # nothing new is dispatched while paused
    assert len((await tasks(api, top["id"]))["each"]) == count < 20
    assert all(t["status"] == "completed" for t in (await tasks(api, top["id"]))["each"])
    resumed = await api.post(f"/executions/{top['id']}/resume")
    assert resumed.status_code == 200 and resumed.json()["data"]["status"] == "running"
    done = await ended(api, top["id"])
    assert done["status"] == "completed" and done["result"]["items"] == list(range(20))
    assert (await api.post(f"/executions/{top['id']}/resume")).status_code == 409


async def test_pause_and_resume_in_quick_turns_each_hold_until_the_next(
        api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror read made before the run heard a request, written after the API recorded it,
    must not bring the state before the request back (the next request would then be refused,
    and a person would see it undone). Each of the mirror's writes here lands 0.2 s after its
    read, as on a loaded machine, so most reads are written after the next request."""
    write = apply.apply_snapshot

    def late(*args: Any) -> list[int]:
        time.sleep(0.2)
        return write(*args)
    monkeypatch.setattr(apply, "apply_snapshot", late)
    top = await submit(api, "ctl.approve")  # waits for a person: it pauses at once
    await pending_inquiry(api)
    asked = {"pause": ("pausing", "paused"), "resume": ("running",)}
    for turn in range(12):
        for verb, holds in asked.items():
            answer = await api.post(f"/executions/{top['id']}/{verb}")
            assert answer.status_code == 200, f"turn {turn}, {verb}: {answer.text}"
            for _ in range(4):  # as the mirror's passes go by
                await asyncio.sleep(0.06)
                seen = (await record(api, top["id"]))["status"]
                assert seen in holds, f"turn {turn}, after {verb}: {seen}"
    await until(lambda: _status_is(api, top["id"], "running"), "the run to say it runs")
    assert (await api.post(f"/executions/{top['id']}/cancel")).status_code == 200
    assert (await ended(api, top["id"]))["status"] == "cancelled"


async def _first(api: httpx.AsyncClient, action_ref: str) -> dict | None:
    rows = (await api.get("/executions", params={"action_ref": action_ref})).json()["items"]
    return rows[0] if rows else None


async def _status_is(api: httpx.AsyncClient, execution_id: int, status: str) -> bool:
    return (await record(api, execution_id))["status"] == status


async def test_pause_reaches_every_level_of_a_nested_tree_and_cancel_of_a_paused_one_cancels(
        api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.level1")
    level3 = await until(lambda: _first(api, "ctl.level3"), "the third level to start")
    await api.post(f"/executions/{top['id']}/pause")

    async def all_paused() -> bool:
        rows = (await api.get("/executions", params={"per_page": 1000})).json()["items"]
        nested = [r for r in rows if r["action_ref"] in ("ctl.level2", "ctl.level3")]
        views = [(await api.get(f"/executions/{r['id']}/workflow")).json()["data"]["status"]
                 for r in nested]
        top_paused = (await record(api, top["id"]))["status"] == "paused"
        # each nested run's own record says so too, not only its workflow view
        return top_paused and len(views) == 2 and all(v == "paused" for v in views) and all(
            r["status"] == "paused" for r in nested)
    await until(all_paused, "all three levels to be paused")
    for verb in ("resume", "pause"):  # a nested run is steered with its tree, not on its own
        refused = await api.post(f"/executions/{level3['id']}/{verb}")
        assert refused.status_code == 409, refused.text
        assert (f"is a nested workflow of execution {top['id']}: {verb} execution {top['id']}"
                in refused.json()["error"]["message"])
    assert (await record(api, level3["id"]))["status"] == "paused"
    assert (await api.post(f"/executions/{top['id']}/cancel")).status_code == 200
    done = await ended(api, top["id"])
    assert done["status"] == "cancelled"
    assert level3["id"]


async def test_a_resumed_tree_runs_every_level_again_and_records_say_so(api: httpx.AsyncClient) -> None:
    top = await submit(api, "ctl.level1")
    level3 = await until(lambda: _first(api, "ctl.level3"), "the third level to start")
    await api.post(f"/executions/{top['id']}/pause")
    await until(lambda: _status_is(api, level3["id"], "paused"), "the third level's record to say paused")
    assert (await api.post(f"/executions/{top['id']}/resume")).status_code == 200
    done = await ended(api, top["id"])
    assert done["status"] == "completed", done
    rows = (await api.get("/executions", params={"per_page": 1000})).json()["items"]
    nested = [r for r in rows if r["action_ref"] in ("ctl.level2", "ctl.level3")]
    assert len(nested) == 2 and all(r["status"] == "completed" for r in nested), nested


# ---- re-run --------------------------------------------------------------------------------------

async def test_rerun_from_failed_runs_only_the_failed_task_and_what_follows(api: httpx.AsyncClient) -> None:
    first = await submit(api, "ctl.chain9", fail_at=7)
    failed = await ended(api, first["id"])
    assert failed["status"] == "failed"
    response = await api.post(f"/executions/{first['id']}/rerun",
                              json={"from_failed": True, "parameters": {"fail_at": 0}})
    assert response.status_code == 201, response.text
    again = response.json()["data"]
    assert again["rerun_of"] == first["id"]
    done = await ended(api, again["id"])
    assert done["status"] == "completed", done
    assert done["result"] == {"total": sum(i * i for i in range(1, 10)), "first": 1, "succeeded": True}
    view = (await api.get(f"/executions/{again['id']}/workflow")).json()["data"]
    assert sorted(t["workflow_task"]["task_name"] for t in view["tasks"]) == ["t7", "t8", "t9"]
    kept = {t["workflow_task"]["task_name"]: t for t in view["kept_tasks"]}
    assert sorted(kept) == [f"t{i}" for i in range(1, 7)]
    assert all(t["parent"] == first["id"] for t in kept.values())  # linked, not copied


async def test_a_rerun_of_a_rerun_keeps_what_both_kept(api: httpx.AsyncClient) -> None:
    """Re-running from failed tasks twice: the second re-run keeps the tasks the first one
    kept (results and published variables), not only those the first one ran itself."""
    first = await submit(api, "ctl.chain9", fail_at=4)
    assert (await ended(api, first["id"]))["status"] == "failed"
    second = (await api.post(f"/executions/{first['id']}/rerun",
                             json={"from_failed": True, "parameters": {"fail_at": 7}})).json()["data"]
    assert (await ended(api, second["id"]))["status"] == "failed"
    third = (await api.post(f"/executions/{second['id']}/rerun",
                            json={"from_failed": True, "parameters": {"fail_at": 0}})).json()["data"]
    done = await ended(api, third["id"])
    assert done["result"] == {"total": sum(i * i for i in range(1, 10)), "first": 1, "succeeded": True}
    view = (await api.get(f"/executions/{third['id']}/workflow")).json()["data"]
    assert sorted(t["workflow_task"]["task_name"] for t in view["tasks"]) == ["t7", "t8", "t9"]
    kept = {t["workflow_task"]["task_name"]: t["parent"] for t in view["kept_tasks"]}
    assert kept == {**{f"t{i}": first["id"] for i in (1, 2, 3)},
                    **{f"t{i}": second["id"] for i in (4, 5, 6)}}
    view = (await api.get(f"/executions/{second['id']}/workflow")).json()["data"]
    assert sorted(t["workflow_task"]["task_name"] for t in view["kept_tasks"]) == ["t1", "t2", "t3"]


async def test_a_rerun_keeps_every_item_of_a_with_items_task(api: httpx.AsyncClient) -> None:
    """A with_items task's result is the list of its items' results: a re-run from failed
    tasks keeps that list (not one item's result), and shows every item as kept."""
    first = await submit(api, "ctl.items_then", fail_at=4)
    assert (await ended(api, first["id"]))["status"] == "failed"
    again = (await api.post(f"/executions/{first['id']}/rerun",
                            json={"from_failed": True, "parameters": {"fail_at": 0}})).json()["data"]
    done = await ended(api, again["id"])
    assert done["result"] == {"squares": [1, 4, 9], "last": 16, "succeeded": True}, done
    view = (await api.get(f"/executions/{again['id']}/workflow")).json()["data"]
    kept = sorted((t["workflow_task"]["task_name"], t["workflow_task"]["task_index"]) for t in view["kept_tasks"])
    assert kept == [("squares", 0), ("squares", 1), ("squares", 2)]


async def test_a_plain_rerun_keeps_nothing(api: httpx.AsyncClient) -> None:
    """A re-run with parameters (not from failed tasks) runs everything: while it runs, and
    once it fails early, no task of the run it re-ran shows as kept."""
    first = await submit(api, "ctl.chain9", fail_at=0)
    assert (await ended(api, first["id"]))["status"] == "completed"
    again = (await api.post(f"/executions/{first['id']}/rerun",
                            json={"parameters": {"fail_at": 2}})).json()["data"]
    assert (await ended(api, again["id"]))["status"] == "failed"
    view = (await api.get(f"/executions/{again['id']}/workflow")).json()["data"]
    assert view["kept_tasks"] == [] and sorted(t["workflow_task"]["task_name"] for t in view["tasks"]) == ["t1", "t2"]


SAY = """import json, sys
params = json.load(sys.stdin)
if params.get("fail"):
    print("fails on purpose", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"msg": params["msg"]}))
"""


def edit_pack(root: Path, tasks: str) -> Path:
    """The `edit` pack: `edit.say` (echoes msg, fails if told) and the workflow `edit.flow`
    with `tasks` (YAML), rewritten in place by each call as a user edits a workflow file."""
    (root / "actions" / "workflows").mkdir(parents=True, exist_ok=True)
    (root / "pack.yaml").write_text("ref: edit\nversion: '1.0.0'\n")
    (root / "actions" / "say.py").write_text(SAY)
    (root / "actions" / "say.yaml").write_text(
        "ref: edit.say\nrunner_type: python\nentry_point: say.py\noutput_format: json\n"
        "parameters:\n  msg: {type: string}\n  fail: {type: boolean, default: false}\n")
    (root / "actions" / "flow.yaml").write_text("ref: edit.flow\nworkflow_file: workflows/flow.yaml\n")
    (root / "actions" / "workflows" / "flow.yaml").write_text(f"version: '1.0'\ntasks:\n{tasks}")
    return root


def chain(*tasks: tuple[str, str, str | None]) -> str:
    """(name, input YAML, next task) each, as workflow `tasks:` YAML."""
    return "".join(f"  - name: {name}\n    action: edit.say\n    input: {given}\n"
                   + (f"    next: [{{when: '{{{{ succeeded() }}}}', do: [{then}]}}]\n" if then else "")
                   for name, given, then in tasks)


ORIGINAL = chain(("pre", "{msg: hello}", "flaky"), ("flaky", "{msg: x, fail: true}", "post"),
                 ("post", "{msg: '{{ task.pre.data.msg }}'}", None))


async def failed_edit_run(api: httpx.AsyncClient, tmp_path: Path) -> tuple[Path, dict]:
    pack = edit_pack(tmp_path / "edit", ORIGINAL)
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    first = await submit(api, "edit.flow")
    assert (await ended(api, first["id"]))["status"] == "failed"
    return pack, first


async def test_rerun_from_failed_after_a_kept_task_was_renamed_is_refused_naming_the_tasks(
        api: httpx.AsyncClient, tmp_path: Path) -> None:
    """QA repro: pre renamed prep (a start task), post now reads task.prep. The re-run ran
    flaky again with pre's result dropped without a word, never ran prep, and failed on post's
    input with kept_tasks []. Now: 409 naming both, and a plain re-run still runs it fresh."""
    pack, first = await failed_edit_run(api, tmp_path)
    edit_pack(pack, chain(("prep", "{msg: hello}", "flaky"), ("flaky", "{msg: x, fail: true}", "post"),
                          ("post", "{msg: '{{ task.prep.data.msg }}'}", None)))
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    refused = await api.post(f"/executions/{first['id']}/rerun", json={"from_failed": True})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "workflow_changed"
    assert error["message"].startswith(f"execution {first['id']} cannot be re-run from its failed tasks: "
                                       "workflow 'edit.flow' changed since it ran, and task 'pre' "
                                       "succeeded and would be kept, but the workflow no longer has")
    assert "task 'prep' is new (the failed run's workflow had no task of that name) and is a start task" \
        in error["message"]
    assert error["message"].endswith("Re-run it whole (without from_failed), or restore the workflow "
                                     "as it ran and register its pack again")
    assert [(d["path"], d["file"]) for d in error["details"]] == [
        ("tasks.pre", "actions/workflows/flow.yaml"), ("tasks.prep", "actions/workflows/flow.yaml")]
    listed = (await api.get("/executions", params={"action_ref": "edit.flow"})).json()["items"]
    assert [e["id"] for e in listed] == [first["id"]]  # nothing was recorded or started
    fresh = (await api.post(f"/executions/{first['id']}/rerun")).json()["data"]
    assert (await ended(api, fresh["id"]))["status"] == "failed"  # flaky still fails
    assert sorted(await tasks(api, fresh["id"])) == ["flaky", "prep"]


async def test_rerun_from_failed_after_editing_the_failed_task_and_adding_one_after_it(
        api: httpx.AsyncClient, tmp_path: Path) -> None:
    """Edits the kept state still fits keep working: the failed task's input fixed, a task
    added after the failed ones. The kept task shows as kept, its result still reads."""
    pack, first = await failed_edit_run(api, tmp_path)
    edit_pack(pack, chain(("pre", "{msg: hello}", "flaky"), ("flaky", "{msg: x}", "post"),
                          ("post", "{msg: '{{ task.pre.data.msg }}'}", "report"),
                          ("report", "{msg: '{{ task.post.data.msg }}!'}", None)))
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    response = await api.post(f"/executions/{first['id']}/rerun", json={"from_failed": True})
    assert response.status_code == 201, response.text
    again = response.json()["data"]
    assert (await ended(api, again["id"]))["status"] == "completed"
    ran = await tasks(api, again["id"])
    assert sorted(ran) == ["flaky", "post", "report"]
    assert ran["report"][0]["result"]["data"] == {"msg": "hello!"}
    view = (await api.get(f"/executions/{again['id']}/workflow")).json()["data"]
    assert [(k["workflow_task"]["task_name"], k["parent"]) for k in view["kept_tasks"]] == [("pre", first["id"])]


async def test_a_workflows_times_are_its_runs_not_when_the_records_heard(api: httpx.AsyncClient) -> None:
    """A short run is often read only once it has ended: its record still starts before its
    first task and ends after its last, and each task's record is created before it ran."""
    from datetime import datetime

    top = await submit(api, "ctl.chain9", fail_at=0)
    done = await ended(api, top["id"])
    view = (await api.get(f"/executions/{top['id']}/workflow")).json()["data"]
    at = datetime.fromisoformat
    started, ended_at = at(done["started_at"]), at(done["ended_at"])
    assert len(view["tasks"]) == 9
    for task in view["tasks"]:
        assert at(task["created"]) <= at(task["started_at"]) <= at(task["ended_at"]), task
        assert started <= at(task["started_at"]) and at(task["ended_at"]) <= ended_at, (done, task)
    assert at(done["created"]) <= started


async def test_system_execution_id_is_the_id_the_api_and_cli_take(api: httpx.AsyncClient) -> None:
    """As in Attune, `system.execution_id` is the execution's record id (a number), what
    `attune execution get` and GET /executions/{id} take; `system.workflow_id` is Temporal's."""
    top = await submit(api, "ctl.system_ids")
    done = await ended(api, top["id"])
    assert done["result"] == {"execution_id": top["id"], "workflow_id": top["workflow_id"],
                              "echoed": top["id"], "succeeded": True}, done


async def test_rerun_with_the_same_or_edited_parameters(api: httpx.AsyncClient) -> None:
    first = await submit(api, "ctl.step", n=3)
    await ended(api, first["id"])
    same = (await api.post(f"/executions/{first['id']}/rerun")).json()["data"]
    edited = (await api.post(f"/executions/{first['id']}/rerun", json={"parameters": {"n": 4}})).json()["data"]
    assert same["rerun_of"] == edited["rerun_of"] == first["id"]
    assert (await ended(api, same["id"]))["result"]["data"]["square"] == 9
    assert (await ended(api, edited["id"]))["result"]["data"]["square"] == 16
    refused = await api.post(f"/executions/{first['id']}/rerun", json={"from_failed": True})
    assert refused.status_code == 409
    assert "(ctl.step) is not a workflow: it has no tasks to re-run from" in refused.json()["error"]["message"]


# ---- surviving a restart -------------------------------------------------------------------------

async def test_an_answer_given_just_before_the_api_stops_still_reaches_the_run(stack: Any,
                                                                               tmp_path: Path) -> None:
    async with serving(tmp_path, stack.address) as api:
        top = await submit(api, "ctl.approve")
        inquiry = await pending_inquiry(api)
        mirror = api.app.state.attune.mirror  # type: ignore[attr-defined]
        mirror._tell_inquiries = _never  # type: ignore[method-assign]  # the API dies first
        response = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": True}})
        assert response.status_code == 200
    async with serving(tmp_path, stack.address, register=False) as api:  # same records, new API
        done = await ended(api, top["id"])
        assert done["status"] == "completed" and done["result"]["deployed"] is True


async def _never(*_: Any) -> None:
    return None



async def test_an_action_finds_its_execution_id_in_attune_exec_id(api: httpx.AsyncClient) -> None:
    """ATTUNE_EXEC_ID is the record id the API knows (the worker claims it before the start);
    ATTUNE_EXECUTION_KEY keeps the engine's key."""
    top = await submit(api, "ctl.whoami_flow")
    done = await ended(api, top["id"])
    assert done["status"] == "completed", done
    who = (await tasks(api, top["id"]))["who"][0]
    data = who["result"]["data"]
    assert data["exec_id"] == str(who["id"]) and data["key"].endswith("/who.1#0")
    plain = await submit(api, "ctl.whoami")
    assert (await ended(api, plain["id"]))["result"]["data"]["exec_id"] == str(plain["id"])


async def test_attempts_take_execution_ids_reserved_ahead_and_keep_them(api: httpx.AsyncClient,
                                                                        stack: Any) -> None:
    """Issue 13: a run dispatches its attempts with execution ids reserved in blocks (none waits
    for a claim), asks for more as it uses them up, and every action sees the id its record has;
    a nested run asks for its own."""
    top = await submit(api, "ctl.whoami_many", count=70)
    done = await ended(api, top["id"])
    assert done["status"] == "completed", done
    found = await tasks(api, top["id"])
    many = found["many"]
    assert len(many) == 70
    wrong = [(t["id"], t["result"]["data"]["exec_id"]) for t in many if t["result"]["data"]["exec_id"] != str(t["id"])]
    assert not wrong, wrong  # (record id, what the action saw)
    nested_id = found["nested"][0]["id"]
    nested = (await until(lambda: _task_of(api, nested_id, "who"), "the nested run's record"))
    assert nested["result"]["data"]["exec_id"] == str(nested["id"])
    # In the history: the attempts went out with their ids, the first 8 (its concurrency) from
    # those it started with, the rest from a block it asked for (a few dispatched while it asked
    # claimed theirs).
    client = await Client.connect(stack.address)
    handle = client.get_workflow_handle(top["workflow_id"])
    sent, asked = [], 0
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == "run_action":
                sent.append(json.loads(scheduled.input.payloads[0].data)["record_id"])
            else:
                asked += scheduled.activity_type.name == "reserve_record_ids"
    assert len(sent) == 70 and sent.count(None) <= 8, sent
    assert {i for i in sent if i is not None} <= {t["id"] for t in many}
    assert asked >= 1  # a block asked for on the way
    # Once it needed a block it kept a whole block ahead (patch attune_ids_block_ahead), and
    # that run replays, in production and in the sandbox.
    from tests.engine.test_replay import replayer

    history = await handle.fetch_history()
    markers = [json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
               for e in history.events if e.HasField("marker_recorded_event_attributes")]
    assert "attune_ids_block_ahead" in markers, markers
    for sandboxed in (False, True):
        await replayer(sandboxed).replay_workflow(history)
    ids = await api.post("/executions/reserve", json={"count": 3})
    assert ids.status_code == 403, ids.text  # only a run's orchestrator, with its token


async def test_cancelling_a_run_that_never_took_a_step_records_it_cancelled(stack, tmp_path):
    """An API whose blob directory the orchestrators do not share (a deployment mistake):
    the run's input cannot be read, so its first workflow task keeps failing and the record
    says so. Cancelling it ends it, and its record reads `cancelled` (it stayed `canceling`)."""
    async with serving(tmp_path, stack.address, blob_dir=str(tmp_path / "not-shared")) as api:
        execution = await submit(api, "core.echo", message="m" * 100_000)
        await until(lambda: _detail(api, execution["id"]), "the record to say it is stuck")
        response = await api.post(f"/executions/{execution['id']}/cancel")
        assert response.status_code == 200, response.text
        done = await ended(api, execution["id"], timeout=60)
        assert done["status"] == "cancelled", done


async def _detail(api: httpx.AsyncClient, execution_id: int) -> str | None:
    detail = (await record(api, execution_id)).get("status_detail")
    return detail if detail and "keeps failing" in detail else None


async def test_a_parameter_sent_as_null_in_a_rerun_takes_its_default(api: httpx.AsyncClient) -> None:
    """Left out, a parameter keeps the old run's value; null says "not given" (the web UI's
    Edit & re-run sends an emptied field so), and its default applies."""
    first = await submit(api, "ctl.chain9", fail_at=2)
    assert (await ended(api, first["id"]))["status"] == "failed"
    kept = (await api.post(f"/executions/{first['id']}/rerun", json={"parameters": {}})).json()["data"]
    assert kept["config"]["fail_at"] == 2
    again = (await api.post(f"/executions/{first['id']}/rerun",
                            json={"parameters": {"fail_at": None}})).json()["data"]
    assert (await ended(api, again["id"]))["status"] == "completed"
    await ended(api, kept["id"])


SEALED = {"__attune_secret__": "gAAAAABk-a-ciphertext-read-from-temporal-history"}


async def test_a_sealed_secret_is_never_taken_from_a_request(api: httpx.AsyncClient) -> None:
    """A ciphertext read from Temporal's history, submitted as a parameter (or an answer), was
    unsealed by the worker for whoever sent it: as good as the secret itself."""
    refused = await api.post("/executions/execute", json={"action_ref": "ctl.echo",
                                                          "parameters": {"by": "x", "deployed": True,
                                                                         "nested": {"k": [SEALED]}}})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"].startswith(
        "parameters.nested.k[0]: a sealed secret value cannot be submitted")
    done = await submit(api, "ctl.echo", by="x")
    await ended(api, done["id"])
    again = await api.post(f"/executions/{done['id']}/rerun", json={"parameters": {"by": SEALED}})
    assert again.status_code == 422 and "parameters.by: a sealed secret" in again.text, again.text
    run = await submit(api, "ctl.approve")
    inquiry = await pending_inquiry(api)
    answer = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": SEALED}})
    assert answer.status_code == 422 and "response.approved: a sealed secret" in answer.text, answer.text
    await api.post(f"/executions/{run['id']}/cancel")
