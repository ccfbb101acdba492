"""The API writes and deletes only a workflow's own definition files in its pack directory.

QA found that `workflow_file` in PUT /workflows/{ref} could name any file inside the pack
(`../pack.yaml`, another action's script), which the save overwrote with the workflow's text and
DELETE ?remove_files=true then deleted. A workflow file the API writes or deletes must be a
.yaml/.yml file under actions/ (not directly in it) that nothing else in the pack uses."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from attune.records.models import WorkflowDefinitionRow

FLOW = 'version: "1.0"\ntasks:\n  - name: a\n    action: svc.echo\n    input:\n      message: hi\n'


async def _created(api: httpx.AsyncClient, ref: str = "svc.trav4") -> None:
    response = await api.post("/workflows", json={"ref": ref, "yaml": FLOW})
    assert response.status_code == 201, response.text


def _refused(response: httpx.Response, why: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "workflow_file" in error["message"]
    assert [d["path"] for d in error["details"]] == ["workflow_file"], error
    assert why in error["details"][0]["message"], error
    return str(error["details"][0]["message"])


def _snapshot(pack: Path) -> dict[str, bytes]:
    return {str(p.relative_to(pack)): p.read_bytes() for p in sorted(pack.rglob("*")) if p.is_file()}


async def test_a_workflow_file_outside_actions_is_refused_and_pack_yaml_stays(
        svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    await _created(svc_api)
    before = _snapshot(svc_pack)
    put = await svc_api.put("/workflows/svc.trav4", json={"ref": "svc.trav4", "workflow_file": "../pack.yaml",
                                                          "yaml": FLOW})
    _refused(put, "the pack's pack.yaml")
    for name in ("/abs.workflow.yaml", "../../escape.workflow.yaml", "workflows/../../x.yaml"):
        _refused(await svc_api.post("/workflows", json={"ref": "svc.new", "workflow_file": name,
                                                        "yaml": FLOW}), "")
    assert _snapshot(svc_pack) == before
    # The pack still registers, and the workflow kept its own file.
    again = await svc_api.post("/packs/register", json={"path": str(svc_pack)})
    assert again.status_code == 200, again.text
    shown = (await svc_api.get("/workflows/svc.trav4")).json()["data"]
    assert shown["workflow_file"] == "workflows/trav4.workflow.yaml"


async def test_a_workflow_file_cannot_be_a_script_or_a_file_another_action_uses(
        svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    actions = svc_pack / "actions"
    # A script action whose entry point happens to end in .yaml, and a symlink onto a script.
    (actions / "workflows" / "data.yaml").write_text("echo from data\n")
    reader = {"ref": "svc.reader", "runner_type": "bash", "entry_point": "workflows/data.yaml"}
    assert (await svc_api.post("/actions", json=reader)).status_code == 201
    (actions / "workflows" / "link.workflow.yaml").symlink_to("../echo.sh")
    await _created(svc_api)
    before = _snapshot(svc_pack)

    async def put(workflow_file: str) -> httpx.Response:
        return await svc_api.put("/workflows/svc.trav4", json={"workflow_file": workflow_file, "yaml": FLOW})

    _refused(await put("echo.sh"), "the entry_point of 'svc.echo'")  # the vs.sh case
    _refused(await put("notes.sh"), ".yaml or .yml")
    _refused(await put("echo.yaml"), "the action YAML of 'svc.echo'")
    _refused(await put("trav4.yaml"), "directly in actions/")  # its own action YAML
    _refused(await put("workflows/tree.workflow.yaml"), "the workflow file of 'svc.tree'")
    _refused(await put("workflows/data.yaml"), "the entry_point of 'svc.reader'")
    _refused(await put("workflows/link.workflow.yaml"), "echo.sh, which is the entry_point of 'svc.echo'")
    _refused(await put("workflows"), ".yaml or .yml")
    assert _snapshot(svc_pack) == before
    # A file of its own, new or the one it has, is fine.
    moved = await put("workflows/trav4-v2.workflow.yaml")
    assert moved.status_code == 200, moved.text
    assert (actions / "workflows" / "trav4-v2.workflow.yaml").read_text() == FLOW
    assert "workflow_file: workflows/trav4-v2.workflow.yaml" in (actions / "trav4.yaml").read_text()
    assert (await put("workflows/trav4-v2.workflow.yaml")).status_code == 200


async def test_a_symlinked_action_yaml_is_not_followed_onto_a_script(
        svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    assert (await svc_api.post("/actions", json={"ref": "svc.hello", "runner_type": "bash",
                                                 "entry_point": "echo.sh"})).status_code == 201
    hello = svc_pack / "actions" / "hello.yaml"
    hello.unlink()
    hello.symlink_to("echo.sh")
    script = (svc_pack / "actions" / "echo.sh").read_bytes()
    put = await svc_api.put("/actions/svc.hello", json={"runner_type": "bash", "entry_point": "echo.sh",
                                                        "label": "x"})
    assert put.status_code == 409, put.text
    assert "the entry_point of 'svc.echo'" in put.json()["error"]["message"]
    assert (svc_pack / "actions" / "echo.sh").read_bytes() == script


async def test_remove_files_never_deletes_a_file_another_action_uses(
        svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    """The QA case: a workflow whose recorded workflow_file is another action's script (as the
    old PUT let one be saved). DELETE ?remove_files=true deletes the workflow and its own YAML,
    keeps the script and says so (200 with `kept`)."""
    await _created(svc_api)
    with svc_api.app.state.attune.db.session() as s:  # type: ignore[attr-defined]
        row = s.scalar(select(WorkflowDefinitionRow).where(WorkflowDefinitionRow.ref == "svc.trav4"))
        assert row is not None
        row.workflow_file = "echo.sh"
    script = svc_pack / "actions" / "echo.sh"
    response = await svc_api.delete("/workflows/svc.trav4", params={"remove_files": True})
    assert response.status_code == 200, response.text
    body = response.json()["data"]
    assert body["removed"] == [str((svc_pack / "actions" / "trav4.yaml").resolve())]
    assert [k["path"] for k in body["kept"]] == [str(svc_pack / "actions" / "echo.sh")]
    assert body["kept"][0]["reason"] == "it is the entry_point of 'svc.echo'"
    assert script.is_file() and not (svc_pack / "actions" / "trav4.yaml").exists()
    assert (await svc_api.get("/workflows/svc.trav4")).status_code == 404


async def test_remove_files_keeps_a_workflow_file_another_workflow_shares(
        svc_api: httpx.AsyncClient, svc_pack: Path) -> None:
    actions = svc_pack / "actions"
    (actions / "workflows" / "shared.workflow.yaml").write_text(FLOW)
    for name in ("one", "two"):
        (actions / f"{name}.yaml").write_text(f"ref: svc.{name}\nworkflow_file: workflows/shared.workflow.yaml\n")
    assert (await svc_api.post("/packs/register", json={"path": str(svc_pack)})).status_code == 200
    # Saving one through the API would change the other's graph too: refused.
    _refused(await svc_api.put("/workflows/svc.one", json={"yaml": FLOW}), "the workflow file of 'svc.two'")
    response = await svc_api.delete("/workflows/svc.one", params={"remove_files": True})
    assert response.status_code == 200, response.text
    kept = response.json()["data"]["kept"]
    assert len(kept) == 1 and kept[0]["path"].endswith("shared.workflow.yaml")
    assert "the workflow file of 'svc.two'" in kept[0]["reason"]
    assert not (actions / "one.yaml").exists() and (actions / "workflows" / "shared.workflow.yaml").is_file()
    # The last one takes it along: nothing kept, 204 as before.
    assert (await svc_api.delete("/workflows/svc.two", params={"remove_files": True})).status_code == 204
    assert not (actions / "workflows" / "shared.workflow.yaml").exists()
    registered = await svc_api.post("/packs/register", json={"path": str(svc_pack)})
    assert registered.status_code == 200 and "svc.two" not in registered.json()["data"]["actions"]
