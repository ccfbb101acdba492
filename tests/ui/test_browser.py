"""The web UI, driven in headless Chromium against the real API, Temporal and workers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import yaml
from playwright.async_api import expect
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

from attune.records.models import ExecutionRow, utcnow
from tests.ui.conftest import SHOTS, TOKEN, UiServer, path_of, shot

pytestmark = [pytest.mark.slow]
GREEN = "rgb(23, 128, 74)"  # --s-completed


async def test_the_ui_asks_for_the_token_and_nothing_works_without_it(browser: Any,
                                                                      ui_server: UiServer) -> None:
    tab = await browser.new_page()  # no token in this tab
    try:
        await tab.goto(f"{ui_server.url}/executions")
        dialog = tab.get_by_role("dialog")
        await expect(dialog).to_contain_text("API token required")
        await expect(tab.get_by_test_id("executions-table")).to_have_count(0)
        await tab.get_by_label("Token", exact=True).fill("wrong")
        await tab.get_by_role("button", name="Continue").click()
        await expect(dialog).to_contain_text("The token was refused")
        await tab.get_by_label("Token", exact=True).fill(TOKEN)
        await tab.keyboard.press("Enter")
        await expect(dialog).to_have_count(0)
        await expect(tab.get_by_test_id("executions-table")).to_be_visible()
    finally:
        await tab.close()


async def test_build_save_run_and_reopen_a_workflow(page: Any, ui_server: UiServer) -> None:
    await page.goto(f"{ui_server.url}/workflows/new")
    await page.get_by_label("Pack").select_option("uit")
    await page.get_by_label("Name", exact=True).fill("built")
    await expect(page.locator(".ref-preview")).to_have_text("uit.built")

    # Two tasks from the catalog; the action's parameters become the task's input form.
    await page.get_by_label("Search actions").fill("core.echo")
    await page.locator("[data-action='core.echo']").click()
    await expect(page.get_by_test_id("task-inspector")).to_be_visible()
    await page.get_by_label("message").fill("{{ parameters.nope }}")
    # Live validation: the unknown parameter is a problem on this task; Save is refused.
    await expect(page.get_by_test_id("task-problems")).to_contain_text("unknown parameter 'nope'")
    await expect(page.locator("[data-task='echo'] [data-testid='node-problems']")).to_have_text("1 problem")
    await expect(page.get_by_test_id("save")).to_be_disabled()
    await page.get_by_role("tab", name="YAML").click()
    await expect(page.get_by_test_id("yaml-problems")).to_contain_text(
        re.compile(r"\d+:\d+ unknown parameter 'nope'"))
    await shot(page, "builder-yaml")
    await page.get_by_role("tab", name="Graph").click()
    await page.locator("[data-task='echo']").click()
    await page.get_by_label("message").fill("hello from the builder")
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")

    await page.get_by_label("Search actions").fill("core.noop")
    await page.locator("[data-action='core.noop']").click()
    await page.locator("[data-task='echo']").click()
    await page.get_by_role("button", name="+ Add transition").click()
    transition = page.get_by_test_id("transition-0")
    await expect(transition.get_by_label("When")).to_have_value("succeeded")
    await transition.get_by_label("noop").check()
    await expect(page.locator(".react-flow__edge")).to_have_count(1)
    await expect(page.locator(".react-flow__edge-text")).to_have_text("succeeded")
    await page.get_by_label("retry count").fill("2")
    # Node positions are the editor's: dragging one moves it in __chart_meta__.
    node = page.locator(".react-flow__node[data-id='noop']")
    box = await node.bounding_box()
    await page.mouse.move(box["x"] + 60, box["y"] + 20)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 260, box["y"] + 80, steps=8)
    await page.mouse.up()

    # The YAML view follows the graph, and the graph follows the YAML.
    await page.get_by_role("tab", name="YAML").click()
    editor = page.get_by_test_id("yaml-editor")
    text = await editor.input_value()
    doc = yaml.safe_load(text)
    assert [t["name"] for t in doc["tasks"]] == ["echo", "noop"]
    assert doc["tasks"][0]["next"] == [{"when": "{{ succeeded() }}", "do": ["noop"]}]
    assert doc["tasks"][0]["retry"] == {"count": 2}
    assert doc["tasks"][1]["__chart_meta__"]["position"]["x"] >= 200
    await editor.fill(text.replace("hello from the builder", "hello from the YAML"))
    await page.get_by_role("tab", name="Graph").click()
    await page.locator("[data-task='echo']").click()
    await expect(page.get_by_label("message")).to_have_value("hello from the YAML")
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")
    await shot(page, "builder")

    await page.get_by_test_id("save").click()
    await expect(page).to_have_url(re.compile(r"/workflows/uit\.built/edit$"))
    # Saved: the two files are in the pack directory, positions included.
    saved = ui_server.packs / "uit" / "actions"
    action_yaml = yaml.safe_load((saved / "built.yaml").read_text())
    assert action_yaml["workflow_file"] == "workflows/built.workflow.yaml"
    on_disk = yaml.safe_load((saved / "workflows" / "built.workflow.yaml").read_text())
    assert on_disk["tasks"][1]["__chart_meta__"]["position"] == doc["tasks"][1]["__chart_meta__"]["position"]

    # Editing: pack and name are locked, visibly.
    await expect(page.get_by_label("Pack")).to_be_disabled()
    await expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    await expect(page.get_by_test_id("ref-locked")).to_be_visible()

    # A saved workflow runs at once; its nodes turn green.
    await page.get_by_role("link", name="Run…").click()
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    graph = page.get_by_test_id("execution-graph")
    for task in ("echo", "noop"):
        node = graph.locator(f"[data-task='{task}']")
        await expect(node).to_have_attribute("data-status", "completed", timeout=60_000)
        await expect(node).to_have_css("border-top-color", GREEN)
    await expect(page.locator("h1 .badge")).to_have_text("completed")
    await graph.locator("[data-task='echo']").click()
    await expect(page.get_by_test_id("task-detail")).to_contain_text("hello from the YAML")
    assert "task=" in page.url  # the selected task survives a reload
    await shot(page, "execution")

    # Reopened later: still locked, and the graph comes back as it was saved.
    await page.goto(f"{ui_server.url}/workflows/uit.built/edit")
    await expect(page.get_by_label("Pack")).to_be_disabled()
    await expect(page.get_by_label("Pack")).to_have_value("uit")
    await expect(page.get_by_label("Name", exact=True)).to_have_value("built")
    await expect(page.get_by_label("Name", exact=True)).to_be_disabled()
    await expect(page.locator(".react-flow__node")).to_have_count(2)
    # Keyboard: a node focused with Tab opens with Enter.
    await page.locator(".react-flow__node[data-id='noop']").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("task-inspector").get_by_label("Task name")).to_have_value("noop")
    await page.get_by_role("tab", name="YAML").click()
    reopened = yaml.safe_load(await page.get_by_test_id("yaml-editor").input_value())
    assert reopened["tasks"][1]["__chart_meta__"] == on_disk["tasks"][1]["__chart_meta__"]


async def test_a_workflow_with_parameters_opens_clean_and_saves_again(page: Any, ui_server: UiServer) -> None:
    """The builder sent the parameters as the API answered them (`required_properties`), which
    validation refused: every loaded workflow with parameters showed false problems, Save off."""
    await page.goto(f"{ui_server.url}/workflows/uit.edited/edit")
    await expect(page.locator(".react-flow__node")).to_have_count(2)
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")
    await page.locator("[data-task='greet']").click()
    await page.get_by_label("retry count").fill("1")
    # A graph edit rewrote the whole file: its comments went, `[{do: [bye]}]` became block lists.
    await page.get_by_role("tab", name="YAML").click()
    text = await page.get_by_test_id("yaml-editor").input_value()
    assert "# Kept through graph edits" in text and "# flow style stays too" in text, text
    assert "next: [{do: [bye]}]" in text and "retry:" in text, text
    await page.get_by_role("tab", name="Graph").click()
    await expect(page.get_by_test_id("save")).to_be_enabled()
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")
    saved = ui_server.packs / "uit" / "actions"
    for _ in range(50):  # the save lands on disk
        flow = yaml.safe_load((saved / "workflows" / "edited.workflow.yaml").read_text())
        if flow["tasks"][0].get("retry"):
            break
        await asyncio.sleep(0.1)
    assert flow["tasks"][0]["retry"] == {"count": 1}
    assert "# Kept through graph edits" in (saved / "workflows" / "edited.workflow.yaml").read_text()
    action = yaml.safe_load((saved / "edited.yaml").read_text())
    assert action["parameters"]["who"]["default"] == "world"
    # The action's description stays its own (the workflow file's replaced it).
    assert action["description"] == "A workflow with parameters, opened and saved again in the builder"
    await page.reload()
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")


async def test_a_number_typed_key_by_key_arrives_as_typed(page: Any, ui_server: UiServer) -> None:
    """Each keystroke was shown back from the parsed value: `1.` became 1, so typing 1.5 gave
    15, and `-` became YAML's `[null]`, so -3 gave "[null]3"."""
    await page.goto(f"{ui_server.url}/workflows/new")
    await page.get_by_label("Search actions").fill("core.sleep")
    await page.locator("[data-action='core.sleep']").click()
    for typed, expected in (("1.5", 1.5), ("-0.25", -0.25)):
        field = page.locator("#input-seconds")
        await field.fill("")
        await field.press_sequentially(typed, delay=40)
        await expect(field).to_have_value(typed)
        await page.get_by_role("tab", name="YAML").click()
        doc = yaml.safe_load(await page.get_by_test_id("yaml-editor").input_value())
        assert doc["tasks"][0]["input"]["seconds"] == expected, doc
        await page.get_by_role("tab", name="Graph").click()
        await page.locator("[data-task='sleep']").click()


