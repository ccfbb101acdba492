"""Durations over MAX_DURATION_SECONDS (10 years) on the real stack: a template's delay or
timeout, a core.ask's timeout_seconds and an inquiry asked through the API fail clearly (they
failed with OverflowError as "internal error", answered 500, or left a run `scheduled` for good),
and a duration at the limit runs. Also: an inquiry asked by an action run on its own names that
execution (it kept `execution: null`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune.workflows.definition import MAX_DURATION_SECONDS
from tests.service.conftest import write_pack
from tests.service.test_run_control import ended, pending_inquiry, serving, submit, until

pytestmark = [pytest.mark.temporal, pytest.mark.slow]
LIMIT = "over the limit of 315,360,000 s (10 years)"


@pytest.fixture
async def api(stack: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(tmp_path, stack.address) as client:
        pack = write_pack(tmp_path / "packs", "lim", {
            "timed.yaml": """
                ref: lim.timed
                workflow_file: workflows/timed.workflow.yaml
                parameters:
                  d: {type: number, default: 0}
                  t: {type: number, default: 30}
            """,
            "workflows/timed.workflow.yaml": """
                version: "1.0"
                tasks:
                  - name: a
                    action: core.noop
                    delay: "{{ parameters.d }}"
                    timeout: "{{ parameters.t }}"
            """,
        })
        response = await client.post("/packs/register", json={"path": str(pack)})
        assert response.status_code == 200, response.text
        yield client


async def view(api: httpx.AsyncClient, execution_id: int) -> dict:
    return (await api.get(f"/executions/{execution_id}/workflow")).json()["data"]


@pytest.mark.parametrize("params, field, shown", [
    ({"d": 1e12}, "delay", "1,000,000,000,000"),
    ({"t": 1e15}, "timeout", "1,000,000,000,000,000"),
    ({"t": 1e300}, "timeout", "1e+300"),
])
async def test_a_templates_duration_over_the_limit_fails_its_task_clearly(api, params, field, shown):
    top = await submit(api, "lim.timed", **params)
    done = await ended(api, top["id"])
    error = f"task 'a' {field}: {shown} s is {LIMIT}"
    assert done["status"] == "failed" and done["result"]["error"] == error, done
    found = await view(api, top["id"])
    assert found["current_tasks"] == [] and found["failed_tasks"] == ["a"], found


async def test_a_duration_at_the_limit_runs(api):
    top = await submit(api, "lim.timed", t=MAX_DURATION_SECONDS)
    done = await ended(api, top["id"])
    assert done["status"] == "completed", done
    task = (await view(api, top["id"]))["tasks"][0]
    assert task["timeout_seconds"] == MAX_DURATION_SECONDS


async def test_a_core_ask_over_the_limit_is_refused_and_one_at_the_limit_waits_and_cancels(api):
    refused = await submit(api, "core.ask", prompt="Ship?", timeout_seconds=10**12)
    done = await ended(api, refused["id"])
    assert done["status"] == "failed", done
    assert done["result"]["error"] == (f"task 'ask' input.timeout_seconds (core.ask): "
                                       f"1,000,000,000,000 s is {LIMIT}")
    asked = await submit(api, "core.ask", prompt="Ship?", timeout_seconds=MAX_DURATION_SECONDS)
    inquiry = await pending_inquiry(api)
    assert int(inquiry["timeout_at"][:4]) - int(inquiry["created"][:4]) in (9, 10)  # 10 years ahead
    response = await api.post(f"/executions/{asked['id']}/cancel")
    assert response.status_code in (200, 202), response.text
    done = await ended(api, asked["id"])
    assert done["status"] == "cancelled", done


async def test_an_inquiry_asked_by_an_action_run_on_its_own_names_it_and_its_timeout_is_bounded(api):
    top = await submit(api, "ctl.ask_api", timeout_seconds=600)
    inquiry = await pending_inquiry(api)
    assert inquiry["execution"] == top["id"], inquiry
    listed = (await api.get("/inquiries", params={"execution": top["id"]})).json()["items"]
    assert [i["id"] for i in listed] == [inquiry["id"]]

    too_long = await submit(api, "ctl.ask_api", timeout_seconds=10**12)
    done = await ended(api, too_long["id"])
    assert done["status"] == "failed" and "answered 422" in str(done["result"]), done
    assert f"timeout_seconds: 1,000,000,000,000 s is {LIMIT}" in str(done["result"]), done

    async def no_500() -> bool:
        pending = (await api.get("/inquiries", params={"status": "pending"})).json()["items"]
        return [i["id"] for i in pending] == [inquiry["id"]]
    assert await until(no_500, "only the first inquiry to be pending")


async def test_an_inquiry_purpose_too_long_for_its_key_is_refused_naming_the_limit(api):
    """An inquiry's key is its task's record key and its purpose (a 700-character column): a
    longer purpose was a database error on PostgreSQL."""
    top = await submit(api, "ctl.ask_api", purpose="p" * 201)
    done = await ended(api, top["id"])
    assert done["status"] == "failed" and "answered 422" in str(done["result"]), done
    assert "purpose" in str(done["result"]) and "at most 200 characters" in str(done["result"]), done
    assert (await api.get("/inquiries", params={"execution": top["id"]})).json()["items"] == []
