"""A task whose workflow the server ended around it (a nested run past its calling task's
timeout) is `abandoned` and says why: it read `abandoned` with no detail and no result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from attune.settings import Settings
from attune.statuses import ExecutionStatus
from tests.service.conftest import running_api, write_pack
from tests.service.test_e2e_temporal import ended, tree_of, wait_for

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

ACTIONS = {
    "nap.yaml": """
        ref: bound.nap
        runner_type: shell
        entry_point: nap.sh
        parameters: {}
    """,
    "nap.sh": "sleep 30\n",
    "inner.yaml": """
        ref: bound.inner
        workflow_file: workflows/inner.workflow.yaml
    """,
    "workflows/inner.workflow.yaml": """
        version: "1.0"
        tasks:
          - name: nap
            action: bound.nap
    """,
    "outer.yaml": """
        ref: bound.outer
        workflow_file: workflows/outer.workflow.yaml
    """,
    "workflows/outer.workflow.yaml": """
        version: "1.0"
        tasks:
          - name: kid
            action: bound.inner
            timeout: 2
    """,
}


@pytest.fixture
def live_settings(settings: Settings, stack: Any) -> Settings:
    return settings.model_copy(update={"temporal_address": stack.address, "mirror_interval": 0.25})


async def test_a_task_of_a_nested_run_past_its_timeout_says_why_it_was_abandoned(
        live_settings: Settings, stack: Any, tmp_path: Path) -> None:
    pack = write_pack(tmp_path / "packs", "bound", ACTIONS)
    async with running_api(live_settings, None) as api:
        assert (await api.post("/packs/register", json={"path": str(pack)})).status_code == 200
        response = await api.post("/executions/execute", json={"action_ref": "bound.outer", "parameters": {}})
        assert response.status_code == 201, response.text
        top = await wait_for(api, response.json()["data"]["id"], ended)
        assert top["status"] == ExecutionStatus.FAILED, top
        [kid] = await tree_of(api, top["id"])
        assert kid["status"] == ExecutionStatus.TIMEOUT, kid
        [nap] = [await wait_for(api, r["id"], ended) for r in await tree_of(api, kid["id"])]
        assert nap["status"] == ExecutionStatus.ABANDONED, nap
        assert "timed out" in (nap["status_detail"] or ""), nap
        assert nap["result"] == {"error": nap["status_detail"], "succeeded": False}