async def test_run_an_action_from_its_form_including_a_422(page: Any, ui_server: UiServer) -> None:
    await page.goto(f"{ui_server.url}/actions/uit.form")
    form = page.get_by_test_id("run-form")
    # Generated from the schema: types, enum as select, defaults, secret as password, JSON editor.
    await expect(form.get_by_label("mode")).to_have_value("plain")
    assert await form.get_by_label("mode").evaluate("el => el.tagName") == "SELECT"
    assert await form.get_by_label("token").get_attribute("type") == "password"
    # A secret's default is never sent to the browser; left empty, the server applies it.
    await expect(form.get_by_label("key")).to_have_value("")
    assert await form.get_by_label("key").get_attribute("placeholder") == "(its default)"
    await expect(form.get_by_label("times")).to_have_value("1")
    await expect(form.locator("[data-field='message'] .required")).to_be_visible()
    names = form.get_by_label("names")
    await names.fill('["ada", ')
    await expect(form.locator("[data-field='names'] .field-error")).to_contain_text("invalid JSON")
    await expect(form.get_by_role("button", name="Run")).to_be_disabled()
    await names.fill('{"not": "a list"}')
    await expect(form.locator("[data-field='names'] .field-error")).to_contain_text("must be a JSON array")
    await names.fill('["ada", "grace"]')
    await expect(form.locator("[data-field='names'] .field-error")).to_have_count(0)

    # A number is read in decimal only (Number() took "0x10" as 16 and "Infinity" as null); a
    # large integer in digits is sent as written (test_exact_values), in other forms refused.
    times = form.get_by_label("times")
    for typed, problem in (("0x10", "not a number"), ("Infinity", "not a number"), ("1.5", "whole number"),
                           ("1e20", "write it in digits (100000000000000000000)")):
        await times.fill(typed)
        await expect(form.locator("[data-field='times'] .field-error")).to_contain_text(problem)
        await expect(form.get_by_role("button", name="Run")).to_be_disabled()

    # The API's 422 lands next to each field it names.
    await form.get_by_label("times").fill("9")
    await form.get_by_role("button", name="Run").click()
    await expect(form.locator("[data-field='times'] .field-error")).to_contain_text("9")
    await expect(form.locator("[data-field='message'] .field-error")).to_contain_text("required")
    await shot(page, "action")
    assert path_of(page.url) == "/actions/uit.form"

    await form.get_by_label("message").fill("hi")
    await form.get_by_label("times").fill("2")
    await form.get_by_label("mode").select_option("loud")
    await form.get_by_label("shout").check()
    await form.get_by_label("token").fill("hunter2")
    await form.get_by_role("button", name="Run").click()
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    params = page.get_by_label("parameters")
    await expect(params).to_contain_text('"token": "********"')
    await expect(params).to_contain_text('"mode": "loud"')
    await expect(page.get_by_label("result fields")).to_contain_text('"times": 2')
    await expect(page.get_by_label("result fields")).to_contain_text('"key": true')
    assert "hunter2" not in await page.content() and "k3y-default" not in await page.content()


