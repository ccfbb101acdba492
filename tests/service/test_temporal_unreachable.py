"""A real `attune api` whose Temporal address has nothing listening: every request that needs
Temporal says which address, why (in a few words) and what to do, the same way everywhere (the
SDK's raw `tonic::transport::Error(...)` chain stays in the API's log)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from attune import tokens
from attune.engine.server import free_port
from attune.records import executions as records
from attune.records.db import Database
from attune.records.models import ExecutionRow
from attune.secrets import load_key
from attune.settings import Settings
from attune.statuses import ExecutionStatus
from tests.conftest import PACKS
from tests.service.real_api import real_api

REFUSED = "Temporal at 127.0.0.1:{port} is not reachable (connection refused): start it (attune up) " \
          "or check ATTUNE_TEMPORAL_ADDRESS"


class Api:
    def __init__(self, url: str, log: Path, temporal: int, state: Path) -> None:
        self.url, self.log, self.temporal, self.state = url, log, temporal, state

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "attune.cli", *args, "--api-url", self.url],
                              capture_output=True, text=True, timeout=60)

    @property
    def refused(self) -> str:
        return REFUSED.format(port=self.temporal)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    home = tmp_path_factory.mktemp("no-temporal")
    temporal = free_port()  # nothing listens on it
    with real_api(home, {"ATTUNE_STATE_DIR": str(home / "state"),
                         "ATTUNE_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}"}) as url:
        api = Api(url, home / "api.log", temporal, home / "state")
        for pack in ("core", "examples"):
            done = api.cli("pack", "register", str(PACKS / pack))
            assert done.returncode == 0, done.stderr
        yield api


def _row(api: Api, action_ref: str, status: ExecutionStatus) -> ExecutionRow:
    """A run recorded as started earlier, while Temporal was up (the API's own records)."""
    db = Database(Settings(state_dir=str(api.state)).effective_database_url)
    try:
        with db.session() as s:
            row, _ = records.create_requested(s, action_ref=action_ref, config={}, timeout_seconds=None,
                                              is_workflow=True)
            s.flush()
            row.status = status
            return row
    finally:
        db.engine.dispose()


def test_a_run_says_temporal_is_not_reachable_where_and_what_to_do(api: Api) -> None:
    done = api.cli("run", "examples.single_echo", "-o", "json")
    assert done.returncode == 2
    assert "error (503): could not start execution " in done.stderr, done.stderr
    assert f": {api.refused}\n" in done.stderr and "tonic" not in done.stderr, done.stderr
    # The record it left says the same, not the SDK's text; the raw chain is in the log only.
    execution_id = done.stderr.split("could not start execution ")[1].split(":")[0]
    shown = json.loads(api.cli("execution", "get", execution_id, "-o", "json").stdout)
    assert shown["status"] == "failed"
    assert shown["result"]["error"] == f"could not start execution {execution_id}: {api.refused}"
    assert "tonic::transport::Error" in api.log.read_text()


@pytest.mark.parametrize(("verb", "status"), [("cancel", ExecutionStatus.RUNNING),
                                              ("pause", ExecutionStatus.RUNNING),
                                              ("resume", ExecutionStatus.PAUSED)])
def test_run_control_says_the_same(api: Api, verb: str, status: ExecutionStatus) -> None:
    execution_id = _row(api, "examples.sequence", status).id
    done = api.cli("execution", verb, str(execution_id))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error (503): could not {verb} execution {execution_id}: {api.refused}"


def test_a_rerun_says_the_same(api: Api) -> None:
    execution_id = _row(api, "examples.sequence", ExecutionStatus.FAILED).id
    done = api.cli("execution", "rerun", str(execution_id))
    assert done.returncode == 2
    assert done.stderr.strip() == f"error (503): could not re-run execution {execution_id}: {api.refused}"


def test_a_route_without_words_of_its_own_says_the_engine_s(api: Api) -> None:
    """A worker's claim in a nested run the records do not have yet reads the run from Temporal:
    503 with the engine's words, not `internal error: EngineUnavailable` (500)."""
    run = _row(api, "examples.sequence", ExecutionStatus.RUNNING)
    assert run.workflow_id is not None
    token = tokens.mint(load_key(str(api.state)), key=f"{run.workflow_id}.a.1/echo.1#0", root=run.workflow_id,
                        ttl_seconds=600)
    answer = httpx.post(f"{api.url}/api/v1/executions/claim", json={"action_ref": "core.echo"},
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == {"code": "unavailable", "message": api.refused, "details": []}
