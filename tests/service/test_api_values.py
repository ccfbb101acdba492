"""Values at the API's edge: numbers JSON cannot carry, integers sent as 1.0, and what the CLI
prints of what actions and users wrote (against the API served on a real socket)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from attune.api import create_app
from attune.engine.server import free_port
from attune.records import inquiries as inquiry_records
from attune.settings import Settings
from tests.service.fakes import FakeEngine


def _post(api: httpx.AsyncClient, path: str, body: str) -> Any:
    return api.post(path, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("parameters, paths, written", [
    ('{"message": "m", "times": NaN}', ["parameters.times"], ["NaN"]),
    ('{"message": "m", "times": Infinity}', ["parameters.times"], ["Infinity"]),
    ('{"message": "m", "times": -Infinity}', ["parameters.times"], ["-Infinity"]),
    ('{"message": "m", "times": 1e999}', ["parameters.times"], ["1e999"]),
    ('{"message": "m", "o": {"x": NaN, "y": [1, Infinity]}}', ["parameters.o.x", "parameters.o.y[1]"],
     ["NaN", "Infinity"]),
])
async def test_a_number_that_is_not_finite_is_refused_naming_where(svc_api, fake_engine, parameters, paths,
                                                                   written):
    """Python's JSON parser reads NaN, Infinity and 1e999; every answer and record then wrote
    null, and the run went on without the value (or failed later: "required parameter missing")."""
    response = await _post(svc_api, "/executions/execute",
                           f'{{"action_ref": "svc.echo", "parameters": {parameters}}}')
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [d["path"] for d in details] == paths
    for detail, text in zip(details, written, strict=True):
        assert detail["message"].startswith(f"is {text}")
        assert "not a finite number" in detail["message"]
    assert fake_engine.started == []
    assert (await svc_api.get("/executions")).json()["pagination"]["total_items"] == 0


async def test_every_route_that_takes_a_body_refuses_such_a_number(svc_api):
    """Once for the whole API (its body parsing), not per route: re-run parameters, inquiry
    answers, pack config, workflow and action saves, whatever comes next."""
    paths = (await svc_api.get("http://localhost/openapi.json")).json()["paths"]
    routes = [(method.upper(), path) for path, item in paths.items() for method in item
              if method in ("post", "put", "patch")]
    assert len(routes) >= 10, routes
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "1", path).removeprefix("/api/v1")
        response = await svc_api.request(method, url, content='{"response": {"ratio": NaN}, "x": [1e400]}',
                                         headers={"content-type": "application/json"})
        assert response.status_code == 422, (method, path, response.text)
        details = response.json()["error"]["details"]
        assert [d["path"] for d in details] == ["response.ratio", "x[0]"], (method, path)
        assert "is 1e400, beyond the ±1.8e308 a 64-bit float holds" in details[1]["message"]


async def test_a_query_number_that_is_not_finite_is_refused(svc_api):
    for value in ("nan", "inf", "-inf"):
        response = await svc_api.get("/executions/1", params={"wait": value})
        assert response.status_code == 422, (value, response.text)
        assert "finite number" in response.text, response.text  # it said "at most 60" for nan


async def test_an_integral_number_for_an_integer_parameter_arrives_as_an_integer(svc_api, fake_engine):
    """JSON Schema counts 1.0 and 1e0 as integers; the action then got 2.0 where a workflow's
    expression gives it 2. A fraction is still refused."""
    response = await _post(svc_api, "/executions/execute",
                           '{"action_ref": "svc.echo", "parameters": {"message": "m", "times": 2.0}}')
    assert response.status_code == 201, response.text
    assert response.json()["data"]["config"]["times"] == 2
    sent = fake_engine.started[-1]["parameters"]["times"]
    assert sent == 2 and type(sent) is int
    response = await _post(svc_api, "/executions/execute",
                           '{"action_ref": "svc.echo", "parameters": {"message": "m", "times": 4e0}}')
    assert type(fake_engine.started[-1]["parameters"]["times"]) is int
    refused = await _post(svc_api, "/executions/execute",
                          '{"action_ref": "svc.echo", "parameters": {"message": "m", "times": 2.5}}')
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["path"] == "parameters.times"


async def _inquiry(api: httpx.AsyncClient, prompt: str, schema: dict[str, Any]) -> int:
    with api.app.state.attune.db.session() as s:  # as an action asks (an execution token's route)
        row, _ = inquiry_records.create(s, attempt_key="wf-1/ask.1#0", root_workflow_id="wf-1", prompt=prompt,
                                        response_schema=schema, purpose=None, assigned_to=None,
                                        timeout_seconds=None)
        return row.id


async def test_an_answer_s_integers_are_integers_and_its_non_finite_numbers_refused(api):
    schema = {"count": {"type": "integer"}, "ratio": {"type": "number"},
              "sizes": {"type": "array", "items": {"type": "integer"}}}
    inquiry = await _inquiry(api, "how many?", schema)
    refused = await _post(api, f"/inquiries/{inquiry}/respond", '{"response": {"count": 1, "ratio": NaN}}')
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["path"] == "response.ratio"
    answered = await _post(api, f"/inquiries/{inquiry}/respond",
                           '{"response": {"count": 3.0, "ratio": 2.0, "sizes": [1.0, 2e0]}}')
    assert answered.status_code == 200, answered.text
    with api.app.state.attune.db.session() as s:
        from attune.records.models import InquiryRow

        stored = s.get(InquiryRow, inquiry).response
    assert stored == {"count": 3, "ratio": 2.0, "sizes": [1, 2]}
    assert type(stored["count"]) is int and type(stored["sizes"][0]) is int and type(stored["ratio"]) is float


# ---- what the CLI prints of what actions and users wrote -------------------------------------------

HOSTILE = "boom\x1b]0;TITLE\x07\x1b[2J\x1b[31mred\u202eevil\x7fend"


@pytest.fixture
async def served(settings: Settings, fake_engine: FakeEngine, svc_pack) -> AsyncIterator[tuple[str, Any]]:
    """The API on a real socket (the CLI is another process), the svc pack registered."""
    port = free_port()
    app = create_app(settings, fake_engine.factory, run_mirror=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API did not start"
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        assert (await http.post("/packs/register", json={"path": str(svc_pack)})).status_code == 200
    yield url, app
    server.should_exit = True
    await asyncio.wait_for(task, 30)


async def _cli(url: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "attune.cli", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "ATTUNE_API_URL": url, "COLUMNS": "400"})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def _raw(text: str) -> list[str]:
    """Characters a terminal would act on, left in the output."""
    return re.findall("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", text)


async def test_the_cli_shows_control_and_bidi_characters_escaped_wherever_it_prints_them(served):
    url, app = served
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        top = (await http.post("/executions/execute", json={"action_ref": "svc.tree"})).json()["data"]
    engine: FakeEngine = await app.state.attune.engine.get()
    wf = engine.workflows[top["workflow_id"]]
    wf.record("t.1#0", status="failed", result={"succeeded": False, "error": HOSTILE, "stderr": HOSTILE},
              task_name="t")
    wf.finish("failed", result={"out": HOSTILE}, error="Workflow failed: 1 task(s) failed: t")
    await app.state.attune.mirror.tick()
    await _inquiry_on(app, f"approve {HOSTILE}?")

    code, out, err = await _cli(url, "execution", "tail", str(top["id"]))
    assert code == 1, err
    assert _raw(out + err) == [], out
    assert "boom<U+001B>]0;TITLE<U+0007><U+001B>[2J<U+001B>[31mred<U+202E>evil<U+007F>end" in out  # the failed task's line
    async with httpx.AsyncClient(base_url=f"{url}/api/v1") as http:
        task = (await http.get("/executions", params={"parent": top["id"]})).json()["items"][0]["id"]
    code, out, err = await _cli(url, "execution", "get", str(task))
    assert code == 1 and _raw(out + err) == [], out
    assert "boom\\u001b]0;TITLE\\u0007\\u001b[2J\\u001b[31mred\\u202eevil\\u007fend" in out  # its result, as JSON
    for args in (["execution", "get", str(top["id"])], ["execution", "list"], ["inquiry", "list"],
                 ["execution", "list", "--parent", str(top["id"])]):
        code, out, err = await _cli(url, *args)
        assert _raw(out + err) == [], (args, out)
    code, out, _ = await _cli(url, "inquiry", "list")
    assert "<U+202E>evil" in out
    for fmt in ("json", "yaml"):  # the same data, in the format's own escapes
        code, out, err = await _cli(url, "execution", "get", str(task), "-o", fmt)
        assert code == 1 and _raw(out) == [], out
        assert (json.loads(out) if fmt == "json" else yaml.safe_load(out))["result"]["stderr"] == HOSTILE
    code, _, err = await _cli(url, "run", "svc.echo", f"mode={HOSTILE}")  # the API's 422 quotes it
    assert code == 2 and _raw(err) == [] and "<U+202E>evil" in err, err


async def _inquiry_on(app: Any, prompt: str) -> None:
    with app.state.attune.db.session() as s:
        inquiry_records.create(s, attempt_key="wf-2/ask.1#0", root_workflow_id="wf-2", prompt=prompt,
                               response_schema={"ok": {"type": "boolean"}}, purpose=None, assigned_to=None,
                               timeout_seconds=None)
