"""What the web UI says before and after the API refuses something, and what it keeps still, in
headless Chromium against the real API, Temporal and workers: the builder's fields checked by the
API's rules as they are typed (in the API's words, with its limits from /meta), every pager's
end buttons really disabled, one message for a refused inquiry answer, and a run's graph laid
out once, not again on every refresh."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import create_engine, delete
from sqlalchemy.orm import Session

from attune.records.models import ExecutionRow, InquiryRow, utcnow
from tests.ui.conftest import UiServer
from tests.ui.test_run_control import answer_meanwhile, inquiry_of, start

pytestmark = [pytest.mark.slow]


async def new_task(page: Any, ui: UiServer, action: str = "core.noop") -> None:
    await page.goto(f"{ui.url}/workflows/new")
    await page.get_by_label("Pack").select_option("uit")
    await page.get_by_label("Search actions").fill(action)
    await page.locator(f"[data-action='{action}']").click()


async def says_as_typed_and_as_the_api(page: Any, field: Any, typed: str, problem_id: str) -> str:
    """Type `typed` into `field`: its problem shows beside it at once (before the field is left),
    and the API's validation, once the edit is applied, says the very same words."""
    await field.fill(typed)
    beside = page.get_by_test_id(problem_id)
    await expect(beside).to_be_visible()
    await expect(field).to_have_attribute("aria-invalid", "true")
    said = await beside.inner_text()
    await field.press("Enter")
    await expect(page.get_by_test_id("problems")).to_contain_text(said)
    await expect(page.get_by_test_id("save")).to_have_attribute("aria-disabled", "true")
    return said


