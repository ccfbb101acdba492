"""The API as an HTTP client meets it: the token before the body, one big body not stalling
everyone, typed OpenAPI answers, HEAD/OPTIONS, query names checked, and errors that say what
and where (QA pass qa42)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from attune.settings import Settings
from tests.service.conftest import running_api
from tests.service.fakes import FakeEngine
from tests.service.test_api_definitions import assert_error
from tests.service.test_api_executions import submit

JSON = {"content-type": "application/json"}


async def test_without_the_token_the_body_is_not_read_at_all(settings: Settings, fake_engine: FakeEngine) -> None:
    """401 came after the body had been parsed and scanned (seconds for a big one), and an
    unauthenticated client got 400/422 about its body first."""
    settings = settings.model_copy(update={"api_token": "t0ken"})
    pulled: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        for chunk in (b'{"action_ref": "svc.echo", ', b'"parameters": {"x": NaN}}'):
            pulled.append(chunk)
            yield chunk

    async with running_api(settings, fake_engine.factory, run_mirror=False) as api:
        response = await api.post("/executions/execute", content=body(), headers=JSON)
        assert assert_error(response, 401, "unauthorized")["message"] == "bearer token required"
        assert pulled == []  # not one byte of it read
        for content, ctype in [(b"{not json", "application/json"), (b'{"x": NaN}', "application/json"),
                               (b'{"x": "\\ud800"}', "application/json"), (b"\xff\xfe", "application/json"),
                               (b"text", "text/plain"), (b"{}", "")]:
            response = await api.post("/executions/execute", content=content, headers={"content-type": ctype})
            assert_error(response, 401, "unauthorized")
        response = await api.get("/executions", params={"bogus": "1", "status": "nope"})
        assert_error(response, 401, "unauthorized")
        authorized = await api.post("/executions/execute", content=b'{"x": NaN}',
                                    headers={**JSON, "Authorization": "Bearer t0ken"})
        assert assert_error(authorized, 422, "validation_error")["details"][0]["path"] == "x"


async def test_other_requests_are_answered_while_a_body_is_parsed(svc_api: httpx.AsyncClient,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The JSON parse and scans of a body ran on the event loop: a 13 MB body of small items
    held every other client, /health included, for 5-12 s. The parse of this body is held
    until /health has been answered: on the event loop it would hold /health too."""
    parse, release, answered_meanwhile = json.loads, threading.Event(), []
    parsing = threading.Event()
    body = '{"parameters": {"message": "big-body", "times": 1}, "action_ref": "svc.echo"}'

    def slow_loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if text in (body, body.encode()):  # this request's body, not a record's JSON
            parsing.set()
            answered_meanwhile.append(release.wait(timeout=20))
        return parse(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", slow_loads)
    big = asyncio.create_task(svc_api.post("/executions/execute", content=body, headers=JSON))
    for _ in range(2000):
        if parsing.is_set():
            break
        await asyncio.sleep(0.01)
    health = await svc_api.get("http://localhost/health")
    still_parsing = not big.done()
    release.set()
    assert health.status_code in (200, 503) and still_parsing
    assert (await big).status_code == 201
    assert answered_meanwhile == [True]


async def test_openapi_response_fields_are_typed(api: httpx.AsyncClient) -> None:
    """A serializer on every field ("*") made ~100 fields "any": id, status, created, ..."""
    doc = (await api.get("http://localhost/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    any_json = {("Execution", "result"), ("Inquiry", "response"), ("InquiryCreate", "response_options"),
                ("ParameterSpec", "default")}  # any JSON value, by design

    def typed(prop: dict[str, Any]) -> bool:
        return ("type" in prop or "$ref" in prop or "enum" in prop or "const" in prop
                or any(all(typed(p) for p in prop.get(k, [])) and k in prop for k in ("anyOf", "allOf", "oneOf")))

    untyped = [(name, field) for name, schema in schemas.items()
               for field, prop in schema.get("properties", {}).items()
               if not typed(prop) and (name, field) not in any_json]
    assert untyped == []
    execution = schemas["Execution"]["properties"]
    assert execution["id"]["type"] == "integer"
    assert execution["created"] == {"type": "string", "format": "date-time", "title": "Created"}
    assert execution["status"] == {"$ref": "#/components/schemas/ExecutionStatus"}
    assert "timeout" in schemas["ExecutionStatus"]["enum"]
    assert "responded" in schemas["InquiryStatus"]["enum"]
    operations = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    for path, method, op in operations:
        if path.startswith("/api/v1/") and "health" not in path:
            assert {"401", "403"} <= set(op["responses"]), (method, path)
        if "requestBody" in op and method != "post" or path.endswith(("/execute", "/rerun")):
            assert "415" in op["responses"], (method, path)


async def test_timestamps_are_still_written_in_utc(svc_api: httpx.AsyncClient) -> None:
    data = await submit(svc_api, "svc.echo", message="hi")
    assert data["created"].endswith("+00:00") and "T" in data["created"]


async def test_validate_refuses_yaml_that_is_not_utf8_as_the_cli_does(svc_api: httpx.AsyncClient) -> None:
    text = b'version: "1.0"\ntasks:\n  - name: a\xff\n    action: svc.echo\n    input: {message: "caf\xe9"}\n'
    response = await svc_api.post("/workflows/validate", content=text,
                                  headers={"content-type": "application/x-yaml"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["valid"] is False
    [error] = result["errors"]
    assert error["message"].startswith("cannot read file: 'utf-8' codec can't decode byte 0xff")
    assert (error["line"], error["column"]) == (1, 1)


@pytest.mark.parametrize("ctype", [None, "text/json", "text/plain"])
async def test_a_json_body_without_a_json_content_type_gets_415(svc_api: httpx.AsyncClient,
                                                                ctype: str | None) -> None:
    """No Content-Type (requests' `data=`, httpx's `content=`) got 422 "Input should be a
    valid dictionary", pointing at a body that was fine."""
    headers = {"content-type": ctype} if ctype else {}
    response = await svc_api.post("/executions/execute", headers=headers,
                                  content=json.dumps({"action_ref": "svc.echo", "parameters": {"message": "m"}}))
    error = assert_error(response, 415, "unsupported_media_type")
    given = f"unsupported content type '{ctype}'" if ctype else "no Content-Type given"
    assert error["message"] == f"{given}: send the body as JSON, with Content-Type: application/json"


async def test_a_bad_status_is_reported_with_every_other_query_problem(svc_api: httpx.AsyncClient) -> None:
    response = await svc_api.get("/executions", params={"page": 0, "per_page": 0, "status": "bad", "parent": "x"})
    error = assert_error(response, 422, "validation_error")
    assert error["message"] == "4 problem(s) in the request"
    assert sorted(d["path"].split(".")[0] for d in error["details"]) == ["page", "parent", "per_page", "status"]
    response = await svc_api.get("/inquiries", params={"status": "bad", "execution": "x"})
    assert sorted(d["path"].split(".")[0] for d in assert_error(response, 422, "validation_error")["details"]) \
        == ["execution", "status"]


async def test_head_and_options(svc_api: httpx.AsyncClient) -> None:
    data = await submit(svc_api, "svc.echo", message="hi")
    for url in ("http://localhost/health", "/health", f"/executions/{data['id']}", "/executions", "/packs"):
        get, head = await svc_api.get(url), await svc_api.head(url)
        assert head.status_code == get.status_code, url
        assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert (await svc_api.head("/executions/4242")).status_code == 404
    options = await svc_api.options(f"/executions/{data['id']}")
    assert options.status_code == 204 and options.headers["allow"] == "GET, HEAD, OPTIONS"
    assert (await svc_api.options("/packs/svc")).headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
    assert (await svc_api.options("/executions/execute")).headers["allow"] == "OPTIONS, POST"
    head_of_post = await svc_api.head("/executions/execute")
    assert head_of_post.status_code == 405 and head_of_post.headers["allow"] == "OPTIONS, POST"


async def test_unknown_and_repeated_query_parameters_are_refused(svc_api: httpx.AsyncClient) -> None:
    """They were ignored: `limit`, a typo or a filter that does not exist listed everything."""
    for name in ("limit", "statuss", "created_after"):
        error = assert_error(await svc_api.get("/executions", params={name: "2"}), 422, "validation_error")
        [detail] = error["details"]
        assert detail["path"] == name and detail["message"].startswith("unknown query parameter")
        assert "action_ref, after, page, page_size, parent, per_page, status, top_level_only" in detail["message"]
    repeated = await svc_api.get("/executions?action_ref=svc.echo&action_ref=svc.tree&limit=1&page=0")
    details = assert_error(repeated, 422, "validation_error")["details"]
    assert sorted(d["path"] for d in details) == ["action_ref", "limit", "page"]
    assert "given 2 times" in next(d["message"] for d in details if d["path"] == "action_ref")
    assert (await svc_api.get("/executions?status=running&status=failed")).status_code == 200
    assert_error(await svc_api.post("/executions/execute?dry_run=1", json={"action_ref": "svc.echo"}),
                 422, "validation_error")
    # What the CLI and the web UI send (cli/api_client.py, web/src/api.ts) is all accepted.
    for path, params in [("/executions", {"status": "running", "action_ref": "svc.*", "parent": 1,
                                          "top_level_only": "true", "page": 1, "per_page": 50}),
                         ("/inquiries", {"status": "pending", "execution": 1, "page": 1, "per_page": 1}),
                         ("/packs", {"page": 1, "per_page": 1000}), ("/actions", {"pack_ref": "svc"}),
                         ("/workflows", {"pack_ref": "svc", "page_size": 5})]:
        assert (await svc_api.get(path, params=params)).status_code == 200, path
    assert (await svc_api.get("/executions/1", params={"wait": 0})).status_code in (200, 404)


async def test_errors_say_what_and_where(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    error = assert_error(await svc_api.put("/executions"), 405, "method_not_allowed")
    assert error["message"] == "method PUT is not allowed on /api/v1/executions: it takes GET, HEAD, OPTIONS"
    body = b'{"action_ref": "svc.echo",\n "parameters": {"message": "\xe9t\xe9"}}'
    for ctype in ("application/json", "application/json; charset=latin-1"):
        error = assert_error(await svc_api.post("/executions/execute", content=body,
                                                headers={"content-type": ctype}), 400, "bad_request")
        assert error["message"] == ("request body is not valid UTF-8: byte 0xe9 at offset 55 (line 2, "
                                    "column 29); JSON must be sent as UTF-8")
    error = assert_error(await svc_api.post("/executions/execute", content=b'{"a": ', headers=JSON),
                         400, "bad_request")
    assert error["message"] == "request body is not valid JSON: Expecting value (line 1, column 7)"

    data = await submit(svc_api, "svc.tree")
    fake_engine.workflows[data["workflow_id"]].finish("timeout")
    await svc_api.app.state.attune.mirror.tick()
    error = assert_error(await svc_api.post(f"/executions/{data['id']}/cancel"), 409, "conflict")
    assert error["message"] == f"execution {data['id']} has already timed out"
    error = assert_error(await svc_api.post(f"/executions/{data['id']}/pause"), 409, "conflict")
    assert error["message"].startswith(f"execution {data['id']} has timed out: ")


async def test_created_answers_carry_location(svc_api: httpx.AsyncClient) -> None:
    response = await svc_api.post("/executions/execute", json={"action_ref": "svc.echo",
                                                              "parameters": {"message": "m"}})
    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/executions/{response.json()['data']['id']}"
    assert (await svc_api.get(response.headers["location"].removeprefix("/api/v1"))).status_code == 200
    pack = await svc_api.post("/packs", json={"ref": "made", "label": "Made", "version": "1.0"})
    assert pack.status_code == 201, pack.text
    assert pack.headers["location"] == "/api/v1/packs/made"
