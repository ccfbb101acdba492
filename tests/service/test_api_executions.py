"""Submission, listing, reading and cancelling executions, on a fake engine."""

from __future__ import annotations

import json

import httpx
import pytest

from attune.records import reserved_ids
from tests.service.fakes import FakeEngine
from tests.service.test_api_definitions import assert_error


async def submit(api: httpx.AsyncClient, ref: str, **params) -> dict:
    response = await api.post("/executions/execute", json={"action_ref": ref, "parameters": params})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_submit_validates_applies_defaults_and_redacts(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    data = await submit(svc_api, "svc.echo", message="hi", token="s3cr3t")
    assert data["status"] == "scheduled" and data["parent"] is None
    assert data["config"] == {"message": "hi", "times": 1, "mode": "plain", "token": "********"}
    assert data["workflow_id"].startswith("svc.echo-") and data["timeout_seconds"] == 600
    started = fake_engine.started[0]
    # The engine gets the real secret; records and responses never do.
    assert started["parameters"]["token"] == "s3cr3t" and started["workflow_id"] == data["workflow_id"]
    assert set(started["catalog"]) == {"svc.echo"}
    stored = (await svc_api.get(f"/executions/{data['id']}")).json()["data"]
    assert stored["config"]["token"] == "********" and "s3cr3t" not in str(stored)


async def test_workflow_submission_sends_the_closure_and_creates_a_workflow_record(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    data = await submit(svc_api, "svc.tree")
    assert set(fake_engine.started[0]["catalog"]) == {"svc.tree", "svc.echo", "svc.fail", "svc.chain", "svc.sleep"}
    view = (await svc_api.get(f"/executions/{data['id']}/workflow")).json()["data"]
    assert view["execution"] == data["id"] and view["workflow_id"] == data["workflow_id"]
    assert view["status"] == "scheduled" and view["tasks"] == []


async def test_every_parameter_problem_is_listed(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    response = await svc_api.post("/executions/execute", json={
        "action_ref": "svc.echo", "parameters": {"times": 0, "mode": "x", "token": 5, "extra": 1}})
    error = assert_error(response, 422, "validation_error")
    assert sorted(d["path"] for d in error["details"]) == [
        "parameters.extra", "parameters.message", "parameters.mode", "parameters.times", "parameters.token"]
    assert fake_engine.started == []
    assert (await svc_api.get("/executions")).json()["items"] == []


async def test_unknown_action_is_404_and_bad_body_is_422(svc_api: httpx.AsyncClient) -> None:
    assert_error(await svc_api.post("/executions/execute", json={"action_ref": "svc.nope"}), 404, "not_found")
    error = assert_error(await svc_api.post("/executions/execute", json={"parameters": {}}), 422, "validation_error")
    assert error["details"][0]["path"] == "action_ref"
    assert_error(await svc_api.get("/executions/999"), 404, "not_found")
    assert_error(await svc_api.get("/executions/abc"), 404, "not_found")  # ids are integers
    for method, path, what in [("GET", "/executions/abc", "execution"), ("POST", "/executions/-1/rerun", "execution"),
                               ("POST", "/inquiries/x/respond", "inquiry")]:
        body = (await svc_api.request(method, path, json={})).json()["error"]  # says what was wrong
        assert f"{what} ids are positive integers, not '{path.split('/')[2]}'" in body["message"], body
        assert body["details"][0]["path"] == f"{what}_id", body
    assert_error(await svc_api.get(f"/executions/{2**64}"), 422, "validation_error")
    # No route has this shape with any id (the API's prefix twice): the id is not what is wrong.
    body = (await svc_api.post("/api/v1/executions/execute", json={})).json()["error"]
    assert body["message"] == "no route POST /api/v1/api/v1/executions/execute" and body["details"] == [], body


async def test_workflow_with_a_dangling_task_action_is_409(svc_api: httpx.AsyncClient) -> None:
    # Saved while its task's action existed; that action deleted since.
    action = {"ref": "svc.missing", "runner_type": "bash", "entry_point": "echo.sh"}
    assert (await svc_api.post("/actions", json=action)).status_code == 201
    yaml = 'version: "1.0"\ntasks:\n  - name: a\n    action: svc.missing\n'
    assert (await svc_api.post("/workflows", json={"ref": "svc.dangling", "yaml": yaml})).status_code == 201
    assert (await svc_api.delete("/actions/svc.missing")).status_code == 204
    error = assert_error(await svc_api.post("/executions/execute", json={"action_ref": "svc.dangling"}),
                         409, "conflict")
    assert "svc.missing" in error["message"]


async def test_a_failed_start_leaves_a_failed_record(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    fake_engine.fail_start = RuntimeError("boom")
    response = await svc_api.post("/executions/execute", json={"action_ref": "svc.echo", "parameters": {"message": "m"}})
    error = assert_error(response, 503, "start_failed")
    assert "boom" in error["message"]
    rows = (await svc_api.get("/executions")).json()["items"]
    assert len(rows) == 1 and rows[0]["status"] == "failed"
    assert rows[0]["result"]["succeeded"] is False and "boom" in rows[0]["result"]["error"]


async def test_engine_unreachable_at_submission_is_503_and_failed(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    fake_engine.down = True
    response = await svc_api.post("/executions/execute", json={"action_ref": "svc.echo", "parameters": {"message": "m"}})
    assert_error(response, 503, "start_failed")
    assert (await svc_api.get("/executions")).json()["items"][0]["status"] == "failed"


async def test_listing_filters_and_pagination(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    ids = [(await submit(svc_api, "svc.echo", message=str(i)))["id"] for i in range(3)]
    tree = await submit(svc_api, "svc.tree")
    wf = fake_engine.workflows[tree["workflow_id"]]
    wf.record("hello.1#0", status="running")
    await svc_api.app.state.attune.mirror.tick()

    everything = (await svc_api.get("/executions")).json()
    assert everything["pagination"]["total_items"] == 5
    listed = [e["id"] for e in everything["items"]]
    assert listed == sorted(listed, reverse=True)  # newest first

    top = (await svc_api.get("/executions", params={"top_level_only": "true"})).json()
    assert [e["id"] for e in top["items"]] == [tree["id"], *reversed(ids)]
    children = (await svc_api.get("/executions", params={"parent": tree["id"]})).json()["items"]
    assert [c["workflow_task"]["task_name"] for c in children] == ["hello"]
    exact = (await svc_api.get("/executions", params={"action_ref": "svc.tree"})).json()["items"]
    assert [e["id"] for e in exact] == [tree["id"]]
    pack = (await svc_api.get("/executions", params={"action_ref": "svc.*"})).json()
    assert pack["pagination"]["total_items"] == 5
    assert (await svc_api.get("/executions", params={"action_ref": "sv.*"})).json()["items"] == []
    running = (await svc_api.get("/executions", params={"status": "running"})).json()["items"]
    assert {e["id"] for e in running} == {tree["id"], children[0]["id"]}
    both = (await svc_api.get("/executions", params={"status": ["running", "scheduled"]})).json()
    assert both["pagination"]["total_items"] == 5
    commas = (await svc_api.get("/executions", params={"status": "running, scheduled"})).json()
    assert [e["id"] for e in commas["items"]] == [e["id"] for e in both["items"]]
    assert_error(await svc_api.get("/executions", params={"status": "bogus"}), 422, "validation_error")
    mixed = await svc_api.get("/executions", params={"status": ["running,bogus", "nope"]})
    assert_error(mixed, 422, "validation_error")
    assert [d["message"].split(" is not")[0] for d in mixed.json()["error"]["details"]] == ["'bogus'", "'nope'"]

    page2 = (await svc_api.get("/executions", params={"per_page": 2, "page": 2})).json()
    assert page2["pagination"] == {"page": 2, "page_size": 2, "total_items": 5, "total_pages": 3,
                                   "has_previous": True, "has_next": True, "next_after": listed[3]}
    assert [e["id"] for e in page2["items"]] == listed[2:4]
    # page_size (the answer's own name for it) was ignored: 50 items came back.
    by_answer_name = (await svc_api.get("/executions", params={"page_size": 2, "page": 2})).json()
    assert by_answer_name["pagination"] == page2["pagination"]
    assert_error(await svc_api.get("/executions", params={"page_size": 2, "per_page": 3}), 422, "validation_error")


async def _keyset_pages(api: httpx.AsyncClient, params: dict) -> list[list[int]]:
    """Every page of a listing by `after`, following `next_after` to the end."""
    pages, after = [], None
    while True:
        body = (await api.get("/executions", params={**params, **({"after": after} if after else {})})).json()
        pages.append([e["id"] for e in body["items"]])
        assert body["pagination"]["page"] == len(pages)
        after = body["pagination"]["next_after"]
        if after is None:
            assert not body["pagination"]["has_next"]
            return pages


async def _offset_pages(api: httpx.AsyncClient, params: dict) -> list[list[int]]:
    first = (await api.get("/executions", params=params)).json()
    pages = [[e["id"] for e in first["items"]]]
    for page in range(2, first["pagination"]["total_pages"] + 1):
        body = (await api.get("/executions", params={**params, "page": page})).json()
        pages.append([e["id"] for e in body["items"]])
    return pages


async def test_keyset_paging_returns_the_offset_pages_with_every_filter(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    """`after` + `next_after` walk the same pages as `page`, filters included (issue 13.5)."""
    for i in range(5):
        await submit(svc_api, "svc.echo", message=str(i))
    tree = await submit(svc_api, "svc.tree")
    fake_engine.workflows[tree["workflow_id"]].record("hello.1#0", status="running")
    await svc_api.app.state.attune.mirror.tick()
    await svc_api.post(f"/executions/{(await submit(svc_api, 'svc.echo', message='x'))['id']}/cancel")
    filters: list[dict] = [{}, {"status": "scheduled"}, {"status": ["running", "cancelled"]},
                           {"action_ref": "svc.echo"}, {"action_ref": "svc.*"},
                           {"parent": tree["id"]}, {"top_level_only": "true"}]
    for params in filters:
        for per_page in (1, 2, 3, 50):
            query = {**params, "per_page": per_page}
            assert await _keyset_pages(svc_api, query) == await _offset_pages(svc_api, query), query


async def test_keyset_paging_edges(svc_api: httpx.AsyncClient) -> None:
    ids = [(await submit(svc_api, "svc.echo", message=str(i)))["id"] for i in range(3)]
    last = (await svc_api.get("/executions", params={"after": ids[1]})).json()
    assert [e["id"] for e in last["items"]] == [ids[0]]
    # Two newer rows come before it: a page that starts after them has a previous one, whatever
    # the number its page gets.
    assert last["pagination"] == {"page": 1, "page_size": 50, "total_items": 3, "total_pages": 1,
                                       "has_previous": True, "has_next": False, "next_after": None}
    # The cursor is a place in the list: an id no execution has names none.
    assert_error(await svc_api.get("/executions", params={"after": ids[2] + 1}), 422, "validation_error")
    past = (await svc_api.get("/executions", params={"after": ids[0]})).json()
    assert past["items"] == [] and not past["pagination"]["has_next"]
    off_boundary = (await svc_api.get("/executions", params={"after": ids[2], "per_page": 1})).json()
    assert [e["id"] for e in off_boundary["items"]] == [ids[1]]
    assert off_boundary["pagination"]["next_after"] == ids[1]
    assert_error(await svc_api.get("/executions", params={"after": ids[1], "page": 2}), 422,
                 "validation_error")
    assert_error(await svc_api.get("/executions", params={"after": 0}), 422, "validation_error")


async def test_lists_go_by_creation_not_by_the_ids_reserved_ahead(
        svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    """A run's task attempts get ids from blocks reserved ahead (reserved_ids), so a record
    created later can have a lower id: a retry below its first attempt, a task below a
    submission made before it ran. Lists go by creation: newest first (every page, by offset
    and by `after`), and a workflow's tasks oldest first."""
    tree = await submit(svc_api, "svc.tree")
    with svc_api.app.state.attune.db.session() as s:
        low, high = reserved_ids.reserve(s, 2)  # the run's block, drawn before `before` exists
    before = await submit(svc_api, "svc.echo", message="before")
    wf = fake_engine.workflows[tree["workflow_id"]]
    wf.record("hello.1#0", status="running", record_id=high)
    await svc_api.app.state.attune.mirror.tick()
    wf.record("hello.1#0", status="failed")
    wf.record("hello.1#1", status="running", record_id=low, retry_count=1,
              original_key=f"{tree['workflow_id']}/hello.1#0")
    await svc_api.app.state.attune.mirror.tick()
    assert low < high < before["id"]

    newest_first = [low, high, before["id"], tree["id"]]
    for params in ({}, {"action_ref": "svc.*"}, {"status": ["running", "failed", "scheduled"]}):
        listed = (await svc_api.get("/executions", params=params)).json()["items"]
        assert [e["id"] for e in listed] == newest_first, params
        for per_page in (1, 3):
            query = {**params, "per_page": per_page}
            by_offset, by_keyset = await _offset_pages(svc_api, query), await _keyset_pages(svc_api, query)
            assert sum(by_offset, []) == sum(by_keyset, []) == newest_first, query
    children = (await svc_api.get("/executions", params={"parent": tree["id"]})).json()["items"]
    assert [c["id"] for c in children] == [low, high]
    view = (await svc_api.get(f"/executions/{tree['id']}/workflow")).json()["data"]
    assert [(t["id"], t["workflow_task"]["retry_count"]) for t in view["tasks"]] == [(high, 0), (low, 1)]

    # Paging by `after` while records arrive: the new one is above the first page, and the
    # next page goes on from where that one ended (an offset page 2 now repeats its last row).
    first = (await svc_api.get("/executions", params={"per_page": 2})).json()
    await submit(svc_api, "svc.echo", message="newer")
    rest = (await svc_api.get("/executions", params={"per_page": 2, "after": first["pagination"]["next_after"]})).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == newest_first
    assert rest["pagination"]["has_previous"] and not rest["pagination"]["has_next"]


async def test_cancel(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    data = await submit(svc_api, "svc.tree")
    response = await svc_api.post(f"/executions/{data['id']}/cancel")
    assert response.status_code == 200 and response.json()["data"]["status"] == "canceling"
    assert fake_engine.cancelled == [data["workflow_id"]]

    # The engine reports the end; the mirror records it, and a second cancel is a conflict.
    fake_engine.workflows[data["workflow_id"]].finish("cancelled")
    await svc_api.app.state.attune.mirror.tick()
    record = (await svc_api.get(f"/executions/{data['id']}")).json()["data"]
    assert record["status"] == "cancelled"
    assert record["result"] == {"error": "Workflow cancelled", "succeeded": False}
    error = assert_error(await svc_api.post(f"/executions/{data['id']}/cancel"), 409, "conflict")
    assert "already cancelled" in error["message"]
    assert_error(await svc_api.post("/executions/4242/cancel"), 404, "not_found")


async def test_cancel_a_task_record_points_at_its_workflow(svc_api: httpx.AsyncClient, fake_engine: FakeEngine) -> None:
    data = await submit(svc_api, "svc.tree")
    fake_engine.workflows[data["workflow_id"]].record("hello.1#0", status="running")
    await svc_api.app.state.attune.mirror.tick()
    child = (await svc_api.get("/executions", params={"parent": data["id"]})).json()["items"][0]
    error = assert_error(await svc_api.post(f"/executions/{child['id']}/cancel"), 400, "bad_request")
    assert str(data["id"]) in error["message"]


async def test_workflow_view_of_a_plain_action_is_404(svc_api: httpx.AsyncClient) -> None:
    data = await submit(svc_api, "svc.echo", message="m")
    assert_error(await svc_api.get(f"/executions/{data['id']}/workflow"), 404, "not_found")
    assert_error(await svc_api.get("/executions/777/workflow"), 404, "not_found")


async def test_oversized_parameters_are_refused_before_anything_is_stored(svc_api, fake_engine):
    for size in (3_000_000, 5_000_000):
        response = await svc_api.post("/executions/execute", json={
            "action_ref": "svc.echo", "parameters": {"message": "x" * size}})
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "payload_too_large"
        assert "over the limit of 1,048,576 (setting ATTUNE_MAX_PARAMETERS_BYTES)" in error["message"]
    assert (await svc_api.get("/executions")).json()["pagination"]["total_items"] == 0
    assert fake_engine.started == []


async def test_a_request_body_over_the_limit_is_refused_even_without_a_length(svc_api):
    async def chunks():
        for _ in range(20):
            yield b"x" * 1_000_000

    response = await svc_api.post("/workflows/validate", content=chunks(),
                                  headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert "ATTUNE_MAX_REQUEST_BYTES" in response.json()["error"]["message"]
    big = await svc_api.post("/workflows/validate", content=b"x" * 17_000_000,
                             headers={"content-type": "text/plain"})
    assert big.status_code == 413


async def test_list_responses_stay_small_whatever_the_rows_hold(svc_api, fake_engine):
    top = await submit(svc_api, "svc.echo", message="m")
    wf = fake_engine.workflows[top["workflow_id"]]
    wf.record("echo.1#0", status="completed", result={"data": "y" * 100_000, "succeeded": True})
    wf.finish("completed")
    await svc_api.app.state.attune.mirror.tick()
    listed = (await svc_api.get("/executions")).json()["items"][0]
    assert listed["result"] is None and listed["omitted"] == ["result"]
    whole = (await svc_api.get(f"/executions/{top['id']}")).json()["data"]
    assert whole["result"]["data"] == "y" * 100_000 and whole["omitted"] == []


async def test_json_sent_as_another_content_type_gets_415_naming_it(svc_api) -> None:
    body = '{"action_ref": "svc.echo", "parameters": {"message": "hi"}}'
    response = await svc_api.post("/executions/execute", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 415, response.text
    assert "text/plain" in response.json()["error"]["message"]
    assert "application/json" in response.json()["error"]["message"]
    ok = await svc_api.post("/executions/execute", content=body, headers={"content-type": "application/json"})
    assert ok.status_code == 201, ok.text


async def test_text_that_is_not_unicode_is_refused_and_nothing_is_stored(svc_api, fake_engine):
    """JSON may carry an unpaired `\\ud800`; it could not be sent to Temporal nor read back from
    the records (one such row used to break every list of executions)."""
    body = '{"action_ref": "svc.echo", "parameters": {"message": "bad \\ud800 text"}}'
    response = await svc_api.post("/executions/execute", content=body,
                                  headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == [{
        "path": "parameters.message", "message": "holds \\ud800, which is not valid Unicode text (bytes "
        "that are not UTF-8, or an unpaired surrogate escape in JSON)"}]
    listed = await svc_api.get("/executions")
    assert listed.status_code == 200 and listed.json()["pagination"]["total_items"] == 0
    assert fake_engine.started == []


@pytest.mark.parametrize("depth, status, fragment", [
    (150, 422, "nested more than 100 levels deep (the limit)"),
    (900, 422, "nested more than 100 levels deep (the limit)"),
    (5_000, 400, "request body is nested too deeply to parse as JSON; values may be nested at most "
                 "100 levels deep"),
])
async def test_parameters_nested_too_deep_are_refused_naming_the_limit(svc_api, fake_engine, depth, status,
                                                                       fragment):
    body = '{"action_ref": "svc.echo", "parameters": {"message": ' + "[" * depth + "]" * depth + "}}"
    response = await svc_api.post("/executions/execute", content=body,
                                  headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert fragment in json.dumps(response.json()["error"])
    assert fake_engine.started == []
