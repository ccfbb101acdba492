"""Names that end up in keys and Temporal ids, through the API (spec §1 naming, §2 tasks).

Registration and the workflow builder refuse a task name with `/` (its core.ask never got its
answer), a task name over MAX_TASK_NAME_LENGTH (the run hung on Temporal's 1,000-character id
limit) and refs with a final newline (they registered: `$` matches before it). On the real
stack, names at the limit, with the punctuation keys use, run through with_items and nested
workflows two levels deep under an action ref of the longest length."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune.packs.schema import MAX_ACTION_REF
from attune.workflows.definition import MAX_TASK_NAME_LENGTH
from tests.service.conftest import write_pack
from tests.service.test_api_definitions import assert_error
from tests.service.test_run_control import ended, pending_inquiry, serving, submit, tasks

SLASH = "may not contain '/' (it separates a workflow id from a task's attempt in execution keys)"
OVER = (f"is {MAX_TASK_NAME_LENGTH + 1} characters long, over the limit of {MAX_TASK_NAME_LENGTH} "
        "(it is part of the run's ids and keys)")


async def test_a_task_name_with_a_slash_or_over_the_limit_is_refused_at_registration(api, tmp_path):
    long = "n" * (MAX_TASK_NAME_LENGTH + 1)
    pack = write_pack(tmp_path / "packs", "nm", {
        "flow.yaml": "ref: nm.flow\nworkflow_file: workflows/flow.workflow.yaml\n",
        "workflows/flow.workflow.yaml": f"""
            version: "1.0"
            tasks:
              - name: approve/deploy
                action: core.noop
                next: [{{do: [{long}]}}]
              - name: {long}
                action: core.noop
        """,
    })
    error = assert_error(await api.post("/packs/register", json={"path": str(pack)}), 422, "validation_error")
    found = [(d["line"], d["column"], d["message"]) for d in error["details"]
             if d["message"].startswith("task name")]  # not: core is not registered here
    assert found == [(3, 11, f"task name 'approve/deploy' {SLASH}"),
                     (6, 11, f"task name '{'n' * 40}…' {OVER}")], found
    assert (await api.get("/actions/nm.flow")).status_code == 404


async def test_the_builder_refuses_a_task_name_with_a_slash_or_over_the_limit(svc_api):
    text = 'version: "1.0"\ntasks:\n  - name: a/b\n    action: svc.echo\n'
    checked = (await svc_api.post("/workflows/validate", json={"yaml": text})).json()
    assert checked["valid"] is False and [(e["line"], e["message"]) for e in checked["errors"]] == [
        (3, f"task name 'a/b' {SLASH}")]
    error = assert_error(await svc_api.post("/workflows", json={"ref": "svc.slashed", "yaml": text}),
                         422, "validation_error")
    assert error["details"][0]["message"] == f"task name 'a/b' {SLASH}"
    as_json = {"ref": "svc.long", "definition": {"version": "1.0", "tasks": [
        {"name": "n" * (MAX_TASK_NAME_LENGTH + 1), "action": "svc.echo"}]}}
    error = assert_error(await svc_api.post("/workflows", json=as_json), 422, "validation_error")
    assert error["details"][0]["message"] == f"task name '{'n' * 40}…' {OVER}"
    for ref in ("svc.slashed", "svc.long"):
        assert_error(await svc_api.get(f"/workflows/{ref}"), 404, "not_found")


async def test_refs_with_a_final_newline_are_refused(api, tmp_path):
    packs = tmp_path / "packs"
    pack = write_pack(packs, "nlpk", {})
    (pack / "pack.yaml").write_text('ref: "nlpk\\n"\nversion: "1.0"\n')
    assert_error(await api.post("/packs/register", json={"path": str(pack)}), 422, "validation_error")
    assert (await api.get("/packs")).json()["items"] == []
    pack = write_pack(packs, "nl2", {"x.yaml": 'ref: "nl2.x\\n"\nrunner_type: shell\nentry_point: x.sh\n',
                                     "x.sh": "echo hi\n"})
    error = assert_error(await api.post("/packs/register", json={"path": str(pack)}), 422, "validation_error")
    assert error["details"][0]["message"] == ("action ref 'nl2.x\\n' must be 'nl2.<name>' (name: letters, "
                                              "digits, '_' or '-')")
    assert (await api.get("/actions/nl2.x%0A")).status_code == 404


async def test_an_action_ref_with_a_final_newline_is_refused_by_the_api(svc_api):
    echo = {"runner_type": "bash", "entry_point": "echo.sh"}
    for sent in (svc_api.post("/actions", json={"ref": "svc.nl\n", **echo}),
                 svc_api.put("/actions/svc.nl%0A", json=echo)):
        response = await sent
        assert response.status_code in (404, 422), response.text
    assert (await svc_api.get("/actions/svc.nl%0A")).status_code == 404


# ---- on the real stack ---------------------------------------------------------------------------

def _name(stem: str) -> str:
    """A task name of exactly MAX_TASK_NAME_LENGTH characters, with the punctuation keys use and
    characters of up to 4 bytes."""
    name = f"{stem}.1#0[0]:é🚀-"
    return name + "x" * (MAX_TASK_NAME_LENGTH - len(name))


LONG = "l" * (MAX_ACTION_REF - len("lim.") - len("_top"))  # refs of MAX_ACTION_REF characters


@pytest.fixture
async def stack_api(stack: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(tmp_path, stack.address) as client:
        pack = write_pack(tmp_path / "packs", "lim", {
            "top.yaml": f"ref: lim.{LONG}_top\nworkflow_file: workflows/top.workflow.yaml\n",
            "mid.yaml": f"ref: lim.{LONG}_mid\nworkflow_file: workflows/mid.workflow.yaml\n",
            "leaf.yaml": f"ref: lim.{LONG}_lef\nworkflow_file: workflows/leaf.workflow.yaml\n",
            "workflows/top.workflow.yaml": f"""
                version: "1.0"
                tasks:
                  - name: "{_name('ask')}"
                    action: core.ask
                    input: {{prompt: "Go?", response_schema: {{approved: {{type: boolean}}}}}}
                    next: [{{when: "{{{{ succeeded() }}}}", do: ["{_name('top')}"]}}]
                  - name: "{_name('top')}"
                    action: lim.{LONG}_mid
                    with_items: "{{{{ [1, 2] }}}}"
                    concurrency: 2
            """,
            "workflows/mid.workflow.yaml": f"""
                version: "1.0"
                tasks:
                  - name: "{_name('mid')}"
                    action: lim.{LONG}_lef
                    with_items: "{{{{ [1, 2] }}}}"
                    concurrency: 2
            """,
            "workflows/leaf.workflow.yaml": f"""
                version: "1.0"
                tasks:
                  - name: "{_name('leaf')}"
                    action: core.noop
                    with_items: "{{{{ [1, 2] }}}}"
            """,
        })
        response = await client.post("/packs/register", json={"path": str(pack)})
        assert response.status_code == 200, response.text
        yield client


@pytest.mark.temporal
@pytest.mark.slow
async def test_names_and_refs_at_their_limits_run_nested_with_items_and_an_inquiry(stack_api):
    api = stack_api
    top = await submit(api, f"lim.{LONG}_top")
    inquiry = await pending_inquiry(api)
    answered = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"approved": True}})
    assert answered.status_code == 200, answered.text
    done = await ended(api, top["id"], timeout=120)
    assert done["status"] == "completed", done
    found = await tasks(api, top["id"])
    assert sorted(found) == sorted([_name("ask"), _name("top")])
    nested = found[_name("top")]
    assert len(nested) == 2 and all(t["status"] == "completed" for t in nested), nested
