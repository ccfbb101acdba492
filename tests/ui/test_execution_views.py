"""What the execution page shows of a run: its own graph, tasks that failed before they started,
edge labels, a task's own page and why a run failed; in headless Chromium against the real API,
Temporal and workers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer
from tests.ui.test_forms_and_docs import ended
from tests.ui.test_run_control import start

pytestmark = [pytest.mark.slow]

CHANGED = """version: "1.0"
tasks:
  - name: first
    action: core.noop
    next:
      - when: "{{ succeeded() and true }}"
        do: [second]
      - when: "{{ failed() }}"
        do: [added]
  - name: second
    action: core.noop
  - name: added
    action: core.noop
"""


async def test_a_run_of_a_workflow_deleted_since_says_so_and_offers_no_rerun(page: Any, ui_server: UiServer) -> None:
    """It said "The workflow has changed since this run" and offered Action, Re-run and Edit &
    re-run, which opened "action not found" or failed."""
    created = await ui_server.http.post("/workflows", json={"ref": "uit.doomed", "yaml": CHANGED})
    assert created.status_code == 201, created.text
    run = await start(ui_server, "uit.doomed")
    await ended(ui_server, run["id"])
    gone = await ui_server.http.delete("/workflows/uit.doomed", params={"remove_files": "true"})
    assert gone.status_code in (200, 204), gone.text
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    await expect(page.get_by_test_id("execution-graph").locator(".task-node")).to_have_count(3)
    await expect(page.get_by_test_id("graph-edited")).to_contain_text("The workflow is no longer registered")
    await expect(page.get_by_test_id("action-gone")).to_have_text("uit.doomed is no longer registered")
    for name in ("Action", "Re-run", "Edit & re-run…"):
        await expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)
        await expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)


async def test_an_old_run_is_drawn_as_it_ran_after_its_workflow_changed(page: Any, ui_server: UiServer) -> None:
    """The page drew the workflow as it is now: a task added since read "not run", and a task
    removed since vanished from the graph of the run that ran it."""
    run = await start(ui_server, "uit.changing")
    await ended(ui_server, run["id"])
    changed = await ui_server.http.put("/workflows/uit.changing", json={"yaml": CHANGED})
    assert changed.status_code == 200, changed.text
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator(".task-node")).to_have_count(3)
    for name in ("first", "second", "third"):
        await expect(graph.locator(f"[data-task='{name}']")).to_have_attribute("data-status", "completed")
    await expect(graph.locator("[data-task='added']")).to_have_count(0)
    await expect(page.get_by_test_id("graph-edited")).to_be_visible()
    # Its edges, labelled with the conditions it ran with (the run records them), not today's.
    await expect(graph.locator(".react-flow__edge")).to_have_count(2)
    await expect(graph.locator(".react-flow__edge-text")).to_have_text(["succeeded", "succeeded"])

    # A run of the workflow as it is now is drawn so.
    again = await start(ui_server, "uit.changing")
    await ended(ui_server, again["id"])
    await page.goto(f"{ui_server.url}/executions/{again['id']}")
    await expect(graph.locator(".task-node")).to_have_count(3)
    await expect(graph.locator("[data-task='added']")).to_have_attribute("data-status", "not_run")
    await expect(graph.locator(".react-flow__edge-text")).to_have_text(["succeeded() and true", "failed"])
    await expect(page.get_by_test_id("graph-edited")).to_have_count(0)


async def test_a_task_whose_expression_failed_reads_failed(page: Any, ui_server: UiServer) -> None:
    """A task that failed on its input's expression has no record: it was drawn "not run" and
    left out of the table, while the run named it failed."""
    run = await start(ui_server, "uit.bad_expr")
    await ended(ui_server, run["id"])
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    graph = page.get_by_test_id("execution-graph")
    report = graph.locator("[data-task='report']")
    await expect(report).to_have_attribute("data-status", "failed")
    await expect(report).to_contain_text("failed before it started")
    await expect(graph.locator("[data-task='check']")).to_have_attribute("data-status", "completed")
    row = page.get_by_test_id("task-table").locator("[data-task-group='report']")
    await expect(row.locator(".badge")).to_have_text("failed")
    await expect(row.get_by_test_id("status-detail")).to_contain_text(
        "task 'report' input.message: cannot evaluate")


def overlapping(boxes: list[dict]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(boxes) for j, b in enumerate(boxes) if i < j
            and a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


async def labels_apart_with_their_whole_text(graph: Any, count: int) -> None:
    labels = graph.locator(".react-flow__edge-textwrapper")
    await expect(labels).to_have_count(count)
    await expect(labels.first).to_be_visible()
    boxes = [await labels.nth(i).bounding_box() for i in range(count)]
    assert not overlapping(boxes), boxes
    cut = [i for i in range(count) if (await labels.nth(i).locator("text").text_content() or "").endswith("…")]
    assert cut, "a label past 40 characters is cut"
    for i in cut:
        whole = await labels.nth(i).locator("title").text_content()
        assert "'a long condition' != 'that is cut'" in whole, whole


async def test_edge_labels_out_of_one_task_lie_apart_and_a_cut_one_reads_whole(page: Any,
                                                                               ui_server: UiServer) -> None:
    """Two conditions out of one task were drawn on top of each other, and a label cut at 40
    characters could not be read whole."""
    run = await start(ui_server, "uit.labels")
    await ended(ui_server, run["id"])
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator(".react-flow__edge")).to_have_count(2)  # two conditions to done: one edge
    await labels_apart_with_their_whole_text(graph, 2)
    # The builder draws each transition on its own edge: three labels out of `check`.
    await page.goto(f"{ui_server.url}/workflows/uit.labels/edit")
    await labels_apart_with_their_whole_text(page.get_by_test_id("builder-graph"), 3)


async def test_a_tasks_own_page_names_it_and_asks_for_nothing_that_is_not_there(page: Any,
                                                                                ui_server: UiServer) -> None:
    """It read only "task of #11", and asked for the workflow view and definition of a script
    (two 404s, two console errors)."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    tasks = (await ui_server.http.get("/executions", params={"parent": run["id"], "per_page": 100})).json()["items"]
    item = next(t for t in tasks if t["workflow_task"]["task_name"] == "each" and t["workflow_task"]["task_index"] == 2)
    retried = next(t for t in tasks if t["workflow_task"]["task_name"] == "oops" and t["workflow_task"]["retry_count"] == 1)
    await page.goto("about:blank")  # the fixture's page, before it held the token, is done with
    failures: list[str] = []
    page.on("console", lambda m: failures.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(f"{ui_server.url}/executions/{item['id']}")
    task_of = page.get_by_test_id("task-of")
    await expect(task_of).to_have_text(f"task each (item 2, attempt 1) of #{run['id']}")
    await expect(page.locator("h1 .badge")).to_have_text("completed")
    await page.goto(f"{ui_server.url}/executions/{retried['id']}")
    await expect(task_of).to_have_text(f"task oops (attempt 2) of #{run['id']}")
    await expect(page.locator("h1 .badge")).to_have_text("failed")
    await page.wait_for_load_state("networkidle")
    assert failures == [], failures
    # Its parent's link opens the run with this task selected.
    await task_of.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"/executions/{run['id']}\?task={retried['id']}$"))
    await expect(page.get_by_test_id("task-detail")).to_be_visible()


