"""Optional bearer-token auth, /health, and the OpenAPI description."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from attune.settings import Settings
from tests.service.conftest import running_api
from tests.service.fakes import FakeEngine
from tests.service.test_api_definitions import assert_error


async def test_without_a_token_setting_everything_is_open(api) -> None:
    assert (await api.get("/packs")).status_code == 200


async def test_token_protects_every_route_but_health(settings: Settings, fake_engine: FakeEngine) -> None:
    settings = settings.model_copy(update={"api_token": "t0ken"})
    async with running_api(settings, fake_engine.factory, run_mirror=False) as api:
        for method, path in [("GET", "/executions"), ("GET", "/executions/1"), ("GET", "/packs"),
                             ("POST", "/executions/execute"), ("POST", "/workflows/validate"),
                             ("DELETE", "/actions/x.y"), ("GET", "/workflows")]:
            error = assert_error(await api.request(method, path), 401, "unauthorized")
            assert error["message"] == "bearer token required"
        response = await api.get("/packs", headers={"Authorization": "Bearer wrong"})
        assert assert_error(response, 401, "unauthorized")["message"] == "missing or invalid bearer token"
        assert response.headers["www-authenticate"] == "Bearer"
        assert (await api.get("/packs", headers={"Authorization": "Basic t0ken"})).status_code == 401
        assert (await api.get("/packs", headers={"Authorization": "Bearer t0ken"})).status_code == 200
        assert (await api.get("/health")).status_code in (200, 503)


async def test_health_reports_each_dependency(api) -> None:
    response = await api.get("/health")
    assert response.status_code == 503  # nothing listens on the test's Temporal address
    body = response.json()
    assert body["status"] == "degraded" and body["api"]["ok"] and body["database"]["ok"]
    assert body["temporal"] == {"ok": False, "detail": "Temporal at 127.0.0.1:1 is not reachable (connection "
                                "refused): start it (attune up) or check ATTUNE_TEMPORAL_ADDRESS"}


async def test_health_ok_when_temporal_port_answers(settings: Settings, fake_engine: FakeEngine) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with running_api(settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"}),
                               fake_engine.factory, run_mirror=False) as api:
            response = await api.get("/health")
            assert response.status_code == 200 and response.json()["status"] == "ok"
            root = await api.get("http://localhost/health")
            assert root.status_code == 200
    finally:
        server.close()


async def test_health_reports_an_unreachable_database(api) -> None:
    api.app.state.attune.db.engine.dispose()
    broken = api.app.state.attune.db
    broken.ping = lambda: (_ for _ in ()).throw(ConnectionError("db down"))  # type: ignore[method-assign]
    body = (await api.get("/health")).json()
    assert body["database"] == {"ok": False, "detail": "db down"}


async def test_health_reports_a_disk_running_out(settings: Settings, fake_engine: FakeEngine) -> None:
    """A full disk fails every write while a ping still works: /health said ok throughout."""
    async with running_api(settings, fake_engine.factory, run_mirror=False) as api:
        assert (await api.get("/health")).json()["disk"] == {"ok": True, "detail": None}
    roomy = settings.model_copy(update={"min_free_disk_mib": 1 << 40})  # more than any disk has
    async with running_api(roomy, fake_engine.factory, run_mirror=False) as api:
        response = await api.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded" and body["disk"]["ok"] is False, body
        assert "ATTUNE_MIN_FREE_DISK_MIB" in body["disk"]["detail"]
        assert f"state directory {settings.state_dir}: " in body["disk"]["detail"]
        assert ("records database" in body["disk"]["detail"]) == settings.database_url.startswith("sqlite")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_full_records_database_is_named_not_an_internal_error(svc_api) -> None:
    """SQLite's own "database or disk is full" (here: a page limit, as a full disk gives it)."""
    db = svc_api.app.state.attune.db

    def no_room(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        pages = cursor.execute("PRAGMA page_count").fetchone()[0]
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(db.engine, "connect", no_room)
    db.engine.dispose()
    try:
        response = await svc_api.post("/executions/execute", json={"action_ref": "svc.echo",
                                                                   "parameters": {"message": "x" * 200_000}})
    finally:
        event.remove(db.engine, "connect", no_room)
        db.engine.dispose()
    error = assert_error(response, 503, "unavailable")
    assert error["message"].startswith(f"the records database ({db.url.removeprefix('sqlite:///')}) "
                                       "cannot write: its disk is full"), error


async def test_unknown_route_uses_the_error_envelope(api) -> None:
    assert_error(await api.get("/nothing-here"), 404, "not_found")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_openapi_documents_every_route(api) -> None:
    spec = (await api.get("http://localhost/openapi.json")).json()
    assert (await api.get("http://localhost/docs")).status_code == 200
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert op.get("summary"), f"{method} {path} has no summary"
            ok = [c for c in op["responses"] if c.startswith("2")]
            assert ok, f"{method} {path} documents no success response"
            errors = [c for c in op["responses"] if c[0] in "45"]
            assert errors, f"{method} {path} documents no error response"
            if path != "/api/v1/health":
                assert "401" in op["responses"]
                for code in errors:
                    ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorResponse"), (method, path, code)
    assert {"Execution", "WorkflowExecution", "ActionOut", "WorkflowOut", "PackOut", "ErrorResponse"} <= set(spec["components"]["schemas"])


async def test_a_token_minted_with_another_key_is_refused_in_the_words_workers_look_for(api) -> None:
    """Workers report a refused token as a key the API does not share (engine/claims.py) when
    the API answers with tokens.REFUSED; any other wording would hide that misconfiguration."""
    from attune import tokens

    foreign = tokens.mint(b"k" * 32, key="wf-1/t.1#0", root="wf-1", ttl_seconds=60)
    response = await api.post("/executions/reserve", json={"count": 3},
                              headers={"Authorization": f"Bearer {foreign}"})
    assert assert_error(response, 401, "unauthorized")["message"] == tokens.REFUSED


async def test_an_execution_token_reads_its_tree_while_its_attempt_runs_and_not_after(api) -> None:
    """The token check reads the attempt's row (in a thread, off the event loop): running, the
    action reads its own record; once the attempt has ended, the same token is expired."""
    from attune import tokens
    from attune.records.models import ExecutionRow

    state = api.app.state.attune
    with state.db.session() as s:
        row = ExecutionRow(key="wf-9/t.1#0", workflow_id="wf-9", action_ref="svc.echo",
                           status="running", config={}, retry_count=0, mirror_seq=0)
        s.add(row)
        s.flush()
        row_id = row.id
    token = tokens.mint(state.secret_key, key="wf-9/t.1#0", root="wf-9", ttl_seconds=60)
    auth = {"Authorization": f"Bearer {token}"}

    response = await api.get(f"/executions/{row_id}", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == row_id
    assert_error(await api.get("/executions", headers=auth), 403, "forbidden")

    with state.db.session() as s:
        s.get(ExecutionRow, row_id).status = "completed"
    expired = assert_error(await api.get(f"/executions/{row_id}", headers=auth), 401, "unauthorized")
    assert "expired" in expired["message"]


async def test_only_an_orchestrators_run_token_reserves_ids(api) -> None:
    """An action's token reserved ids in any number, again and again (README: 403 elsewhere)."""
    from attune import tokens
    from attune.records.models import ExecutionRow

    state = api.app.state.attune
    with state.db.session() as s:
        s.add(ExecutionRow(key="wf-7/t.1#0", workflow_id="wf-7", action_ref="svc.echo", status="running",
                           config={}, retry_count=0, mirror_seq=0))
    action = tokens.mint(state.secret_key, key="wf-7/t.1#0", root="wf-7", ttl_seconds=60)
    refused = await api.post("/executions/reserve", json={"count": 100},
                             headers={"Authorization": f"Bearer {action}"})
    assert_error(refused, 403, "forbidden")
    run = tokens.mint(state.secret_key, key="wf-7", root="wf-7", ttl_seconds=60, scope="run")
    granted = await api.post("/executions/reserve", json={"count": 3}, headers={"Authorization": f"Bearer {run}"})
    assert granted.status_code == 200 and len(granted.json()["data"]["ids"]) == 3, granted.text


async def test_a_plain_actions_token_expires_with_its_run(api) -> None:
    """A plain action's one attempt is its run's own row, which has no attempt key: the token was
    never seen as ended and stayed valid for its whole lifetime."""
    from attune import tokens
    from attune.records.models import ExecutionRow

    state = api.app.state.attune
    with state.db.session() as s:
        row = ExecutionRow(workflow_id="svc.echo-1-abc", action_ref="svc.echo", status="running",
                           config={}, retry_count=0, mirror_seq=0)
        s.add(row)
        s.flush()
        row_id = row.id
    token = tokens.mint(state.secret_key, key="svc.echo-1-abc/echo.1#0", root="svc.echo-1-abc", ttl_seconds=600)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await api.get(f"/executions/{row_id}", headers=auth)).status_code == 200
    with state.db.session() as s:
        s.get(ExecutionRow, row_id).status = "completed"
    assert_error(await api.get(f"/executions/{row_id}", headers=auth), 401, "unauthorized")
    assert_error(await api.post("/inquiries", json={"prompt": "late"}, headers=auth), 401, "unauthorized")