async def test_the_builder_says_what_the_api_refuses_beside_the_field_as_it_is_typed(
        page: Any, ui_server: UiServer) -> None:
    """The builder let a task be named `a/b`, 81 characters or with a control character, and a
    delay be over the 10-year limit: the API's validation said so only once the field was left,
    in a list away from it; a workflow name starting with '-' failed only on Save."""
    meta = (await ui_server.http.get("/meta")).json()["data"]["limits"]
    longest = meta["max_task_name_length"]
    await new_task(page, ui_server)
    await page.get_by_label("Name", exact=True).fill("rules")
    name = page.get_by_label("Task name")
    said = await says_as_typed_and_as_the_api(page, name, "a/b", "task-name-problem")
    assert said == "task name 'a/b' may not contain '/' (it separates a workflow id from a task's attempt in execution keys)"
    said = await says_as_typed_and_as_the_api(page, name, "x" * (longest + 1), "task-name-problem")
    assert f"is {longest + 1} characters long, over the limit of {longest}" in said
    said = await says_as_typed_and_as_the_api(page, name, "a\tb", "task-name-problem")
    assert said == "task name 'a\\tb' may not contain a line break or other control character (U+0009)"
    said = await says_as_typed_and_as_the_api(page, name, "tasks", "task-name-problem")
    assert said.startswith("task name 'tasks' is reserved")
    # At the limit (in characters, as the API counts them: 4-byte ones too) all is well.
    await name.fill("é" * (longest - 1) + "😀")
    await name.press("Enter")
    await expect(page.get_by_test_id("task-name-problem")).to_have_count(0)
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")
    await name.fill("first")
    await name.press("Enter")

    # A duplicate is not applied (the graph would merge the two): it holds Save until changed.
    await page.get_by_label("Search actions").fill("core.noop")
    await page.locator("[data-action='core.noop']").click()
    await page.get_by_label("Task name").fill("first")
    await expect(page.get_by_test_id("task-name-problem")).to_have_text("duplicate task name 'first'")
    await page.get_by_label("Task name").press("Enter")
    await expect(page.get_by_test_id("save-state")).to_contain_text("duplicate task name 'first'")
    await expect(page.get_by_test_id("save")).to_have_attribute("aria-disabled", "true")
    await page.get_by_label("Task name").fill("second")
    await page.get_by_label("Task name").press("Enter")
    await expect(page.get_by_test_id("task-name-problem")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_have_text("ready to save")

    # Durations: the API's limit, in its words, beside each field (and the API's problem is
    # this task's: a new workflow's tasks were written on one line, all the first task's).
    top = meta["max_duration_seconds"]
    await page.get_by_label("retry count").fill("1")
    for label, problem_id, what in (("timeout (s)", "f-timeout-s--problem", "timeout"),
                                    ("delay (s)", "f-delay-s--problem", "delay"),
                                    ("retry delay (s)", "f-retry-delay-s--problem", "retry.delay"),
                                    ("max delay (s)", "f-max-delay-s--problem", "retry.max_delay")):
        field = page.get_by_label(label, exact=True)
        said = await says_as_typed_and_as_the_api(page, field, str(top + 1), problem_id)
        assert said == f"task 'second' {what}: {top + 1:,} s is over the limit of {top:,} s (10 years)"
        await expect(page.get_by_test_id("task-problems")).to_contain_text(said)
        await field.fill(str(top))
        await expect(page.get_by_test_id(problem_id)).to_have_count(0)
        await field.fill("")
    await page.get_by_label("retry count").fill("")
    await expect(page.get_by_test_id("problems")).to_contain_text("No problems")

    # The workflow's name: the API's pattern (not '-' first) and its limit on the ref's length.
    ref_limit = meta["max_action_ref_length"]
    workflow = page.get_by_label("Name", exact=True)
    for typed in ("-rules", "r" * (ref_limit - len("uit.") + 1)):
        await workflow.fill(typed)
        await expect(page.get_by_test_id("wf-name-problem")).to_be_visible()
        await expect(page.get_by_test_id("save")).to_have_attribute("aria-disabled", "true")
        refused = await ui_server.http.post("/workflows", json={
            "ref": f"uit.{typed}", "yaml": "version: '1.0'\ntasks: [{name: a, action: core.noop}]\n"})
        assert refused.status_code == 422, refused.text  # the API refuses what the field does
    await workflow.fill("r" * (ref_limit - len("uit.")))
    await expect(page.get_by_test_id("wf-name-problem")).to_have_count(0)
    await expect(page.get_by_test_id("save-state")).to_have_text("ready to save")


async def pager_buttons(page: Any) -> dict[str, list[bool]]:
    """Each pager button's (disabled attribute, aria-disabled) as the page has them."""
    return await page.get_by_role("navigation", name="Pages").locator("button").evaluate_all(
        "bs => Object.fromEntries(bs.map(b => [b.getAttribute('aria-label'), "
        "[b.disabled, b.getAttribute('aria-disabled') === 'true']]))")


async def test_every_pagers_end_buttons_are_disabled_buttons(page: Any, ui_server: UiServer) -> None:
    """At the first page First and Previous, at the last Next and Last are real disabled buttons
    (not clickable, announced as dimmed), and the others are not: on the executions and the
    inquiries lists, and past the last page (where Last still leads somewhere)."""
    engine = create_engine(ui_server.database_url)
    now = utcnow()
    try:
        with Session(engine) as s, s.begin():
            s.execute(delete(ExecutionRow).where(ExecutionRow.action_ref == "uit.pager"))
            s.add_all(ExecutionRow(action_ref="uit.pager", status="completed", config={}, retry_count=0,
                                   mirror_seq=0, started_at=now, ended_at=now) for _ in range(120))
            s.execute(delete(InquiryRow).where(InquiryRow.assigned_to == "pager"))
            s.add_all(InquiryRow(key=f"pager-{i}", prompt=f"page me {i}", response_schema={},
                                 assigned_to="pager", status="cancelled") for i in range(45))
    finally:
        engine.dispose()
    on, off = [True, False], [False, False]
    for path, pages in (("/executions?action=uit.pager", 3), ("/inquiries?status=cancelled", 3)):
        await page.goto(f"{ui_server.url}{path}")
        info = page.get_by_test_id("pager-info")
        await expect(info).to_contain_text(f"Page 1 of {pages}")
        assert await pager_buttons(page) == {"First page": on, "Previous page": on, "Next page": off, "Last page": off}
        await expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
        await page.get_by_role("button", name="Previous page").click(force=True)  # nothing happens
        await page.get_by_role("button", name="Next page").click()
        await expect(info).to_contain_text(f"Page 2 of {pages}")
        assert await pager_buttons(page) == {"First page": off, "Previous page": off, "Next page": off, "Last page": off}
        await page.get_by_role("button", name="Last page").click()
        await expect(info).to_contain_text(f"Page {pages} of {pages}")
        assert await pager_buttons(page) == {"First page": off, "Previous page": off, "Next page": on, "Last page": on}
        await page.get_by_role("button", name="Next page").click(force=True)
        await asyncio.sleep(0.3)
        await expect(info).to_contain_text(f"Page {pages} of {pages}")
        # Past the last page: Next leads nowhere, Last and Previous lead back.
        await page.goto(f"{ui_server.url}{path}&page=9")
        await expect(info).to_contain_text(f"Page 9 of {pages}")
        assert await pager_buttons(page) == {"First page": off, "Previous page": off, "Next page": on, "Last page": off}
        await page.get_by_role("button", name="Previous page").click()
        await expect(info).to_contain_text(f"Page {pages} of {pages}")


ALERTS = """(() => {
  window.__alerts = [];
  const seen = new WeakMap();
  const scan = () => {
    for (const el of document.querySelectorAll('[role=alert]')) {
      const text = el.textContent.trim();
      if (text && seen.get(el) !== text) { seen.set(el, text); window.__alerts.push(text); }
    }
  };
  new MutationObserver(scan).observe(document, {subtree: true, childList: true, characterData: true,
                                                attributes: true, attributeFilter: ['role']});
})()"""


async def test_a_refused_answer_is_one_message_beside_the_form(page: Any, ui_server: UiServer) -> None:
    """An answer the API refused as no longer pending (409) was said twice: by the card, then by
    the page (its notice, or the run's banner) or by the card again once it showed the answer.
    Each alert that fires is recorded here as a screen reader would meet it."""
    await page.add_init_script(ALERTS)
    for where in ("inquiries", "execution", "inquiry"):
        top = await start(ui_server, "uit.approve", release=where)
        inquiry = await inquiry_of(ui_server, top)
        path = {"inquiries": "/inquiries", "execution": f"/executions/{top['id']}",
                "inquiry": f"/inquiries/{inquiry['id']}"}[where]
        await page.goto(f"{ui_server.url}{path}")
        card = page.locator(f"[data-inquiry='{inquiry['id']}']")
        await expect(card).to_contain_text(f"Deploy release {where}?")
        # Refused for its fields (422): each problem beside its field, no alert on top.
        await card.get_by_label("copies").fill("9")
        await card.get_by_role("button", name="Respond").click()
        await expect(card.locator("[data-field='copies'] .field-error")).to_contain_text("maximum of 3")
        await expect(card.locator("[data-field='ticket'] .field-error")).to_contain_text("'ticket'")
        assert await page.evaluate("window.__alerts") == [], where
        await card.get_by_label("copies").fill("2")
        await answer_meanwhile(page, ui_server, inquiry, card)
        refusal = f"Refused: inquiry {inquiry['id']} is already answered"
        # What the page shows once it has caught up: the card with the answer, or the notice.
        if where == "inquiries":
            await expect(card).to_have_count(0)
            await expect(page.get_by_test_id("inquiry-notice")).to_contain_text(refusal)
        else:
            await expect(card.locator(".badge")).to_have_text("responded")
            await expect(card.locator(".banner.error")).to_have_text(refusal)
        await asyncio.sleep(2.5)  # a refresh or two more
        fired = await page.evaluate("window.__alerts")
        assert [a for a in fired if refusal in a] == [fired[0]] and len(fired) == 1, (where, fired)
        assert await page.get_by_text(refusal).count() == 1, where


# Every position each task box of the run's graph is drawn at (once shown), and the view's own.
MOVES = """(() => {
  window.__moves = {};
  window.__views = [];
  const scan = () => {
    for (const n of document.querySelectorAll("[data-testid='execution-graph'] .react-flow__node")) {
      if (getComputedStyle(n).visibility === 'hidden' || !n.style.transform) continue;
      const seen = (window.__moves[n.dataset.id] ??= []);
      if (seen[seen.length - 1] !== n.style.transform) seen.push(n.style.transform);
    }
    const view = document.querySelector("[data-testid='execution-graph'] .react-flow__viewport");
    if (view && view.style.transform && window.__views[window.__views.length - 1] !== view.style.transform) {
      window.__views.push(view.style.transform);
    }
  };
  new MutationObserver(scan).observe(document, {subtree: true, childList: true, attributes: true,
                                                attributeFilter: ['style']});
})()"""


@pytest.mark.parametrize("ref", ["uit.tree", "uit.approve"])
async def test_a_runs_graph_is_laid_out_once_and_stays_put(page: Any, ui_server: UiServer, ref: str) -> None:
    """Opened as the run starts and watched while it runs to its end, refreshed every 2 s: each
    task box is drawn at one place, and the view is not moved under the reader."""
    await page.add_init_script(MOVES)
    top = await start(ui_server, ref, **({"release": "graph"} if ref == "uit.approve" else {}))
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator(".react-flow__node").first).to_be_visible()
    if ref == "uit.approve":
        inquiry = await inquiry_of(ui_server, top)
        answered = await ui_server.http.post(f"/inquiries/{inquiry['id']}/respond",
                                             json={"response": {"approved": True, "ticket": "CHG-G"}})
        assert answered.status_code == 200, answered.text
    await expect(page.locator("h1 .badge")).to_have_text(re.compile("completed|failed"), timeout=90_000)
    await asyncio.sleep(4.5)  # two more refreshes
    moves = await page.evaluate("window.__moves")
    assert moves and all(len(at) == 1 for at in moves.values()), moves
    views = await page.evaluate("window.__views")
    assert len(views) <= 2, views  # React Flow's first transform, then its fit to the boxes
