"""Nested parameter schemas through the real stack (QA 53): REST submit -> the action gets the
defaults declared inside its parameters; a secret member and a number secret are never shown in
clear (records, API answers, Temporal's history); problem paths name the member."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune.settings import Settings
from tests.service.conftest import running_api, write_pack
from tests.service.test_e2e_temporal import ended, tree_of, wait_for

PASSWORD, VAULT_KEY, PIN = "pw-n3sted-s3cret", "vault-k3y-s3cret", 97531864
SECRETS = (PASSWORD, VAULT_KEY, str(PIN))

ACTIONS = {
    "rich.yaml": """
        ref: nest.rich
        runner_type: python
        entry_point: rich.py
        output_format: json
        parameters:
          server:
            type: object
            required: true
            properties:
              host: {type: string, required: true}
              port: {type: integer, default: 8080, required: true}
              tls: {type: object, default: {}, properties: {mode: {enum: [strict, lax], default: strict}}}
          targets: {type: array, items: {type: object, properties: {name: {type: string}, weight: {type: number, default: 0.5}}}}
          creds: {type: object, properties: {user: {type: string}, password: {type: string, secret: true},
                                             realm: {type: string, default: corp, required: true}}}
          vault: {type: array, items: {type: object, properties: {key: {type: string, secret: true}}}}
          secret_num: {type: integer, secret: true}
          count: {type: integer, minimum: 1}
          "db.host": {type: string, pattern: "^[a-z]+$"}
          db: {type: object, properties: {host: {type: string, maxLength: 2}}}
    """,
    "rich.py": """
        import json, sys
        p = json.load(sys.stdin)
        sys.stderr.write("secret_num is %s, password is %s\\n" % (p.get("secret_num"), (p.get("creds") or {}).get("password")))
        print(json.dumps({"params": p, "realm_filled": (p.get("creds") or {}).get("realm") == "corp"}))
    """,
    "flow.yaml": """
        ref: nest.flow
        workflow_file: workflows/flow.yaml
        parameters:
          creds: {type: object, properties: {user: {type: string}, password: {type: string, secret: true}}}
          secret_num: {type: integer, secret: true}
    """,
    "workflows/flow.yaml": """
        version: "1.0"
        tasks:
          - name: use
            action: nest.rich
            input:
              server: {host: "10.0.0.1"}
              targets: [{name: a}]
              creds: "{{ parameters.creds }}"
              secret_num: "{{ parameters.secret_num }}"
    """,
}


@pytest.fixture
def nest_pack(tmp_path: Path) -> Path:
    return write_pack(tmp_path / "packs", "nest", ACTIONS)


@pytest.fixture
def live_settings(settings: Settings, stack: Any) -> Settings:
    return settings.model_copy(update={"temporal_address": stack.address, "mirror_interval": 0.25})


async def register(api: httpx.AsyncClient, pack: Path) -> None:
    response = await api.post("/packs/register", json={"path": str(pack)})
    assert response.status_code == 200, response.text


async def submit(api: httpx.AsyncClient, ref: str, params: dict[str, Any]) -> httpx.Response:
    return await api.post("/executions/execute", json={"action_ref": ref, "parameters": params})


async def history_of(stack: Any, workflow_id: str) -> bytes:
    history = await stack.engine.handle(workflow_id).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)  # payloads verbatim


def assert_hidden(*shown: Any) -> None:
    for value in shown:
        text = value.decode(errors="replace") if isinstance(value, bytes) else json.dumps(value)
        assert not [s for s in SECRETS if s in text], text[:2000]


@pytest.mark.temporal
@pytest.mark.slow
async def test_nested_defaults_reach_the_action_and_nested_secrets_stay_hidden(
        live_settings: Settings, stack: Any, nest_pack: Path) -> None:
    async with running_api(live_settings, None) as api:
        await register(api, nest_pack)
        response = await submit(api, "nest.rich", {
            "server": {"host": "h"}, "targets": [{"name": "x"}],
            "creds": {"user": "bob-the-user", "password": PASSWORD},
            "vault": [{"key": VAULT_KEY}], "secret_num": PIN})
        assert response.status_code == 201, response.text
        top = response.json()["data"]
        record = await wait_for(api, top["id"], ended)
        assert record["status"] == "completed", record
        params = record["result"]["data"]["params"]
        assert params["server"] == {"host": "h", "port": 8080, "tls": {"mode": "strict"}}
        assert params["targets"] == [{"name": "x", "weight": 0.5}]
        # The action got them in clear; what it printed back is masked, numbers too.
        assert params["secret_num"] == "********"
        assert params["creds"] == {"user": "********", "password": "********", "realm": "********"}
        assert record["result"]["data"]["realm_filled"] is True
        assert params["vault"] == [{"key": "********"}]
        assert record["config"]["creds"] == record["config"]["vault"] == record["config"]["secret_num"] == "********"
        assert record["config"]["server"]["port"] == 8080
        everything = (await api.get("/executions", params={"per_page": 1000})).json()
        assert_hidden(top, record, everything, await history_of(stack, record["workflow_id"]))

        # A workflow task's input gets its action's nested defaults too (inside Temporal).
        response = await submit(api, "nest.flow", {"creds": {"user": "u", "password": PASSWORD},
                                                   "secret_num": PIN})
        assert response.status_code == 201, response.text
        flow = await wait_for(api, response.json()["data"]["id"], ended)
        assert flow["status"] == "completed", flow
        (use,) = await tree_of(api, flow["id"])
        used = use["result"]["data"]["params"]
        assert used["server"] == {"host": "10.0.0.1", "port": 8080, "tls": {"mode": "strict"}}
        assert used["targets"] == [{"name": "a", "weight": 0.5}] and used["secret_num"] == "********"
        # Sealed on its way through the workflow, the secret object gets its members' defaults
        # where it is opened: at the worker (a required member with a default was refused).
        assert use["result"]["data"]["realm_filled"] is True
        everything = (await api.get("/executions", params={"per_page": 1000})).json()
        assert_hidden(flow, use, everything, await history_of(stack, flow["workflow_id"]))

        # The schema is shown as written (the secret member marks its parameter secret).
        shown = (await api.get("/actions/nest.rich")).json()["data"]["parameters"]
        assert shown["creds"]["secret"] is True
        assert shown["creds"]["properties"]["password"] == {"type": "string", "secret": True}


async def test_problems_name_the_member_and_tell_a_dotted_name_from_it(
        api: httpx.AsyncClient, nest_pack: Path) -> None:
    await register(api, nest_pack)
    response = await submit(api, "nest.rich", {
        "server": {"tls": {"mode": "loose"}}, "db.host": "1", "db": {"host": "abc"},
        "server.port": 1, "creds": {"password": 12345678}})
    assert response.status_code == 422, response.text
    details = {d["path"]: d["message"] for d in response.json()["error"]["details"]}
    assert details == {
        "parameters.server.host": "required property 'host' is missing",
        "parameters.server.tls.mode": '"loose" is not one of "strict", "lax"',
        'parameters["db.host"]': '"1" does not match the pattern "^[a-z]+$"',
        "parameters.db.host": '"abc" is longer than the maximum length of 2',
        'parameters["server.port"]': "unknown parameter 'server.port': a dotted name is not a path "
                                     "into object parameter 'server'; give server as an object "
                                     '({"port": ...})',
        "parameters.creds.password": "invalid value: fails 'type' constraint",  # not echoed
    }
    assert "12345678" not in response.text


async def test_an_integer_bound_is_shown_as_an_integer(api: httpx.AsyncClient, nest_pack: Path) -> None:
    await register(api, nest_pack)
    response = await api.get("/actions/nest.rich")
    assert '"minimum":1,' in response.text.replace(" ", "") and '"minimum":1.0' not in response.text
