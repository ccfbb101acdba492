"""What the web UI needs from the API, over HTTP: the UI served at /, /meta, and workflows saved
through the API landing in their pack's directory as the two-file layout."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from attune import webui
from attune.packs.loader import load_pack
from attune.settings import Settings
from tests.service.conftest import running_api
from tests.service.fakes import FakeEngine

SAVED_YAML = """\
# written by the builder: this comment and the positions must survive
version: "1.0"
tasks:
  - name: greet
    action: svc.echo
    input:
      message: "{{ parameters.who }}"
    next:
      - when: "{{ succeeded() }}"
        do: [rest]
    __chart_meta__:
      position: {x: 40, y: 0}
  - name: rest
    action: svc.sleep
    __chart_meta__:
      position: {x: 40, y: 110}
"""
SAVED = {"ref": "svc.saved", "label": "Saved", "description": "from the builder", "yaml": SAVED_YAML,
         "parameters": {"who": {"type": "string", "required": True},
                        "token": {"type": "string", "secret": True}}}


def root_client(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same app, addressed from / rather than /api/v1."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://localhost")  # type: ignore[attr-defined]


@pytest.fixture
def built_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for `npm run build`'s output (the real build is exercised by tests/ui)."""
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><div id=root></div>")
    (static / "assets" / "index-abc123.js").write_text("console.log('ui')")
    (static / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the static folder")
    monkeypatch.setattr(webui, "STATIC_DIR", static)
    return static


async def test_ui_is_served_at_root_and_for_every_app_route(api: httpx.AsyncClient, built_ui: Path) -> None:
    async with root_client(api) as web:
        for path in ("/", "/executions", "/executions/42?task=7", "/workflows/svc.chain/edit"):
            response = await web.get(path)
            assert response.status_code == 200, path
            assert response.text == "<!doctype html><div id=root></div>"
            assert response.headers["cache-control"] == "no-cache"
        asset = await web.get("/assets/index-abc123.js")
        assert asset.text == "console.log('ui')" and "immutable" in asset.headers["cache-control"]
        assert (await web.get("/favicon.svg")).text == "<svg/>"
        # Never a file outside the build, however the path is spelled.
        for sneaky in ("/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt", "/%2e%2e/secret.txt"):
            assert "outside" not in (await web.get(sneaky)).text
        # API paths stay API: an unknown one is the JSON error envelope, not the app.
        missing = await web.get("/api/v1/no-such-route")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert (await web.get("/openapi.json")).json()["info"]["title"] == "Attune on Temporal"
        assert (await web.get("/health")).status_code in (200, 503)


async def test_root_says_how_to_build_when_the_ui_is_missing(api: httpx.AsyncClient, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webui, "STATIC_DIR", tmp_path / "nothing-here")
    async with root_client(api) as web:
        response = await web.get("/executions")
    assert response.status_code == 503
    assert "web UI is not built" in response.text and "make ui" in response.text


async def test_ui_routes_are_not_in_the_openapi_document(api: httpx.AsyncClient) -> None:
    async with root_client(api) as web:
        paths = (await web.get("/openapi.json")).json()["paths"]
    assert "/{path}" not in paths
    assert "/api/v1/meta" in paths and "/api/v1/workflows/{ref}/files" in paths
    for method, route in (("post", "/api/v1/workflows"), ("put", "/api/v1/workflows/{ref}")):
        assert "actions/<name>.yaml" in paths[route][method]["description"]


async def test_meta_names_the_temporal_web_ui(api: httpx.AsyncClient) -> None:
    data = (await api.get("/meta")).json()["data"]
    # The fixture's Temporal is 127.0.0.1:1; the Web UI port defaults to 8233.
    assert data["temporal_ui_url"] == "http://127.0.0.1:8233"
    assert data["temporal_namespace"] == "default" and data["version"]


async def test_meta_follows_settings_and_needs_the_token(settings: Settings, fake_engine: FakeEngine) -> None:
    configured = settings.model_copy(update={"temporal_ui_url": "http://temporal.example:8080/",
                                             "temporal_namespace": "prod", "api_token": "s3cret"})
    async with running_api(configured, fake_engine.factory, run_mirror=False) as api:
        refused = await api.get("/meta")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        data = (await api.get("/meta", headers={"Authorization": "Bearer s3cret"})).json()["data"]
        assert data["temporal_ui_url"] == "http://temporal.example:8080"
        assert data["temporal_namespace"] == "prod"
        # The UI's files need no token (they hold no data); everything they call does.
        async with root_client(api) as web:
            assert (await web.get("/executions")).status_code in (200, 503)
            assert (await web.get("/api/v1/executions")).status_code == 401


async def test_created_workflow_is_written_as_two_files_that_load_back(svc_api: httpx.AsyncClient,
                                                                      svc_pack: Path) -> None:
    created = await svc_api.post("/workflows", json=SAVED)
    assert created.status_code == 201, created.text
    action_file = svc_pack / "actions" / "saved.yaml"
    workflow_file = svc_pack / "actions" / "workflows" / "saved.workflow.yaml"
    assert workflow_file.read_text() == SAVED_YAML  # verbatim: comment and positions kept
    assert yaml.safe_load(action_file.read_text()) == {
        "ref": "svc.saved", "label": "Saved", "description": "from the builder",
        "workflow_file": "workflows/saved.workflow.yaml",
        "parameters": {"who": {"type": "string", "required": True},
                       "token": {"type": "string", "secret": True}},
    }
    # What is on disk is what the API stored: a fresh load gives the same action.
    loaded = load_pack(svc_pack).actions["svc.saved"]
    stored = (await svc_api.get("/workflows/svc.saved")).json()["data"]
    assert loaded.workflow.model_dump(mode="json") == stored["definition"]
    assert {k: v.model_dump(exclude_defaults=True) for k, v in loaded.parameters.items()} == \
        {"who": {"required": True}, "token": {"secret": True}}
    # Registering the directory again changes nothing and keeps the workflow.
    again = await svc_api.post("/packs/register", json={"path": str(svc_pack)})
    assert "svc.saved" in again.json()["data"]["actions"]
    files = (await svc_api.get("/workflows/svc.saved/files")).json()["data"]
    assert files["workflow_yaml"] == SAVED_YAML and files["action_path"] == str(action_file.resolve())


async def test_replacing_a_workflow_rewrites_its_own_files(svc_api: httpx.AsyncClient,
                                                           svc_pack: Path) -> None:
    # svc.chain is declared in actions/chain.yaml; rename that file so the writer must find it by ref.
    (svc_pack / "actions" / "chain.yaml").rename(svc_pack / "actions" / "the_chain_action.yaml")
    assert (await svc_api.post("/packs/register", json={"path": str(svc_pack)})).status_code == 200
    text = 'version: "2.0"\ntasks:\n  - name: only\n    action: svc.sleep\n'
    kept = {"message": {"type": "string", "default": "chained"}}  # svc.tree's task passes it
    updated = await svc_api.put("/workflows/svc.chain", json={"label": "Chain v2", "yaml": text, "parameters": kept})
    assert updated.status_code == 200, updated.text
    assert (svc_pack / "actions" / "workflows" / "chain.workflow.yaml").read_text() == text
    assert not (svc_pack / "actions" / "chain.yaml").exists()
    written = yaml.safe_load((svc_pack / "actions" / "the_chain_action.yaml").read_text())
    assert written["label"] == "Chain v2" and written["workflow_file"] == "workflows/chain.workflow.yaml"
    assert load_pack(svc_pack).actions["svc.chain"].workflow.version == "2.0"


async def test_refused_saves_write_nothing(svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    before = {p: p.read_bytes() for p in svc_pack.rglob("*") if p.is_file()}
    bad = 'version: "1.0"\ntasks:\n  - name: one\n    action: svc.echo\n    colour: red\n'
    assert (await svc_api.post("/workflows", json={"ref": "svc.bad", "yaml": bad})).status_code == 422
    moved = await svc_api.put("/workflows/svc.chain", json={"ref": "svc.other", "yaml": SAVED_YAML})
    assert moved.status_code == 409 and "immutable" in moved.json()["error"]["message"]
    moved = await svc_api.put("/workflows/svc.chain", json={"pack_ref": "core", "yaml": SAVED_YAML})
    assert moved.status_code == 409
    escape = await svc_api.post("/workflows", json={**SAVED, "workflow_file": "../../escape.workflow.yaml"})
    assert escape.status_code == 422 and escape.json()["error"]["details"][0]["path"] == "workflow_file"
    after = {p: p.read_bytes() for p in svc_pack.rglob("*") if p.is_file()}
    assert after == before
    assert not (svc_pack.parent.parent / "escape.workflow.yaml").exists()


async def test_a_new_workflow_never_overwrites_files_already_there(svc_api: httpx.AsyncClient,
                                                                  svc_pack: Path) -> None:
    stray = svc_pack / "actions" / "workflows" / "saved.workflow.yaml"
    stray.write_text("# someone's unregistered work\n")
    response = await svc_api.post("/workflows", json=SAVED)
    assert response.status_code == 409 and str(stray.resolve()) in response.json()["error"]["message"]
    assert stray.read_text() == "# someone's unregistered work\n"
    assert (await svc_api.get("/workflows/svc.saved")).status_code == 404


async def test_packs_without_a_directory_store_only(api: httpx.AsyncClient) -> None:
    assert (await api.post("/packs", json={"ref": "loose"})).status_code == 201
    action = {"ref": "loose.x", "runner_type": "bash", "entry_point": "x.sh"}
    assert (await api.post("/actions", json=action)).status_code == 201
    body = {"ref": "loose.flow",
            "definition": {"version": "1.0", "tasks": [{"name": "a", "action": "loose.x"}]}}
    assert (await api.post("/workflows", json=body)).status_code == 201
    missing = await api.get("/workflows/loose.flow/files")
    assert missing.status_code == 404 and "no files" in missing.json()["error"]["message"]
    assert (await api.get("/workflows/nope.nope/files")).status_code == 404