async def test_an_id_that_cannot_be_one_is_named_as_typed(page: Any, ui_server: UiServer) -> None:
    for path, what in (("/executions/abc", "execution"), ("/inquiries/x1", "inquiry"), ("/executions/0", "execution"),
                       ("/executions/99999999999999999999", "execution")):
        await page.goto(f"{ui_server.url}{path}")
        await expect(page.get_by_role("alert")).to_contain_text(f"Not an {what} id: “{path.rsplit('/', 1)[1]}”")
    await page.goto(f"{ui_server.url}/executions?parent=abc")  # refused, not dropped (listing all)
    await expect(page.get_by_role("alert")).to_contain_text("parent")


async def test_cancel_a_running_workflow(page: Any, ui_server: UiServer) -> None:
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.slow"})
    execution = started.json()["data"]["id"]
    await page.goto(f"{ui_server.url}/executions/{execution}")
    nap = page.get_by_test_id("execution-graph").locator("[data-task='nap']")
    await expect(nap).to_have_attribute("data-status", "running", timeout=60_000)
    start = page.get_by_test_id("execution-graph").locator("[data-task='start']")
    await expect(start).to_have_attribute("data-status", "completed")
    await shot(page, "execution-running")
    # The second step can be backed out of: the button beside it, or Escape.
    await page.get_by_role("button", name="Cancel execution").click()
    await page.get_by_role("button", name="Keep it running").click()
    await page.get_by_role("button", name="Cancel execution").click()
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("button", name="Confirm cancel")).to_have_count(0)
    assert (await ui_server.http.get(f"/executions/{execution}")).json()["data"]["status"] == "running"
    await page.get_by_role("button", name="Cancel execution").click()
    await page.get_by_role("button", name="Confirm cancel").click()
    await expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=60_000)
    await expect(nap).to_have_attribute("data-status", "cancelled")
    await expect(page.get_by_role("button", name="Cancel execution")).to_have_count(0)
    record = (await ui_server.http.get(f"/executions/{execution}")).json()["data"]
    assert record["status"] == "cancelled"


