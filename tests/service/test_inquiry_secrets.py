"""An inquiry answer's `secret: true` fields on the real stack (spec §7, §9): sealed by the API
before the answer reaches Temporal, ******** in every record and answer, in clear only to a task
given one whole as input; splicing one into text is an expression error. Answers stored in clear
before answers were sealed are shown ******** too."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune.records.models import InquiryRow, utcnow
from attune.settings import Settings
from attune.statuses import InquiryStatus
from tests.conftest import PACKS
from tests.service.conftest import running_api, write_pack
from tests.service.test_e2e_temporal import ended, wait_for
from tests.service.test_nested_parameters_api import history_of
from tests.service.test_run_control import pending_inquiry, serving, tasks

pytestmark = [pytest.mark.temporal, pytest.mark.slow]
OTP, PIN = "otp-Zq81-s3cret", 86420971
SECRETS = (OTP, str(PIN))

ACTIONS = {
    "flow.yaml": """
        ref: sec.flow
        workflow_file: workflows/flow.yaml
    """,
    "workflows/flow.yaml": """
        version: "1.0"
        tasks:
          - name: approve
            action: core.ask
            input:
              prompt: "Your one-time code?"
              response_schema:
                approved: {type: boolean, required: true}
                otp: {type: string, secret: true, required: true}
                pin: {type: integer, secret: true}
            next: [{when: "{{ succeeded() }}", do: [use]}]
          - name: use
            action: sec.digest
            input: {otp: "{{ task.approve.response.otp }}", approved: "{{ task.approve.response.approved }}"}
            next: [{do: [splice]}]
          - name: splice
            action: sec.digest
            input: {otp: "code {{ task.approve.response.otp }}"}
    """,
    "gate.yaml": """
        ref: sec.gate
        workflow_file: workflows/gate.yaml
    """,
    "workflows/gate.yaml": """
        version: "1.0"
        tasks:
          - name: create
            action: sec.ask_api
            next: [{do: [ship]}]
          - name: ship
            action: sec.digest
            wait_for: {inquiry: "{{ task.create.inquiry_id }}"}
            input: {otp: "{{ inquiry.ship.response.otp }}"}
    """,
    "ask_api.yaml": """
        ref: sec.ask_api
        runner_type: python
        entry_point: ask_api.py
        output_format: json
        default_execution_permission_set_refs: [inquiries]
    """,
    "ask_api.py": """
        import json, os, urllib.request
        body = {"prompt": "Code?", "response_schema": {"otp": {"type": "string", "secret": True}}}
        request = urllib.request.Request(
            os.environ["ATTUNE_API_URL"].rstrip("/") + "/api/v1/inquiries", data=json.dumps(body).encode(),
            method="POST", headers={"Authorization": "Bearer " + os.environ["ATTUNE_API_TOKEN"],
                                    "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            print(json.dumps({"inquiry_id": json.loads(response.read())["data"]["id"]}))
    """,
    "digest.yaml": """
        ref: sec.digest
        runner_type: python
        entry_point: digest.py
        output_format: json
        parameters:
          otp: {type: string}
          approved: {type: boolean}
    """,
    "digest.py": """
        import hashlib, json, sys
        p = json.load(sys.stdin)
        print(json.dumps({"sha": hashlib.sha256(p["otp"].encode()).hexdigest(), "approved": p.get("approved")}))
    """,
}


@pytest.fixture
def sec_pack(tmp_path: Path) -> Path:
    return write_pack(tmp_path / "packs", "sec", ACTIONS)


@pytest.fixture
async def api(settings: Settings, stack: Any, sec_pack: Path) -> Any:
    live = settings.model_copy(update={"temporal_address": stack.address, "mirror_interval": 0.1})
    async with running_api(live, None) as client:
        for pack in (PACKS / "core", sec_pack):
            response = await client.post("/packs/register", json={"path": str(pack)})
            assert response.status_code == 200, response.text
        yield client


def assert_hidden(*shown: Any) -> None:
    for value in shown:
        text = value.decode(errors="replace") if isinstance(value, bytes) else json.dumps(value)
        assert not [s for s in SECRETS if s in text], text[:2000]


async def test_secret_answer_fields_are_sealed_shown_hidden_and_reach_a_task_whole(
        api: httpx.AsyncClient, stack: Any) -> None:
    response = await api.post("/executions/execute", json={"action_ref": "sec.flow", "parameters": {}})
    assert response.status_code == 201, response.text
    top = response.json()["data"]
    inquiry = await pending_inquiry(api)
    answered = await api.post(f"/inquiries/{inquiry['id']}/respond",
                              json={"response": {"approved": True, "otp": OTP, "pin": PIN}})
    assert answered.status_code == 200, answered.text
    hidden = {"approved": True, "otp": "********", "pin": "********"}
    assert answered.json()["data"]["response"] == hidden
    done = await wait_for(api, top["id"], ended)
    assert done["status"] == "failed", done  # `splice` fails; `use` got the code whole

    found = await tasks(api, top["id"])
    assert found["approve"][0]["result"]["response"] == hidden, found["approve"]
    use = found["use"][0]
    assert use["status"] == "completed", use
    assert use["result"]["data"] == {"sha": hashlib.sha256(OTP.encode()).hexdigest(), "approved": True}
    assert use["config"]["otp"] == "********"
    error = done["result"]["error"]  # splicing a secret answer into text, as a secret parameter
    assert error.startswith("task 'splice' input.otp") and "passed whole" in error, error

    shown = (await api.get(f"/inquiries/{inquiry['id']}")).json()["data"]
    assert shown["response"] == hidden
    listed = (await api.get("/inquiries", params={"per_page": 100})).json()
    everything = (await api.get("/executions", params={"per_page": 1000})).json()
    assert_hidden(answered.json(), shown, listed, found, everything,
                  await history_of(stack, top["workflow_id"]))


async def test_a_secret_answer_reaches_a_task_that_waited_for_it_whole(
        stack: Any, sec_pack: Path, tmp_path: Path) -> None:
    """An action asks through the API (a real HTTP server: the action calls it); `wait_for`."""
    async with serving(tmp_path, stack.address) as api:
        response = await api.post("/packs/register", json={"path": str(sec_pack)})
        assert response.status_code == 200, response.text
        response = await api.post("/executions/execute", json={"action_ref": "sec.gate", "parameters": {}})
        assert response.status_code == 201, response.text
        top = response.json()["data"]
        inquiry = await pending_inquiry(api)
        answered = await api.post(f"/inquiries/{inquiry['id']}/respond", json={"response": {"otp": OTP}})
        assert answered.status_code == 200, answered.text
        done = await wait_for(api, top["id"], ended)
        assert done["status"] == "completed", done
        ship = (await tasks(api, top["id"]))["ship"][0]
        assert ship["result"]["data"]["sha"] == hashlib.sha256(OTP.encode()).hexdigest(), ship
        assert ship["config"]["otp"] == "********"
        everything = (await api.get("/executions", params={"per_page": 1000})).json()
        assert_hidden(answered.json(), everything, await history_of(stack, top["workflow_id"]))


async def test_an_answer_stored_in_clear_before_sealing_is_shown_hidden(api: httpx.AsyncClient) -> None:
    db = api.app.state.attune.db  # type: ignore[attr-defined]
    with db.session() as s:
        row = InquiryRow(key="old|q", execution_key="old", root_workflow_id="old", prompt="Code?",
                         response_schema={"otp": {"type": "string", "secret": True}, "note": {"type": "string"}},
                         status=InquiryStatus.RESPONDED, response={"otp": OTP, "note": "fine"},
                         responded_at=utcnow())
        s.add(row)
        s.flush()
        inquiry_id = row.id
    shown = await api.get(f"/inquiries/{inquiry_id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["data"]["response"] == {"otp": "********", "note": "fine"}
    assert_hidden((await api.get("/inquiries")).json())
