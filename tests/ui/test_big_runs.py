"""How big runs read on the execution page (QA of runs with hundreds of tasks): a with_items of
more than 500 items (run as slices of 500, each a nested run) reads as the small one does, a
loop's runs of a task are told apart, and output cut at the cap says how much of how much. In
headless Chromium against the real API, Temporal and workers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer
from tests.ui.test_forms_and_docs import ended
from tests.ui.test_run_control import start

pytestmark = [pytest.mark.slow]


async def test_a_failed_with_items_of_over_500_items_reads_failed_and_names_its_failed_items(
        page: Any, ui_server: UiServer) -> None:
    """The slices' records read `#425 attempt 1` and the task COMPLETED (the last slice's
    status), with no progress and no failure reason: item 5 was found by guessing."""
    run = await start(ui_server, "uit.many_items", count=510, bad="5,7", pause=0.3)  # the first slice's: not the last
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    progress = page.get_by_test_id("task-table").locator("[data-task-group='each'] [data-testid='items-progress']")
    await expect(progress).to_have_text(re.compile(r"· items: [1-9]\d* done so far"), timeout=30_000)  # live
    assert (await ended(ui_server, run["id"]))["status"] == "failed"
    node = page.get_by_test_id("execution-graph").locator(".react-flow__node[data-id='each']")
    await expect(node).to_have_attribute("aria-label", "Task each: failed")
    table = page.get_by_test_id("task-table")
    group = table.locator("[data-task-group='each']")
    await expect(group.locator(".badge").first).to_have_text("failed")
    await expect(group.get_by_test_id("items-progress")).to_have_text("· items 510/510 done, 2 failed")
    rows = table.locator("tr.attempt-row td.muted")
    await expect(rows).to_have_text(["items 0–499", "items 500–509"])
    reasons = page.get_by_test_id("failure-reasons")
    await expect(reasons.locator("[data-reason='each']")).to_have_count(2)
    first = reasons.locator("[data-reason='each']").first
    await expect(first).to_contain_text("each item 5 ")
    await expect(first.locator(".reason")).to_have_text("item 5 is broken")
    await expect(reasons.locator("[data-reason='each']").nth(1).locator(".reason")).to_have_text("item 7 is broken")


async def test_a_loops_runs_of_a_task_are_numbered_and_cut_output_says_how_much(page: Any,
                                                                              ui_server: UiServer) -> None:
    """500 runs of a loop's task read `attempt 1` each; `stdout (truncated)` did not say that
    most of it, its last line too, was dropped."""
    run = await start(ui_server, "uit.loop3")
    assert (await ended(ui_server, run["id"]))["status"] == "completed"
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    table = page.get_by_test_id("task-table")
    await expect(table.locator("[data-task-group='step'] [data-testid='runs']")).to_have_text("· 3 runs")
    step_rows = table.locator("[data-task-group='step'] ~ tr.attempt-row td.muted")
    await expect(step_rows.nth(0)).to_have_text("run 1 · attempt 1")
    await expect(step_rows.nth(2)).to_have_text("run 3 · attempt 1")
    await table.locator("[data-task-group='big'] + tr.attempt-row button.link").click()
    await expect(page.get_by_test_id("stdout-cut")).to_have_text(
        "(cut at 256 KiB of 293 KiB; the rest was not kept)")
