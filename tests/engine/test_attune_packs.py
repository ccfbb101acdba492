"""Packs written the way Attune's docs and published packs write them (tests/attune_packs/) load
clean and run to their expected results on the real stack; and the language semantics of
issue 9.12-9.18 as a user meets them at run time."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from attune.packs.loader import load_packs, validate_path
from tests.engine.helpers import TEST_PACKS, run
from tests.engine.test_cli_direct import attune

CORPUS = Path(__file__).resolve().parents[1] / "attune_packs"
# Loads and validates here; its waiting for an inquiry is the run-control work (spec §9).
LOAD_ONLY = {"legacy_ops.approval"}


@pytest.fixture
def engine(temporal_stack):
    return temporal_stack.engine


class Announcements(BaseHTTPRequestHandler):
    received: list[dict] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append({"path": self.path, "json": json.loads(body or b"null"),
                              "auth": self.headers.get("Authorization"),
                              "run_id": self.headers.get("X-Run-Id")})
        answer = json.dumps({"accepted": True}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture(scope="module")
def announce_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Announcements)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/announce"
    server.shutdown()
    server.server_close()


def test_corpus_loads_clean_with_every_key():
    assert validate_path(CORPUS) == []
    catalog = load_packs(CORPUS)
    tools, legacy = catalog.packs["deploy_tools"], catalog.packs["legacy_ops"]
    assert (tools.author, tools.system, tools.runtime_deps, tools.dependencies) == (
        "Attune Team", False, ["shell", "python3"], {"core": None})
    assert tools.python_dependencies == ["./vendor/corpus_meta_dep-1.0-py3-none-any.whl"]
    assert legacy.ref == "legacy_ops" and legacy.dependencies == {"core": ">=1.0"}
    validate = catalog.action("deploy_tools.validate_release")
    assert validate.runtime_version == ">=3.9" and validate.worker_selector == {"zone": "any"}
    assert validate.default_execution_permission_set_refs == ["deploy_tools.validator"]
    assert validate.output["properties"]["duration_seconds"] == {"type": "integer"}  # output_schema
    assert validate.parameters["app_name"].required and validate.parameters["app_name"].schema_keywords() == {
        "pattern": "^[a-z][a-z0-9-]*$", "minLength": 2}
    region = catalog.action("deploy_tools.deploy_region")  # `name` alone, `timeout`, `out_schema`
    assert (region.timeout_seconds, set(region.output)) == (30, {"region", "deployed"})
    flow = catalog.action("deploy_tools.deploy_app").workflow
    assert flow.task("validate").permission_set_refs == ["standard"]
    assert flow.task("announce").permission_set_refs == []  # "" = no token
    assert flow.task("deploy_regions").permission_set_refs == "{{ [] }}"
    assert flow.task("validate").worker_selector == {"zone": "any"}
    nightly = catalog.action("legacy_ops.nightly")
    assert nightly.workflow.vars == {"greeting": None, "branch": "none", "checked": []}
    assert [s.name for s in nightly.workflow.task("checks").parallel] == ["disk", "memory"]
    assert catalog.action("legacy_ops.cleanup").workflow_file == "../workflows/cleanup.yaml"
    guarded = catalog.action("legacy_ops.approval").workflow.task("guarded")
    assert guarded.wait_for.inquiry == "{{ task.request.inquiry_id }}"


async def test_two_file_workflow_with_every_key_and_expression_form(engine, announce_url):
    Announcements.received.clear()
    params = {"app_name": "shop", "version": "1.2.3", "regions": ["north", "south"],
              "announce_url": announce_url}
    r = await run(engine, "deploy_tools.deploy_app", params, packs=str(CORPUS), timeout=300)
    assert r.status == "completed", r.result
    run_id = Announcements.received[0]["run_id"]
    assert r.result == {
        "status": "success", "deployed_regions": ["eu-north", "eu-south"],
        "validation": "shop 1.2.3 is valid",
        "packages": ["requirements.txt", "meta.python_dependencies"],  # both fed the virtualenv
        "seconds": 12, "announcement_status": 201, "rollback_note": "none", "run_id_length": 36,
        "started_is_text": True, "regions_json": '["eu-north", "eu-south"]', "succeeded": True}
    # core.http_request against a real server: JSON body, bearer secret, header from uuid().
    assert Announcements.received == [{"path": "/announce", "auth": "Bearer s3cret-token",
                                       "json": {"app": "shop", "regions": ["north", "south"], "count": 2},
                                       "run_id": run_id}]
    assert len(run_id) == 36
    assert sorted(x.task_index for x in r.tasks("deploy_regions")) == [0, 1]


async def test_failure_branch_and_a_task_input_that_breaks_a_json_schema_keyword(engine, announce_url):
    params = {"app_name": "shop", "version": "1.2.3", "regions": ["north", "south"],
              "announce_url": announce_url, "fail_region": "eu-south"}
    r = await run(engine, "deploy_tools.deploy_app", params, packs=str(CORPUS), timeout=300)
    assert r.status == "completed", r.result
    assert (r.result["status"], r.result["rollback_note"]) == ("rolled_back", "Rolling back shop\n")
    # `pattern` in the action's schema is enforced on the task input: the failure branch runs.
    r = await run(engine, "deploy_tools.deploy_app", {**params, "version": "1.2"}, packs=str(CORPUS),
                  timeout=300)
    assert r.status == "completed", r.result
    assert (r.result["status"], r.result["packages"], r.result["seconds"]) == ("failed", [], None)
    attempts = r.tasks("validate")  # retry count 2, but a refusal is not run again: one attempt
    assert [x.status for x in attempts] == ["failed"]
    assert "invalid input for deploy_tools.validate_release: version: \"1.2\" does not match the " \
        "pattern \"^[0-9]+\\.[0-9]+\\.[0-9]+$\"" in \
        attempts[-1].result["error"]
    assert [x.task_name for x in r.records][-1] == "fail_validation"


@pytest.mark.parametrize("verdict, branch", [("yes please", "matched"), ("false", "fallback"),
                                             ("no", "fallback")])
async def test_standalone_workflow_in_the_older_forms(engine, verdict, branch):
    """vars list, on_success lists of {when, do}/{when, next}, type: parallel, decision default
    (9.14: fires exactly when no other branch did), optional parameter null (9.12), output_map
    of a branch not taken null (9.13)."""
    r = await run(engine, "legacy_ops.nightly", {"verdict": verdict}, packs=str(CORPUS))
    assert r.status == "completed", r.result
    assert r.result == {
        "greeting": "hello night shift", "branch": branch, "note_text": "note=", "disk": "disk ok\n",
        "memory_ok": True, "matched_message": "matched\n" if branch == "matched" else None,
        "gave_up": None, "succeeded": True}
    checks = r.tasks("checks")
    assert sorted((x.action_ref, x.task_index) for x in checks) == [("core.echo", 0), ("core.noop", 1)]


async def test_workflow_in_the_older_workflows_folder(engine):
    r = await run(engine, "legacy_ops.cleanup", {"paths": ["/tmp/a", "/tmp/b"]}, packs=str(CORPUS))
    assert r.status == "completed", r.result
    assert r.result == {"removed": ["removing /tmp/a", "removing /tmp/b"], "report": "2 paths",
                        "succeeded": True}


def test_every_corpus_workflow_has_a_run_test():
    workflows = {a.ref for a in load_packs(CORPUS).actions() if a.is_workflow}
    run_here = {"deploy_tools.deploy_app", "legacy_ops.nightly", "legacy_ops.cleanup"}
    assert workflows == run_here | LOAD_ONLY


# ---- issue 9 at run time --------------------------------------------------------------------------

async def test_timeout_from_a_template_refuses_zero_and_keeps_fractions_out_of_600(engine):
    """9.16: a timeout that renders to 0 or less fails the run naming it; never the default."""
    for seconds in (0, -2):
        r = await run(engine, "qa.timeout_param", {"seconds": seconds})
        assert r.status == "failed"
        assert r.result["error"] == f"task 'quick' timeout: must be greater than 0 seconds, got {seconds}"
        assert r.records == []
    r = await run(engine, "qa.timeout_param", {"seconds": 7})
    assert r.status == "completed" and r.records[0].timeout_seconds == 7


async def test_self_loop_task_starts_and_loops(engine):
    """9.17: a task whose only inbound edge is its own loop is a start task."""
    r = await run(engine, "qa.self_loop", {"rounds": 3})
    assert r.status == "completed", r.result
    assert r.result == {"rounds": 3, "values": 2, "succeeded": True}
    assert [x.task_name for x in r.records] == ["poll"] * 3


async def test_cli_reads_values_by_the_parameter_schema(temporal_stack):
    """9.18: `2024-01-01` and `no` stay text for string parameters; integers parse."""
    common = ("--direct", "--packs", str(TEST_PACKS), "--temporal-address", temporal_stack.address,
              "-o", "json")
    code, out, err = await attune("run", "qa.echo", "message=2024-01-01", "value=7", *common)
    assert code == 0, err
    assert json.loads(out)["result"]["data"] == {"message": "2024-01-01", "value": 7}
    code, out, err = await attune("run", "qa.echo", "message=no", *common)
    assert code == 0 and json.loads(out)["result"]["data"] == {"message": "no"}
    code, _, err = await attune("run", "qa.echo", "value=seven", *common)
    assert code == 2 and "parameter 'value' is an integer: cannot read 'seven' as one" in err


async def test_attune_forms_recorded_for_replay_run_as_expected(engine):
    """The run behind tests/histories/attune_forms.json (replayed in test_replay.py)."""
    r = await run(engine, "qa.attune_forms", {})
    assert r.status == "completed", r.result
    assert r.result == {"polls": 2, "id_length": 36, "sides": "L,note=", "matched": None,
                        "fallback": 0, "succeeded": True}
    r = await run(engine, "qa.attune_forms", {"answer": "yes"})
    assert (r.result["matched"], r.result["fallback"]) == (0, None)