async def test_a_failed_runs_banner_gives_its_failed_tasks_errors(page: Any, ui_server: UiServer) -> None:
    """"Workflow failed: 1 task(s) failed: check" said which task, not why: that was a click into
    the task away (the CLI prints it)."""
    run = await start(ui_server, "uit.flaky", ok=False)
    await ended(ui_server, run["id"])
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    banner = page.locator(".page > .banner.error", has_text="Workflow failed")  # not the Result's
    await expect(banner).to_contain_text("1 task(s) failed: check")
    reasons = banner.get_by_test_id("failure-reasons")
    await expect(reasons.locator("li")).to_have_count(1)
    await expect(reasons.locator("[data-reason='check']")).to_contain_text("uit.check")
    await expect(reasons.locator("[data-reason='check'] .reason")).to_have_text("check failed: ok is false")

    # A nested run's task says only "Workflow failed: 1 task(s) failed: b": the reason is said
    # from where it happened, two levels down, with the way there (the CLI's root cause).
    deep = await start(ui_server, "uit.deep_top")
    await ended(ui_server, deep["id"])
    await page.goto(f"{ui_server.url}/executions/{deep['id']}")
    cause = page.get_by_test_id("failure-reasons").locator("[data-reason='a']")
    await expect(cause.get_by_test_id("cause-path")).to_contain_text("→ b → c (core.fail")
    await expect(cause.locator(".reason")).to_contain_text("disk full on node7")

    # A long error (over the workflow view's 8 KB, one long word) is read whole, shown cut.
    loud = await start(ui_server, "uit.loud_flow")
    await ended(ui_server, loud["id"])
    await page.goto(f"{ui_server.url}/executions/{loud['id']}")
    reason = page.locator("[data-reason='shout'] .reason")
    await expect(reason).to_contain_text("FATAL:EEEE")
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide} px"
