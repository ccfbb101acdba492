"""A task waiting for a timer in a real browser against the real stack: its `delay` before it
first runs, or the delay before a retry. The graph and the task table read `delayed` /
`retrying` with the time it goes on; both read `running` (the graph) while no process ran."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer, register_pack
from tests.ui.test_forms_and_docs import ended
from tests.ui.test_run_control import start

pytestmark = [pytest.mark.slow]

PACK = {
    "pack.yaml": 'ref: uiw\nlabel: Waiting tasks\nversion: "0.1.0"\n',
    "actions/ok.yaml": "ref: uiw.ok\nrunner_type: shell\nentry_point: ok.sh\n",
    "actions/ok.sh": "#!/bin/sh\necho ok\n",
    "actions/fail.yaml": "ref: uiw.fail\nrunner_type: shell\nentry_point: fail.sh\n",
    "actions/fail.sh": "#!/bin/sh\necho 'failing on purpose' >&2\nexit 3\n",
    "actions/waits.yaml": "ref: uiw.waits\nworkflow_file: workflows/waits.workflow.yaml\n",
    "actions/workflows/waits.workflow.yaml": """\
        version: "1.0"
        tasks:
          - name: later
            action: uiw.ok
            delay: 8
          - name: oops
            action: uiw.fail
            retry: {count: 1, delay: 8}
        """,
}
# The time as the page writes it (format.ts `when`, today's date left out).
CLOCK = """(iso) => new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false }).format(new Date(iso))"""


@pytest.fixture(scope="module")
async def uiw(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await register_pack(ui_server, tmp_path_factory.mktemp("uiw-pack") / "uiw", PACK)


async def waits_of(ui_server: UiServer, execution: int) -> dict[str, dict]:
    view = (await ui_server.http.get(f"/executions/{execution}/workflow")).json()["data"]
    return {w["task"]: w for w in view["waiting"]}


async def test_a_delayed_task_and_a_retry_read_delayed_and_retrying_with_their_time(
        page: Any, ui_server: UiServer, uiw: Path) -> None:
    run = await start(ui_server, "uiw.waits")
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    graph = page.get_by_test_id("execution-graph")
    table = page.get_by_test_id("task-table")

    later = graph.locator("[data-task='later']")
    await expect(later).to_have_attribute("data-status", "delayed", timeout=20_000)
    waits = await waits_of(ui_server, run["id"])
    until = await page.evaluate(CLOCK, waits["later"]["until"])
    await expect(later).to_contain_text(f"delayed until {until}")
    await expect(graph.locator(".react-flow__node[data-id='later']")).to_have_attribute(
        "aria-label", f"Task later: delayed, delayed until {until}")
    row = table.locator("[data-task-group='later']")
    await expect(row.locator(".badge")).to_have_text("delayed")
    await expect(row.get_by_test_id("wait-detail")).to_have_text(f"delayed until {until}")

    oops = graph.locator("[data-task='oops']")
    await expect(oops).to_have_attribute("data-status", "retrying", timeout=20_000)
    waits = await waits_of(ui_server, run["id"])
    again = await page.evaluate(CLOCK, waits["oops"]["until"])
    await expect(oops).to_contain_text(f"attempt 2 at {again}")
    group = table.locator("[data-task-group='oops']")
    await expect(group.locator(".badge")).to_have_text("retrying")
    await expect(group.get_by_test_id("wait-detail")).to_have_text(f"attempt 2 at {again}")
    # Nothing reads running: no process runs either task yet.
    await expect(graph.locator("[data-status='running']")).to_have_count(0)

    # Each goes on at its time; once the run has ended nothing says it waits.
    await expect(page.locator("h1 .badge")).to_have_text("failed", timeout=60_000)
    await ended(ui_server, run["id"])
    await expect(later).to_have_attribute("data-status", "completed")
    await expect(oops).to_have_attribute("data-status", "failed")
    await expect(page.get_by_test_id("wait-detail")).to_have_count(0)
    await expect(graph).not_to_contain_text(re.compile(r"delayed until|attempt 2 at"))