async def test_execution_page_shows_items_retries_and_nested_workflows(page: Any,
                                                                      ui_server: UiServer) -> None:
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.tree"})
    execution = started.json()["data"]["id"]
    await page.goto(f"{ui_server.url}/executions/{execution}")
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    table = page.get_by_test_id("task-table")
    progress = table.locator("[data-task-group='each'] [data-testid='items-progress']")
    await expect(progress).to_contain_text("items 3/3 done")
    # Every attempt is a row: the failed task ran twice (retry count 1).
    oops = table.locator("tr.attempt-row", has=page.locator("a", has_text="core.fail"))
    await expect(oops).to_have_count(2)
    await expect(table.locator("[data-task-group='oops'] .badge")).to_have_text("failed")
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator("[data-task='handled']")).to_have_attribute("data-status", "completed")
    await expect(graph.locator(".react-flow__edge-text")).to_have_text(["succeeded", "succeeded", "failed"])
    # The nested workflow expands in place into its own tasks.
    await table.get_by_role("button", name=re.compile("Expand nested workflow")).click()
    nested = table.locator("tr.nested-row")
    await expect(nested.locator("[data-task-group='first']")).to_be_visible()
    await expect(nested.locator("[data-task-group='second'] .badge")).to_have_text("completed")
    # Deep link to the same run in the Temporal Web UI.
    link = page.get_by_role("link", name=re.compile("Open in Temporal"))
    workflow_id = (await ui_server.http.get(f"/executions/{execution}")).json()["data"]["workflow_id"]
    await expect(link).to_have_attribute("href", f"http://127.0.0.1:8233/namespaces/default/workflows/{workflow_id}")
    await page.get_by_test_id("task-table").locator("tr.attempt-row").first.get_by_role("button").last.click()
    await expect(page.get_by_test_id("task-detail")).to_contain_text(re.compile(r'"message": "item [123]"'))
    await shot(page, "execution-nested")


