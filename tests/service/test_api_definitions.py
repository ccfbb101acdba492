"""Packs, actions and workflows through the REST API: registration, CRUD, immutable refs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

ECHO = {"ref": "svc.hello", "runner_type": "bash", "entry_point": "echo.sh",
        "parameters": {"message": {"type": "string", "required": True}}}
CHAIN_YAML = """\
version: "1.0"
tasks:
  - name: one
    action: svc.echo
    input:
      message: "{{ parameters.message }}"
"""


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


async def test_register_lists_and_deletes_a_pack(svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    body = (await svc_api.get("/packs/svc")).json()["data"]
    assert body["path"] == str(svc_pack.resolve())
    assert body["actions"] == ["svc.chain", "svc.echo", "svc.fail", "svc.local_chain",
                               "svc.local_echo", "svc.sleep", "svc.tree"]
    listing = (await svc_api.get("/packs")).json()
    assert [p["ref"] for p in listing["items"]] == ["svc"]
    assert listing["pagination"]["total_items"] == 1
    tree = (await svc_api.get("/workflows/svc.tree")).json()["data"]
    assert [t["name"] for t in tree["definition"]["tasks"]] == ["hello", "each", "flaky", "inner"]
    # Registering again is an upsert, not a duplicate.
    assert (await svc_api.post("/packs/register", json={"path": str(svc_pack)})).status_code == 200
    assert (await svc_api.get("/actions")).json()["pagination"]["total_items"] == 7
    assert (await svc_api.delete("/packs/svc")).status_code == 204
    assert_error(await svc_api.get("/packs/svc"), 404, "not_found")
    assert_error(await svc_api.get("/actions/svc.echo"), 404, "not_found")
    assert (await svc_api.get("/workflows")).json()["items"] == []


async def test_reregistering_drops_actions_removed_from_the_directory(api: httpx.AsyncClient, tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "mini"
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: mini\nversion: '1.0'\n")
    for name in ("a", "b"):
        (pack / "actions" / f"{name}.yaml").write_text(
            f"ref: mini.{name}\nrunner_type: shell\nentry_point: {name}.sh\n")
        (pack / "actions" / f"{name}.sh").write_text("echo hi\n")
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    (pack / "actions" / "b.yaml").unlink()
    assert (await api.post("/packs/register", json={"path": str(pack)})).json()["data"]["actions"] == ["mini.a"]


def _pack(root: Path, ref: str, actions: dict[str, str], workflows: dict[str, str] | None = None) -> Path:
    """A pack directory: script actions by name (their ref after `ref: `), workflow actions by
    name (their YAML)."""
    pack = root / ref
    (pack / "actions" / "workflows").mkdir(parents=True, exist_ok=True)
    (pack / "pack.yaml").write_text(f"ref: {ref}\nversion: '1.0'\n")
    for name, action_ref in actions.items():
        (pack / "actions" / f"{name}.yaml").write_text(f"ref: {action_ref}\nrunner_type: shell\nentry_point: {name}.sh\n")
        (pack / "actions" / f"{name}.sh").write_text("echo hi\n")
    for name, text in (workflows or {}).items():
        (pack / "actions" / f"{name}.yaml").write_text(
            f"ref: {ref}.{name}\nworkflow_file: workflows/{name}.workflow.yaml\n")
        (pack / "actions" / "workflows" / f"{name}.workflow.yaml").write_text(text)
    return pack


USES_A = "version: '1.0'\ntasks:\n  - name: t\n    action: {ref}\n"


async def test_reregistering_refuses_to_drop_an_action_a_workflow_still_runs(api: httpx.AsyncClient,
                                                                            tmp_path: Path) -> None:
    """An action renamed in its pack while the pack's own workflow (or another pack's) still
    runs it: the first registration accepted it (the check saw the old action, registered),
    leaving a workflow that failed at its next run; only a third registration said why."""
    pack = _pack(tmp_path, "rn", {"a": "rn.a"}, {"w": USES_A.format(ref="rn.a")})
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    other = _pack(tmp_path, "other", {}, {"uses": USES_A.format(ref="rn.b")})
    _pack(tmp_path, "rn", {"b": "rn.b"})  # rn gains b
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    assert (await api.post("/packs/register", json={"path": str(other)})).status_code == 200
    (pack / "actions" / "a.yaml").write_text("ref: rn.a2\nrunner_type: shell\nentry_point: a.sh\n")
    error = assert_error(await api.post("/packs/register", json={"path": str(pack)}), 422, "validation_error")
    [problem] = error["details"]
    assert problem["file"].endswith("w.workflow.yaml") and (problem["line"], problem["column"]) == (4, 13)
    assert "unknown action 'rn.a'" in problem["message"], problem
    (pack / "actions" / "workflows" / "w.workflow.yaml").write_text(USES_A.format(ref="rn.a2"))
    (pack / "actions" / "b.yaml").unlink()  # other.uses still runs it
    error = assert_error(await api.post("/packs/register", json={"path": str(pack)}), 422, "validation_error")
    assert "other.uses task 't' uses rn.b" in error["message"], error
    assert (await api.get("/actions/rn.a")).status_code == 200  # nothing was changed
    (pack / "actions" / "b.yaml").write_text("ref: rn.b\nrunner_type: shell\nentry_point: b.sh\n")
    assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
    assert (await api.get("/actions/rn.a")).status_code == 404 and (await api.get("/actions/rn.a2")).status_code == 200


async def test_a_second_directory_with_a_registered_packs_ref_is_refused_a_moved_one_is_not(
        api: httpx.AsyncClient, tmp_path: Path) -> None:
    """`attune up` over packs/ops and a copy packs/opsdup (same `ref: ops`) registered both, the
    last silently replacing the first (whose own actions were dropped)."""
    first = _pack(tmp_path / "packs", "ops", {"a": "ops.a"})
    copy = _pack(tmp_path / "copies", "ops", {"b": "ops.b"})
    assert (await api.post("/packs/register", json={"path": str(first)})).status_code == 200
    error = assert_error(await api.post("/packs/register", json={"path": str(copy)}), 409, "conflict")
    assert error["message"].startswith(f"pack 'ops' is registered from {first.resolve()}, which still holds it"), error
    assert (await api.get("/packs/ops")).json()["data"]["actions"] == ["ops.a"]
    first.rename(tmp_path / "moved-away")  # moved: its old directory no longer holds it
    assert (await api.post("/packs/register", json={"path": str(copy)})).status_code == 200
    assert (await api.get("/packs/ops")).json()["data"]["path"] == str(copy.resolve())


async def test_an_action_saved_through_the_api_says_where_its_yaml_is(svc_api: httpx.AsyncClient,
                                                                       svc_pack: Path) -> None:
    """As a registered pack's actions do, so a worker reads the file when a task starts and a
    later edit of it is seen (packs/current.py); saved actions carried neither."""
    from attune.packs.pack_dir import digest_of
    from attune.records import definitions as store

    (svc_pack / "actions" / "echo.sh").touch()
    for method, url in (("POST", "/actions"), ("PUT", "/actions/svc.hello")):
        assert (await svc_api.request(method, url, json=ECHO)).status_code in (200, 201)
        with svc_api.app.state.attune.db.session() as s:
            action = store.action_model(store.get_action(s, "svc.hello"))
        written = svc_pack / "actions" / "hello.yaml"
        assert action.metadata_file == "actions/hello.yaml", action
        assert action.metadata_digest == digest_of(written.read_bytes())


async def test_register_reports_every_problem_with_line_and_column(api: httpx.AsyncClient, tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "broken"
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: broken\nversion: '1.0'\n")
    (pack / "actions" / "x.yaml").write_text(
        "ref: broken.x\nrunner_type: shell\nentry_point: x.sh\nbogus_key: 1\n")
    (pack / "actions" / "y.yaml").write_text(
        "ref: broken.y\nrunner_type: cobol\nentry_point: y.sh\n")
    error = assert_error(await api.post("/packs/register", json={"path": str(pack)}), 422,
                         "validation_error")
    assert len(error["details"]) >= 2
    bogus = next(d for d in error["details"] if "bogus_key" in d["message"])
    assert bogus["file"].endswith("x.yaml") and (bogus["line"], bogus["column"]) == (4, 1)
    assert any(d["file"].endswith("y.yaml") for d in error["details"])
    assert_error(await api.get("/packs/broken"), 404, "not_found")


async def test_register_missing_directory_is_404(api: httpx.AsyncClient, tmp_path: Path) -> None:
    error = assert_error(await api.post("/packs/register", json={"path": str(tmp_path / "nope")}),
                         404, "not_found")
    assert error["details"][0]["path"] == "path"
    # A field named like a part of the request (`path`) keeps its name in the details.
    error = assert_error(await api.post("/packs/register", json={}), 422, "validation_error")
    assert error["details"][0]["path"] == "path"
    error = assert_error(await api.post("/packs/register", json={"path": "a\u0000b"}),
                         422, "validation_error")
    assert "NUL" in error["message"]


async def test_pack_create_duplicate_and_bad_ref(api: httpx.AsyncClient) -> None:
    created = await api.post("/packs", json={"ref": "mine", "label": "Mine"})
    assert created.status_code == 201 and created.json()["data"]["path"] is None
    assert_error(await api.post("/packs", json={"ref": "mine"}), 409, "conflict")
    error = assert_error(await api.post("/packs", json={"ref": "Bad.Ref"}), 422, "validation_error")
    assert error["details"][0]["path"] == "ref"


async def test_action_crud_and_immutable_ref(svc_api: httpx.AsyncClient) -> None:
    created = await svc_api.post("/actions", json=ECHO)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert (data["ref"], data["pack_ref"], data["runner"], data["is_workflow"]) == ("svc.hello", "svc", "shell", False)
    assert_error(await svc_api.post("/actions", json=ECHO), 409, "conflict")

    updated = await svc_api.put("/actions/svc.hello", json={**ECHO, "description": "new"})
    assert updated.status_code == 200 and updated.json()["data"]["description"] == "new"
    without_ref = {k: v for k, v in ECHO.items() if k != "ref"}
    assert (await svc_api.put("/actions/svc.hello", json=without_ref)).status_code == 200

    error = assert_error(await svc_api.put("/actions/svc.hello", json={**ECHO, "ref": "svc.other"}), 409, "conflict")
    assert error["message"] == "ref is immutable: cannot change 'svc.hello' to 'svc.other'"
    error = assert_error(await svc_api.put("/actions/svc.hello", json={**ECHO, "pack_ref": "core"}), 409, "conflict")
    assert "ref is immutable" in error["message"]
    assert (await svc_api.get("/actions/svc.hello")).json()["data"]["ref"] == "svc.hello"

    assert (await svc_api.delete("/actions/svc.hello")).status_code == 204
    assert_error(await svc_api.get("/actions/svc.hello"), 404, "not_found")
    assert_error(await svc_api.put("/actions/svc.hello", json=ECHO), 404, "not_found")
    assert_error(await svc_api.delete("/actions/svc.hello"), 404, "not_found")


async def test_action_validation_problems(svc_api: httpx.AsyncClient) -> None:
    error = assert_error(await svc_api.post("/actions", json={"ref": "svc.x"}), 422, "validation_error")
    assert {d["path"] for d in error["details"]} == {"runner_type", "entry_point"}
    error = assert_error(await svc_api.post("/actions", json={**ECHO, "ref": "nopack.x"}), 404, "not_found")
    assert "not registered" in error["message"]  # the pack it names does not exist
    error = assert_error(await svc_api.post("/actions", json={**ECHO, "entry_point": "../x.sh"}), 422, "validation_error")
    assert error["details"][0]["path"] == "entry_point"
    for control in ("echo\x00.sh", "echo\n.sh"):  # found by the fuzz test: a NUL was a 500
        body = {**ECHO, "ref": "svc.echo", "entry_point": control}
        error = assert_error(await svc_api.put("/actions/svc.echo", json=body),
                             422, "validation_error")
        assert error["details"][0]["path"] == "entry_point"
        assert "control characters" in error["details"][0]["message"]
    error = assert_error(await svc_api.post("/actions", json={**ECHO, "colour": "red"}), 422, "validation_error")
    assert error["details"][0]["path"] == "colour"
    error = assert_error(await svc_api.post("/actions", json={**ECHO, "parameters": {"m": {"type": "str"}}}),
                         422, "validation_error")
    assert error["details"][0]["path"].startswith("parameters.m.type")


async def test_malformed_json_is_400(svc_api: httpx.AsyncClient) -> None:
    response = await svc_api.post("/actions", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(response, 400, "bad_request")


async def test_workflow_crud_and_companion_action(svc_api: httpx.AsyncClient) -> None:
    body = {"ref": "svc.mine", "yaml": CHAIN_YAML,
            "parameters": {"message": {"type": "string", "default": "x"}}}
    created = await svc_api.post("/workflows", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["definition"]["tasks"][0]["action"] == "svc.echo"
    companion = (await svc_api.get("/actions/svc.mine")).json()["data"]
    assert companion["is_workflow"] and companion["parameters"]["message"]["default"] == "x"
    assert_error(await svc_api.post("/workflows", json=body), 409, "conflict")
    assert_error(await svc_api.post("/workflows", json={**body, "ref": "svc.echo"}), 409, "conflict")

    as_json = {"ref": "svc.mine", "description": "json form", "definition": {
        "version": "1.0", "tasks": [{"name": "a", "action": "svc.sleep"}]}}
    updated = await svc_api.put("/workflows/svc.mine", json=as_json)
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["definition"]["tasks"][0]["name"] == "a"
    assert updated.json()["data"]["description"] == "json form"

    error = assert_error(await svc_api.put("/workflows/svc.mine", json={**as_json, "ref": "svc.yours"}), 409, "conflict")
    assert error["message"] == "ref is immutable: cannot change 'svc.mine' to 'svc.yours'"
    assert_error(await svc_api.put("/actions/svc.mine", json=ECHO | {"ref": "svc.mine"}), 409, "conflict")
    assert_error(await svc_api.get("/workflows/svc.echo"), 404, "not_found")

    assert (await svc_api.delete("/workflows/svc.mine")).status_code == 204
    assert_error(await svc_api.get("/actions/svc.mine"), 404, "not_found")


async def test_workflow_with_problems_is_422_with_positions(svc_api: httpx.AsyncClient) -> None:
    bad = 'version: "1.0"\ntasks:\n  - name: one\n    action: svc.echo\n    colour: red\n'
    error = assert_error(await svc_api.post("/workflows", json={"ref": "svc.bad", "yaml": bad}), 422, "validation_error")
    detail = error["details"][0]
    assert "colour" in detail["message"] and (detail["line"], detail["column"]) == (5, 5)
    error = assert_error(await svc_api.post("/workflows", json={"ref": "svc.bad"}), 422, "validation_error")
    assert_error(await svc_api.get("/workflows/svc.bad"), 404, "not_found")


async def test_a_workflows_parameters_as_the_api_answers_them_validate_and_save_back(svc_api: httpx.AsyncClient) -> None:
    """The builder sends a loaded workflow's parameters as GET answers them, with
    `required_properties: null`: validate refused that key, so no workflow with parameters
    could be saved from the builder once loaded."""
    params = (await svc_api.get("/actions/svc.chain")).json()["data"]["parameters"]
    assert "required_properties" in params["message"]  # the API's own answer
    text = CHAIN_YAML + "parameters:\n" + "".join(f"  {name}: {json.dumps(spec)}\n" for name, spec in params.items())
    checked = (await svc_api.post("/workflows/validate", json={"yaml": text})).json()
    assert checked == {"valid": True, "errors": []}, checked
    saved = await svc_api.put("/workflows/svc.chain", json={"yaml": CHAIN_YAML, "parameters": params})
    assert saved.status_code == 200, saved.text


async def test_validate_endpoint_accepts_text_yaml_and_json(svc_api: httpx.AsyncClient) -> None:
    api = svc_api  # its tasks' actions are registered ones
    for ctype in ("text/plain", "application/x-yaml"):
        ok = await api.post("/workflows/validate", content=CHAIN_YAML, headers={"content-type": ctype})
        assert ok.status_code == 200 and ok.json() == {"valid": True, "errors": []}
    bad = 'version: "1.0"\ntasks:\n  - name: one\n    action: svc.echo\n    next:\n      - do: [missing]\n'
    result = (await api.post("/workflows/validate", json={"yaml": bad})).json()
    assert result["valid"] is False
    assert result["errors"][0]["line"] == 6 and "missing" in result["errors"][0]["message"]
    assert set(result["errors"][0]) == {"path", "file", "line", "column", "message"}
    broken = (await api.post("/workflows/validate", content="tasks: [", headers={"content-type": "text/plain"})).json()
    assert broken["valid"] is False and broken["errors"][0]["line"] >= 1
    shaped = assert_error(await api.post("/workflows/validate", json={"yml": "x"}), 422, "validation_error")
    assert {d["path"] for d in shaped["details"]} == {"yaml", "yml"}
    assert "pydantic" not in str(shaped)  # one {path, message} per problem, as other routes answer
    typed = assert_error(await api.post("/workflows/validate", json={"yaml": 123}), 422, "validation_error")
    assert typed["details"] == [{"path": "yaml", "message": "Input should be a valid string"}]
    assert_error(await api.post("/workflows/validate", content=b"{nope",
                                headers={"content-type": "application/json"}), 400, "bad_request")
    assert_error(await api.post("/workflows/validate", content=b"x", headers={"content-type": "image/png"}),
                 415, "unsupported_media_type")


async def test_pagination_of_actions(svc_api: httpx.AsyncClient) -> None:
    first = (await svc_api.get("/actions", params={"per_page": 2})).json()
    assert [a["ref"] for a in first["items"]] == ["svc.chain", "svc.echo"]
    assert first["pagination"] == {"page": 1, "page_size": 2, "total_items": 7, "total_pages": 4,
                                   "has_previous": False, "has_next": True}
    last = (await svc_api.get("/actions", params={"per_page": 2, "page": 4})).json()
    assert [a["ref"] for a in last["items"]] == ["svc.tree"]
    assert last["pagination"]["has_previous"] and not last["pagination"]["has_next"]
    assert (await svc_api.get("/actions", params={"pack_ref": "core"})).json()["items"] == []
    error = assert_error(await svc_api.get("/actions", params={"per_page": 0}), 422, "validation_error")
    assert error["details"][0]["path"] == "per_page"


async def test_a_secret_default_is_never_shown_and_a_round_trip_keeps_it(svc_api: httpx.AsyncClient,
                                                                          fake_engine) -> None:
    """Spec §7: a secret never appears in an API response in clear text, its default included.
    What GET shows can be sent back with PUT: the ******** default stays what it was."""
    secret = {**ECHO, "ref": "svc.deploy",
              "parameters": {"token": {"type": "string", "secret": True, "default": "s3cr3t-default"},
                             "region": {"type": "string", "default": "eu"}}}
    created = await svc_api.post("/actions", json=secret)
    assert created.status_code == 201, created.text
    for path in ("/actions/svc.deploy", "/actions"):
        assert "s3cr3t-default" not in (await svc_api.get(path)).text
    shown = (await svc_api.get("/actions/svc.deploy")).json()["data"]
    assert shown["parameters"]["token"]["default"] == "********" and shown["parameters"]["region"]["default"] == "eu"
    back = {k: shown[k] for k in ("label", "description", "entry_point", "parameters")}
    put = await svc_api.put("/actions/svc.deploy", json={**back, "runner_type": "bash"})
    assert put.status_code == 200, put.text
    started = await svc_api.post("/executions/execute", json={"action_ref": "svc.deploy", "parameters": {}})
    assert started.status_code == 201, started.text
    assert fake_engine.started[-1]["parameters"]["token"] == "s3cr3t-default"
    assert "s3cr3t-default" not in started.text


async def test_an_action_created_through_the_api_survives_registering_its_pack_again(
        svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    """Registering makes a pack's actions those of its directory: an action created through
    the API in a pack that has one is written there (as workflows are), not dropped."""
    created = await svc_api.post("/actions", json={**ECHO, "label": "Hello", "timeout_seconds": 30})
    assert created.status_code == 201, created.text
    written = svc_pack / "actions" / "hello.yaml"
    assert "entry_point: echo.sh" in written.read_text() and "runner_type: bash" in written.read_text()
    assert written.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's 0600: others read packs
    again = await svc_api.post("/packs/register", json={"path": str(svc_pack)})
    assert again.status_code == 200 and "svc.hello" in again.json()["data"]["actions"]
    kept = (await svc_api.get("/actions/svc.hello")).json()["data"]
    assert (kept["label"], kept["timeout_seconds"], kept["runner"]) == ("Hello", 30, "shell")
    changed = await svc_api.put("/actions/svc.hello", json={**ECHO, "label": "Hi"})
    assert changed.status_code == 200, changed.text
    assert "label: Hi" in written.read_text() and "timeout_seconds" not in written.read_text()
    # A file already there that the registry does not know is someone's work: not overwritten.
    (svc_pack / "actions" / "draft.yaml").write_text("ref: svc.draft\n")
    refused = assert_error(await svc_api.post("/actions", json={**ECHO, "ref": "svc.draft"}), 409, "conflict")
    assert "draft.yaml" in refused["message"] and (svc_pack / "actions" / "draft.yaml").read_text() == "ref: svc.draft\n"


async def test_a_deleted_action_stays_deleted_when_its_files_go_too(svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    """DELETE left the YAML, so the next registration brought the action back. It still does by
    default (files someone wrote are not the API's to delete), and says so; remove_files=true
    deletes the definition files (not the scripts, which actions may share)."""
    async def register() -> list[str]:
        return (await svc_api.post("/packs/register", json={"path": str(svc_pack)})).json()["data"]["actions"]

    assert (await svc_api.post("/actions", json=ECHO)).status_code == 201
    assert (await svc_api.delete("/actions/svc.hello")).status_code == 204
    assert "svc.hello" in await register()  # kept by default
    assert (await svc_api.delete("/actions/svc.hello", params={"remove_files": True})).status_code == 204
    assert not (svc_pack / "actions" / "hello.yaml").exists() and (svc_pack / "actions" / "echo.sh").exists()
    assert "svc.hello" not in await register()
    body = {"ref": "svc.gone", "yaml": 'version: "1.0"\ntasks:\n  - name: a\n    action: svc.echo\n'}
    assert (await svc_api.post("/workflows", json=body)).status_code == 201
    assert (await svc_api.delete("/workflows/svc.gone", params={"remove_files": "true"})).status_code == 204
    assert not any("gone" in p.name for p in (svc_pack / "actions").rglob("*"))
    assert "svc.gone" not in await register()
    spec = (await svc_api.get("http://localhost/openapi.json")).json()["paths"]["/api/v1/actions/{ref}"]["delete"]
    assert "comes back at the next" in spec["description"]


async def test_what_get_answers_can_be_put_back(svc_api: httpx.AsyncClient) -> None:
    """GET, edit, PUT: the fields only an answer has (id, created, updated, is_workflow, the
    resolved `runner`) are taken as read, and nothing the action had is lost on the way."""
    created = await svc_api.post("/actions", json={**ECHO, "local": True, "timeout_seconds": 30,
                                                   "warm_start": False})
    assert created.status_code == 201, created.text
    read = (await svc_api.get("/actions/svc.hello")).json()["data"]
    put = await svc_api.put("/actions/svc.hello", json={**read, "label": "Edited"})
    assert put.status_code == 200, put.text
    again = (await svc_api.get("/actions/svc.hello")).json()["data"]
    assert again["label"] == "Edited" and again["local"] is True and again["warm_start"] is False
    assert {k: v for k, v in again.items() if k not in ("label", "updated")} == \
           {k: v for k, v in read.items() if k not in ("label", "updated")}
    # A workflow's graph goes back as its YAML (`definition` in an answer is the normalized
    # graph, read-only); the rest of the answer as read.
    flow = (await svc_api.get("/workflows/svc.chain")).json()["data"]
    files = (await svc_api.get("/workflows/svc.chain/files")).json()["data"]
    body = {k: v for k, v in flow.items() if k != "definition"} | {"yaml": files["workflow_yaml"]}
    put = await svc_api.put("/workflows/svc.chain", json={**body, "description": "Edited"})
    assert put.status_code == 200, put.text
    assert (await svc_api.get("/workflows/svc.chain")).json()["data"]["description"] == "Edited"
    # A real typo is still refused, naming it.
    error = assert_error(await svc_api.put("/actions/svc.hello", json={**read, "lable": "x"}), 422,
                         "validation_error")
    assert error["details"][0]["path"] == "lable"


async def test_a_workflow_that_runs_an_unregistered_action_is_a_problem_at_its_line(
        svc_api: httpx.AsyncClient) -> None:
    """As registering a pack checks its tasks' actions, so do validating and saving through the
    API (the builder's Save): it would otherwise save, and fail only when run (409)."""
    text = CHAIN_YAML.replace("svc.echo", "core.nope")
    result = (await svc_api.post("/workflows/validate", json={"yaml": text})).json()
    assert result["valid"] is False
    (problem,) = result["errors"]
    assert problem["message"] == "unknown action 'core.nope'" and problem["line"] == 4
    error = assert_error(await svc_api.post("/workflows", json={"ref": "svc.nope", "yaml": text}), 422,
                         "validation_error")
    assert "unknown action 'core.nope'" in str(error["details"])
    fine = {"ref": "svc.fine", "yaml": CHAIN_YAML, "parameters": {"message": {"type": "string"}}}
    assert (await svc_api.post("/workflows", json=fine)).status_code == 201


async def test_a_packs_config_is_checked_and_its_secrets_never_shown(api: httpx.AsyncClient) -> None:
    schema = {"password": {"type": "string", "secret": True}, "retries": {"type": "integer", "default": 2},
              "db": {"type": "object", "properties": {"pw": {"type": "string", "secret": True}}}}
    bad = await api.post("/packs", json={"ref": "cfgd", "config": {"retries": "x"}, "conf_schema": schema})
    error = assert_error(bad, 422, "validation_error")
    assert error["details"] == [{"path": "config.retries", "message": "config 'retries': \"x\" is not of type integer"}]
    created = await api.post("/packs", json={"ref": "cfgd", "config": {"password": "hunter2pass",
                                                                       "db": {"pw": "x9", "host": "h"}},
                                             "conf_schema": schema})
    assert created.status_code == 201, created.text
    for shown in (created.json()["data"], (await api.get("/packs/cfgd")).json()["data"],
                  (await api.get("/packs")).json()["items"][0]):
        assert shown["config"] == {"password": "********", "retries": 2,
                                   "db": {"pw": "********", "host": "h"}}, shown


async def test_a_get_answers_definition_sent_back_gets_a_hint_not_invented_lines(svc_api) -> None:
    """`definition` in an answer is the normalized graph (documented as for reading). Sent back
    with PUT, its problems were reported at lines of a text the user never saw."""
    got = (await svc_api.get("/workflows/svc.chain")).json()["data"]
    answer = await svc_api.put("/workflows/svc.chain", json={"definition": got["definition"]})
    error = assert_error(answer, 422, "validation_error")
    assert "is the normalized graph, for reading: send the workflow as {\"yaml\": ...}" in error["message"]
    assert error["details"] and all("line" not in d and "file" not in d and d["path"] for d in error["details"])


async def test_text_no_database_stores_is_refused_on_every_route(api: httpx.AsyncClient) -> None:
    """POST /packs stored a config or label holding "\\ud800" (500), after which GET /packs
    failed for everyone until the pack was deleted."""
    for body in ('{"ref": "p1", "config": {"a": "\\ud800"}}', '{"ref": "p1", "label": "x\\udc00"}',
                 '{"ref": "p1", "config": {"k\\udc00": "x"}}'):
        refused = await api.post("/packs", content=body, headers={"content-type": "application/json"})
        error = assert_error(refused, 422, "validation_error")
        assert "not valid Unicode text" in error["details"][0]["message"], error
    emoji = await api.post("/packs", content='{"ref": "p1", "label": "\\ud83d\\ude00 ok"}',
                           headers={"content-type": "application/json"})
    assert emoji.status_code == 201, emoji.text  # a surrogate pair is a character
    assert (await api.get("/packs")).status_code == 200


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
