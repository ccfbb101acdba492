"""A web page the operator visits cannot drive the API (no token set, the default of `attune up`).

QA found that body-less POSTs (cancel, pause, resume, rerun) were accepted with "simple" content
types (text/plain, form-urlencoded: no CORS preflight) from any origin, that any Host was
answered (DNS rebinding), and that the UI could be framed. Now: an unsafe method with a foreign
`Origin` is 403; on a loopback address a non-loopback `Host` is 403; every answer forbids framing.
Requests without `Origin` (CLI, curl, httpx) are unaffected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from attune.api import create_app
from attune.engine.server import free_port
from attune.settings import Settings
from tests.service.conftest import running_api
from tests.service.fakes import FakeEngine

EVIL = "http://evil.example"


def _forbidden(response: httpx.Response, field: str, *words: str) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "forbidden" and error["details"][0]["path"] == field, error
    for word in words:
        assert word in error["message"], error["message"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_a_cross_origin_write_is_refused_whatever_its_content_type(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    run = {"action_ref": "svc.echo", "parameters": {"message": "hi"}}
    for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
        refused = await svc_api.post("/executions/execute", content=b'{"action_ref": "svc.echo"}',
                                     headers={**headers, "origin": EVIL})
        _forbidden(refused, "origin", "cross-origin", EVIL)
    for path in ("/executions/1/cancel", "/executions/1/pause", "/executions/1/resume", "/executions/1/rerun"):
        _forbidden(await svc_api.post(path, headers={"origin": EVIL, "content-type": "text/plain"}), "origin")
    _forbidden(await svc_api.delete("/packs/svc", headers={"origin": EVIL}), "origin")
    _forbidden(await svc_api.put("/workflows/svc.chain", json={}, headers={"origin": "null"}), "origin")
    # A page elsewhere on the same machine is another origin too (the port differs).
    _forbidden(await svc_api.post("/executions/execute", json=run,
                                  headers={"origin": "http://localhost:3000"}), "origin")
    assert fake_engine.started == [] and (await svc_api.get("/packs/svc")).status_code == 200
    # Reads are not writes (the same-origin policy keeps their answers from the page).
    assert (await svc_api.get("/packs/svc", headers={"origin": EVIL})).status_code == 200
    # The UI itself (same origin), a proxy that says which host it serves, and no Origin at all.
    for headers in ({"origin": "http://localhost"}, {},
                    {"origin": "https://attune.example.com", "x-forwarded-host": "attune.example.com"}):
        started = await svc_api.post("/executions/execute", json=run, headers=headers)
        assert started.status_code == 201, (headers, started.text)
    assert len(fake_engine.started) == 3


async def test_on_a_loopback_address_only_loopback_host_names_are_answered(
        api: httpx.AsyncClient, settings: Settings, fake_engine: FakeEngine) -> None:
    assert settings.api_host == "127.0.0.1"
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io:8000", "192.168.1.10:8000"):
        _forbidden(await api.get("/packs", headers={"host": host}), "host", repr(host), "DNS rebinding")
    _forbidden(await api.get("http://localhost/", headers={"host": "evil.example"}), "host")
    for host in ("127.0.0.1", "127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "app.localhost:5173"):
        assert (await api.get("/packs", headers={"host": host})).status_code == 200, host
    # Bound to every address (behind a proxy, in a container): any name is answered.
    open_settings = settings.model_copy(update={"api_host": "0.0.0.0"})
    async with running_api(open_settings, fake_engine.factory, run_mirror=False) as client:
        assert (await client.get("/packs", headers={"host": "attune.example.com"})).status_code == 200
        _forbidden(await client.post("/packs", json={"ref": "x"},
                                     headers={"host": "attune.example.com", "origin": EVIL}), "origin")


async def test_no_answer_may_be_framed(api: httpx.AsyncClient) -> None:
    for path in ("/packs", "http://localhost/", "http://localhost/health", "http://localhost/docs", "/nope"):
        response = await api.get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'", path


@pytest.fixture
async def served(settings: Settings, fake_engine: FakeEngine) -> AsyncIterator[str]:
    """The API as `attune api` serves it: uvicorn on 127.0.0.1, a real socket."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, fake_engine.factory, run_mirror=False),
                                           host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the API did not start"
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 30)


async def test_over_a_real_socket_a_page_cannot_cancel_a_run(served: str, tmp_path: Path) -> None:
    """What a page's `fetch(url, {method: "POST", mode: "no-cors"})` or a rebound name sends."""
    async with httpx.AsyncClient(base_url=f"{served}/api/v1") as http:
        _forbidden(await http.post("/executions/1/cancel", content=b"",
                                   headers={"origin": EVIL, "content-type": "text/plain"}), "origin")
        _forbidden(await http.get("/executions", headers={"host": "rebound.evil.example:8000"}), "host")
        # The CLI's way: no Origin. It reaches the route (no such execution).
        assert (await http.post("/executions/1/cancel")).status_code == 404
        assert (await http.post("/executions/1/cancel", headers={"origin": served})).status_code == 404