async def test_a_task_waiting_for_its_retry_reads_retrying_not_failed(page: Any, ui_server: UiServer) -> None:
    """During a retry's delay the table said `failed` (its last attempt's status) while the
    graph said running."""
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.retry_wait"})
    await page.goto(f"{ui_server.url}/executions/{started.json()['data']['id']}")
    group = page.get_by_test_id("task-table").locator("[data-task-group='oops'] .badge")
    await expect(group).to_have_text("retrying", timeout=20_000)
    await expect(page.locator("h1 .badge")).to_have_text("failed", timeout=30_000)
    await expect(group).to_have_text("failed")


async def test_a_failed_tasks_long_error_is_shown_and_wraps(page: Any, ui_server: UiServer) -> None:
    """The workflow view leaves out results over 8 KB: the task panel reads the task whole, so
    a failed task's stderr and error show; a long unbroken line wraps inside the page."""
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.loud_flow"})
    execution = started.json()["data"]["id"]
    await page.goto(f"{ui_server.url}/executions/{execution}")
    await expect(page.locator("h1 .badge")).to_have_text("failed", timeout=60_000)
    await page.get_by_test_id("task-table").locator("tr.attempt-row").first.get_by_role("button").last.click()
    detail = page.get_by_test_id("task-detail")
    await expect(detail).to_contain_text("trace line 200: something went wrong")
    await expect(detail.locator(".banner.error")).to_contain_text("FATAL:EEEE")
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the page scrolls sideways by {wide} px"


async def test_two_transitions_to_the_same_task_make_one_edge_with_both_labels(
        page: Any, ui_server: UiServer) -> None:
    """Drawn as two edges they lay on top of each other, and so did their labels."""
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.fork"})
    execution = started.json()["data"]["id"]
    await page.goto(f"{ui_server.url}/executions/{execution}")
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator(".react-flow__edge")).to_have_count(1)
    await expect(graph.locator(".react-flow__edge-text")).to_have_text("succeeded · failed")


async def test_a_long_workflow_fits_whole_with_a_map(page: Any, ui_server: UiServer) -> None:
    """40 tasks in a chain: the first view shows every node (the minimum zoom was too high for
    that, and cut off most of them) and a map to move around in."""
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.long"})
    execution = started.json()["data"]["id"]
    await page.goto(f"{ui_server.url}/executions/{execution}")
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator(".task-node")).to_have_count(40)
    await expect(graph.locator("[data-task='step40']")).to_have_attribute("data-status", "completed",
                                                                           timeout=60_000)
    await expect(graph.get_by_label("Workflow map")).to_be_visible()
    box = await graph.bounding_box()
    for name in ("step1", "step40"):
        node = await graph.locator(f"[data-task='{name}']").bounding_box()
        assert box["y"] <= node["y"] and node["y"] + node["height"] <= box["y"] + box["height"] + 1, (name, node, box)


async def test_what_an_action_printed_shows_as_a_terminal_would(page: Any, ui_server: UiServer) -> None:
    """Colours as colours, not `[1;31m`; a bidirectional-text control shown as a mark rather
    than applied (applied, it reorders what the page shows)."""
    started = await ui_server.http.post("/executions/execute", json={"action_ref": "uit.colors"})
    execution = started.json()["data"]["id"]
    await page.goto(f"{ui_server.url}/executions/{execution}")
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    stdout = page.get_by_test_id("stdout")
    await expect(stdout).to_contain_text("ERROR plain ok")
    assert "[" not in (await stdout.inner_text()).split("user")[0]
    red = await stdout.locator("span", has_text="ERROR").evaluate("e => getComputedStyle(e).color")
    green = await stdout.locator("span", has_text="ok").last.evaluate("e => getComputedStyle(e).color")
    plain = await stdout.evaluate("e => getComputedStyle(e).color")
    assert len({red, green, plain}) == 3, (red, green, plain)
    await expect(stdout.locator(".control-mark")).to_have_text("<U+202E>")
    await expect(stdout).to_contain_text("user <U+202E>nimda")
    await expect(page.get_by_test_id("stderr")).to_have_text("warning on stderr\n")


