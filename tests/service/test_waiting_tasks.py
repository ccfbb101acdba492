"""A task that waits for a timer (its `delay` before its first dispatch, or the delay before a
retry) on the real Temporal stack, read over HTTP: the workflow view lists it in `waiting` with
when it is dispatched, where it used to be only a current task without a record, which read as
running while no process ran it."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from attune.settings import Settings
from attune.statuses import TERMINAL
from tests.service.conftest import running_api, write_pack

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

DELAY = RETRY_DELAY = 4
ACTIONS = {
    "ok.yaml": "ref: wt.ok\nrunner_type: shell\nentry_point: ok.sh\n",
    "ok.sh": "#!/bin/sh\necho ok\n",
    "fail.yaml": "ref: wt.fail\nrunner_type: shell\nentry_point: fail.sh\n",
    "fail.sh": "#!/bin/sh\necho 'failing on purpose' >&2\nexit 3\n",
    "waits.yaml": "ref: wt.waits\nworkflow_file: workflows/waits.workflow.yaml\n",
    "workflows/waits.workflow.yaml": f"""\
        version: "1.0"
        tasks:
          - name: later
            action: wt.ok
            delay: {DELAY}
          - name: oops
            action: wt.fail
            retry: {{count: 1, delay: {RETRY_DELAY}}}
        """,
}


@pytest.fixture
def live_settings(settings: Settings, stack: Any) -> Settings:
    return settings.model_copy(update={"temporal_address": stack.address, "mirror_interval": 0.1})


@pytest.fixture
def wt_pack(tmp_path: Path) -> Path:
    root = write_pack(tmp_path / "packs", "wt", ACTIONS)
    for script in root.glob("actions/*.sh"):
        script.chmod(0o755)
    return root


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_delayed_task_and_a_retry_say_until_when_they_wait(live_settings: Settings, wt_pack: Path) -> None:
    async with running_api(live_settings, None) as api:
        assert (await api.post("/packs/register", json={"path": str(wt_pack)})).status_code == 200
        response = await api.post("/executions/execute", json={"action_ref": "wt.waits"})
        assert response.status_code == 201, response.text
        top = response.json()["data"]
        seen: dict[str, tuple[dict, dict]] = {}  # task -> (its wait, the view that showed it)
        deadline = time.monotonic() + 60
        while True:
            view = (await api.get(f"/executions/{top['id']}/workflow")).json()["data"]
            for wait in view["waiting"]:
                seen.setdefault(wait["task"], (wait, view))
            if view["status"] in TERMINAL:
                break
            assert time.monotonic() < deadline, view
            await asyncio.sleep(0.1)

        assert set(seen) == {"later", "oops"}, seen
        assert view["waiting"] == [], view  # nothing waits once the run has ended
        assert view["status"] == "failed" and "later" in view["completed_tasks"], view
        records = {(t["workflow_task"]["task_name"], t["retry_count"]): t for t in view["tasks"]}

        later, shown = seen["later"]
        assert later["reason"] == "delay" and later["retry_count"] == 0 and later["task_index"] is None
        # A current task without a record: waiting, not running.
        assert "later" in shown["current_tasks"]
        assert not any(t["workflow_task"]["task_name"] == "later" for t in shown["tasks"]), shown["tasks"]
        assert later["until"].endswith("+00:00")  # UTC, written as the other times are
        # It was dispatched when the view said, its delay after the run started.
        started = at(records[("later", 0)]["created"])
        assert abs((started - at(later["until"])).total_seconds()) < 2, (later, records[("later", 0)])
        assert DELAY - 2 < (at(later["until"]) - at(top["created"])).total_seconds() < DELAY + 3, (later, top)

        oops, shown = seen["oops"]
        assert oops["reason"] == "retry" and oops["retry_count"] == 1 and oops["task_index"] is None, oops
        first = next(t for t in shown["tasks"] if t["workflow_task"]["task_name"] == "oops")
        assert first["status"] == "failed" and "oops" in shown["current_tasks"]
        wait = (at(oops["until"]) - at(records[("oops", 0)]["ended_at"])).total_seconds()
        assert RETRY_DELAY - 2 < wait < RETRY_DELAY + 2, (oops, records[("oops", 0)])
        retried = at(records[("oops", 1)]["created"])
        assert abs((retried - at(oops["until"])).total_seconds()) < 2, (oops, records[("oops", 1)])