async def test_page_through_a_long_execution_list(page: Any, ui_server: UiServer) -> None:
    if SHOTS:  # the runs of the tests before this one, not the synthetic rows below
        await page.goto(f"{ui_server.url}/executions")
        await expect(page.get_by_test_id("executions-table").locator("tbody tr").first).to_be_visible()
        await shot(page, "executions")
    engine = create_engine(ui_server.database_url)
    now = utcnow()
    try:
        with Session(engine) as s, s.begin():
            s.execute(delete(ExecutionRow).where(ExecutionRow.action_ref == "uit.bulk"))
            s.add_all(ExecutionRow(action_ref="uit.bulk", status="failed" if i % 10 == 0 else "completed",
                                   config={"i": i}, retry_count=0, mirror_seq=0, started_at=now,
                                   ended_at=now) for i in range(260))
    finally:
        engine.dispose()
    await page.goto(f"{ui_server.url}/executions")
    await page.get_by_label("Action").fill("uit.bulk")
    info = page.get_by_test_id("pager-info")
    await expect(info).to_have_text("Page 1 of 6 · 260 total")
    rows = page.get_by_test_id("executions-table").locator("tbody tr")
    await expect(rows).to_have_count(50)
    first_ids = await rows.evaluate_all("rs => rs.map(r => Number(r.dataset.id))")
    assert first_ids == sorted(first_ids, reverse=True)  # newest first
    await page.get_by_role("button", name="Next page").click()
    await expect(info).to_have_text("Page 2 of 6 · 260 total")
    second_ids = await rows.evaluate_all("rs => rs.map(r => Number(r.dataset.id))")
    assert max(second_ids) < min(first_ids)
    await page.get_by_role("button", name="Last page").click()
    await expect(info).to_have_text("Page 6 of 6 · 260 total")
    await expect(rows).to_have_count(10)
    await expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    await page.reload()  # the page is in the URL
    await expect(info).to_have_text("Page 6 of 6 · 260 total")
    await page.get_by_label("Status").select_option("failed")
    await expect(info).to_have_text("Page 1 of 1 · 26 total")
    await page.go_back()  # a filter is a step Back undoes, as a page is
    await expect(info).to_have_text("Page 6 of 6 · 260 total")
    await expect(page.get_by_label("Status")).to_have_value("")
    await page.goto(f"{ui_server.url}/executions?action=uit.bulk&page=99")  # past the end: says so
    await expect(page.get_by_text("Page 99 is past the last page (6).")).to_be_visible()
    await page.get_by_role("button", name="Go to the last page").click()
    await expect(info).to_have_text("Page 6 of 6 · 260 total")
    await page.get_by_label("Action").fill("")
    await page.get_by_label("Status").select_option("")
    await expect(rows.first).to_be_visible()
    # Typing a filter is a step of its own: Back shows the list without it, field included (the
    # field kept the filter typed, and the typing had replaced the unfiltered list's step).
    await expect(page).not_to_have_url(re.compile(r"action="))
    await page.get_by_label("Action").fill("uit.bulk")
    await expect(page).to_have_url(re.compile(r"action=uit\.bulk"))
    await page.go_back()
    await expect(page).not_to_have_url(re.compile(r"action="))
    await expect(page.get_by_label("Action")).to_have_value("")


async def test_catalog_search_and_keyboard_navigation(page: Any, ui_server: UiServer) -> None:
    await page.goto(f"{ui_server.url}/packs")
    await expect(page.get_by_test_id("packs-table")).to_contain_text("uit")
    await shot(page, "packs")
    await page.goto(f"{ui_server.url}/actions")
    table = page.get_by_test_id("catalog-table")
    await expect(table.locator("tbody tr")).not_to_have_count(0)
    await shot(page, "actions")
    search = page.get_by_label("Search")
    await expect(search).to_be_focused()
    await search.fill("testing ui")  # words match ref, label, tag or pack
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table.locator("tbody tr")).to_contain_text("uit.form")
    await search.fill("")
    await page.get_by_label("Kind").select_option("workflow")
    await page.get_by_label("Pack").select_option("uit")
    # The search box settles after a pause: wait for the filtered rows, then read them all.
    await expect(table.locator("tbody tr[data-ref='uit.form']")).to_have_count(0)
    await expect(table.locator("tbody tr[data-ref='uit.tree']")).to_have_count(1)
    refs = await table.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.ref)")
    assert set(refs) >= {"uit.slow", "uit.tree", "uit.inner"} and "uit.form" not in refs
    # Keyboard only: from the search box to the first action, Enter opens it.
    await page.get_by_label("Kind").select_option("")
    await search.fill("uit.form")
    await search.focus()
    for _ in range(12):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent") == "uit.form":
            break
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/actions/uit\.form$"))
