"""Keyboard, screen-reader and small-screen use of the web UI, in headless Chromium against the
real API, Temporal and workers: where focus goes after an action and a page change, what is
announced, the token dialog's focus trap, the graph from the keyboard, contrast, headings, and
the layout at 360 px, what each live region says and how often."""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer
from tests.ui.test_forms_and_docs import ended
from tests.ui.test_run_control import inquiry_of, start

pytestmark = [pytest.mark.slow]

# WCAG 2.x contrast of an element's text with the first opaque background behind it.
CONTRAST_JS = """(el) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  let back = [255, 255, 255];
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] > 0) { back = c.slice(0, 3); break; }
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(back)].sort((x, y) => y - x);
  return Math.round((a + 0.05) / (b + 0.05) * 100) / 100;
}"""

STATUSES = ["requested", "scheduling", "scheduled", "running", "delayed", "retrying", "pausing", "paused", "pending",
            "completed", "failed", "canceling", "cancelled", "timeout", "abandoned"]


async def focused(page: Any) -> str:
    """The focused element, described: tag, text and testid (for assertion messages)."""
    return await page.evaluate("""() => { const e = document.activeElement;
        return e ? `${e.tagName.toLowerCase()}:${(e.textContent || '').trim().slice(0, 40)}` : 'none'; }""")


async def test_focus_stays_on_run_control_and_changes_are_announced(page: Any, ui_server: UiServer,
                                                                   action_tmp: Path) -> None:
    """Pause, Resume, backing out of the cancel and cancelling dropped focus to <body>, and the
    state they brought was not announced."""
    top = await start(ui_server, "uit.hold", path=str(action_tmp / "go"))
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    await expect(page.locator("[data-task='hold']")).to_have_attribute("data-status", "running", timeout=60_000)
    announcer = page.get_by_test_id("announcer")

    await page.get_by_role("button", name="Pause").focus()
    await page.keyboard.press("Enter")
    resume = page.get_by_role("button", name="Resume")
    await expect(resume).to_be_focused()  # the same button, now Resume
    await expect(announcer).to_have_text(re.compile(rf"Execution {top['id']} is now paus(ing|ed)\."))

    cancel = page.get_by_role("button", name="Cancel execution")
    for back_out in ("Keep it running", "Escape"):
        await cancel.focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("button", name="Confirm cancel")).to_be_focused()
        if back_out == "Escape":
            await page.keyboard.press("Escape")
        else:
            await page.keyboard.press("Tab")
            await expect(page.get_by_role("button", name=back_out)).to_be_focused()
            await page.keyboard.press("Enter")
        await expect(cancel).to_be_focused(), back_out

    await resume.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Pause")).to_be_focused()
    await expect(announcer).to_have_text(f"Execution {top['id']} resumed: it is running.")

    await cancel.focus()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Enter")  # Confirm cancel
    await expect(page.locator("h1 .badge")).to_have_text("canceling")
    await expect(page.locator("main h1")).to_be_focused()  # the cancel button is gone
    await expect(announcer).to_have_text(f"Execution {top['id']} is now canceling.")
    (action_tmp / "go").touch()  # its running task ends
    await expect(page.locator("h1 .badge")).to_have_text("cancelled", timeout=60_000)
    await expect(announcer).to_have_text(f"Execution {top['id']} is now cancelled.")


async def test_answering_an_inquiry_keeps_focus_and_says_so(page: Any, ui_server: UiServer) -> None:
    top = await start(ui_server, "uit.approve", release="a11y")
    inquiry = await inquiry_of(ui_server, top)
    await page.goto(f"{ui_server.url}/inquiries")
    card = page.locator(f"[data-inquiry='{inquiry['id']}']")
    await card.get_by_label("approved").check()
    await card.get_by_label("ticket").fill("CHG-A11Y")
    await card.get_by_role("button", name="Respond").focus()
    await page.keyboard.press("Enter")
    # Answered, the card leaves the pending list; focus goes to the notice that stands for it.
    await expect(card).to_have_count(0)
    notice = page.locator(f"#inquiry-{inquiry['id']}-notice")
    await expect(notice).to_be_focused()
    await expect(page.get_by_test_id("announcer")).to_have_text(
        f"Answered inquiry #{inquiry['id']}: it is now responded.")


async def test_each_page_has_its_title_and_a_page_change_focuses_its_heading(page: Any,
                                                                            ui_server: UiServer) -> None:
    run = await start(ui_server, "uit.tree")
    await page.goto(f"{ui_server.url}/executions")
    await expect(page).to_have_title("Executions — Attune")
    for link, title in (("Packs", "Packs — Attune"), ("Actions", "Actions — Attune"),
                        ("New workflow", "New workflow — Attune"), ("Executions", "Executions — Attune")):
        await page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).focus()
        await page.keyboard.press("Enter")
        await expect(page).to_have_title(title)
        if link != "Actions":  # the catalog puts focus in its search field itself
            await expect(page.locator("main h1")).to_be_focused()

    # A link inside the page: the page it opens has its heading focused, and its title names it.
    await page.locator(f"[data-id='{run['id']}'] td.num a").focus()
    await page.keyboard.press("Enter")
    await expect(page).to_have_title(f"Execution {run['id']} · uit.tree — Attune")
    await expect(page.locator("main h1")).to_be_focused()
    await page.goto(f"{ui_server.url}/actions/uit.tree")
    await expect(page).to_have_title("Action uit.tree — Attune")
    await page.goto(f"{ui_server.url}/actions/uit.tree?rerun={run['id']}")  # Edit & re-run: not the Run page
    await expect(page.get_by_test_id("rerun-note")).to_be_visible()
    await expect(page).to_have_title(f"Re-run {run['id']} · uit.tree — Attune")
    await page.goto(f"{ui_server.url}/workflows/uit.tree/edit")
    await expect(page).to_have_title("Edit uit.tree — Attune")
    await page.goto(f"{ui_server.url}/nowhere")
    await expect(page).to_have_title("Not found — Attune")


async def page_width(page: Any) -> int:
    return await page.evaluate("() => document.documentElement.scrollWidth")


async def test_360_px_wide_nothing_scrolls_sideways_but_the_tables_in_their_cards(page: Any,
                                                                                 ui_server: UiServer) -> None:
    """At 360 px the sidebar kept a 150 px column, tables overflowed their cards and every list
    page scrolled sideways; ids wrapped mid-number; the builder crushed its fields."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    asking = await start(ui_server, "uit.approve", release="narrow")
    inquiry = await inquiry_of(ui_server, asking)
    await page.set_viewport_size({"width": 360, "height": 640})
    for path in ("/executions?all=1", f"/executions/{run['id']}", "/actions", "/packs",
                 "/inquiries", f"/inquiries/{inquiry['id']}", "/workflows/uit.tree/edit", "/workflows/new"):
        await page.goto(f"{ui_server.url}{path}")
        await expect(page.locator("main h1")).to_be_visible()
        await page.wait_for_timeout(300)  # lists and graphs fill in
        assert await page_width(page) <= 360, path
        # The sidebar is a bar above the page, not a column beside it.
        nav = await page.get_by_role("navigation", name="Main").bounding_box()
        main = await page.locator("main").bounding_box()
        assert nav["width"] > 300 and main["x"] == 0 and main["y"] >= nav["height"], (path, nav, main)
        # Every id is on one line; every field lies inside its card.
        broken = await page.evaluate("""() => [...document.querySelectorAll('.id, td.num a')]
            .filter((e) => new Set([...e.getClientRects()].map((r) => Math.round(r.top))).size > 1).map((e) => e.textContent)""")
        assert not broken, (path, broken)
        outside = await page.evaluate("""() => [...document.querySelectorAll('.card input, .card select, .card textarea')]
            .filter((e) => e.getBoundingClientRect().right > e.closest('.card').getBoundingClientRect().right + 0.5)
            .map((e) => e.id || e.name)""")
        assert not outside, (path, outside)

    # The task table scrolls inside its card.
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    table = page.get_by_test_id("task-table")
    await expect(table).to_be_visible()
    sizes = await table.evaluate("""(t) => { const box = t.parentElement; return {overflow: getComputedStyle(box).overflowX,
        table: t.getBoundingClientRect().right, card: t.closest('.card').getBoundingClientRect().right}; }""")
    assert sizes["overflow"] == "auto", sizes

    # The builder's Pack and Name fields stack, each the card's width.
    await page.goto(f"{ui_server.url}/workflows/new")
    for label in ("Pack", "Name"):
        box = await page.get_by_label(label, exact=True).bounding_box()
        assert box["width"] > 280, (label, box)

    # 768 px and up: the sidebar stays a column.
    await page.set_viewport_size({"width": 768, "height": 900})
    await page.goto(f"{ui_server.url}/packs")
    nav = await page.get_by_role("navigation", name="Main").bounding_box()
    assert nav["width"] == 150 and nav["x"] == 0, nav
    assert await page_width(page) <= 768


async def test_the_token_dialog_keeps_tab_inside(browser: Any, ui_server: UiServer) -> None:
    """Tab went on from the dialog to the sidebar's links behind the modal overlay."""
    tab = await browser.new_page()  # no token in this tab
    try:
        await tab.goto(f"{ui_server.url}/executions")
        dialog = tab.get_by_role("dialog")
        await expect(dialog).to_contain_text("API token required")
        await expect(tab.get_by_label("Token", exact=True)).to_be_focused()
        await tab.get_by_label("Token", exact=True).fill("something")  # Continue is enabled now
        for key in ["Tab"] * 5 + ["Shift+Tab"] * 5:
            await tab.keyboard.press(key)
            inside = await tab.evaluate("() => !!document.activeElement.closest('[role=dialog]')")
            assert inside, (key, await focused(tab))
    finally:
        await tab.close()


async def test_the_graph_from_the_keyboard(page: Any, ui_server: UiServer) -> None:
    """Enter on a task box did nothing (a click opened it); an edge took focus, showed no sign
    of it and kept its condition cut."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    node = page.get_by_test_id("execution-graph").locator(".react-flow__node[data-id='handled']")
    await expect(node).to_have_attribute("aria-label", "Task handled: completed")
    # The graph may draw its boxes again once just after the page loads (its layout settling),
    # taking focus from a box focused that early: focus it again if Enter met no box.
    for _ in range(3):
        await node.focus()
        await page.keyboard.press("Enter")
        try:
            await expect(page).to_have_url(re.compile(r"\?task=\d+$"), timeout=2000)
            break
        except AssertionError:
            continue
    await expect(page).to_have_url(re.compile(r"\?task=\d+$"))
    await expect(page.get_by_role("heading", name=re.compile(r"^Task handled · #\d+$"))).to_be_visible()
    await page.get_by_test_id("execution-graph").locator(".react-flow__node[data-id='each']").focus()
    await page.keyboard.press("Space")
    await expect(page.get_by_role("heading", name=re.compile(r"^Task each · #\d+$"))).to_be_visible()

    labelled = await start(ui_server, "uit.labels")
    await ended(ui_server, labelled["id"])
    await page.goto(f"{ui_server.url}/executions/{labelled['id']}")
    graph = page.get_by_test_id("execution-graph")
    edge = graph.locator(".react-flow__edge", has=page.get_by_test_id("edge-full-label"))
    await expect(edge).to_have_count(1)
    whole = edge.get_by_test_id("edge-full-label")
    await expect(whole).to_be_hidden()
    await expect(edge).to_have_attribute("aria-label", re.compile(r"^From check to done: .*'a long condition' != 'that is cut'"))
    await page.keyboard.press("Tab")  # keyboard focus: :focus-visible
    await edge.focus()
    await expect(whole).to_be_visible()
    await expect(whole).to_contain_text("'a long condition' != 'that is cut'")
    stroke = await edge.locator(".react-flow__edge-path").evaluate("(p) => getComputedStyle(p).stroke")
    assert stroke == "rgb(59, 130, 246)", stroke  # --focus
    assert await edge.locator(".react-flow__edge-path").evaluate("(p) => getComputedStyle(p).strokeWidth") == "3.5px"


async def test_text_contrast_reaches_aa(page: Any, ui_server: UiServer) -> None:
    """Status badges (white on pending 2.39 … completed 3.49), muted text 3.76, table headers 3.6,
    "● live" 3.25 and a pending task box's status 2.39 were below 4.5:1."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    await page.goto(f"{ui_server.url}/executions?all=1")
    await expect(page.get_by_test_id("executions-table")).to_be_visible()
    samples = "".join(f"<span class='badge status-{s}'>{s}</span><span class='badge inquiry-{s}'>{s}</span>"
                      for s in STATUSES)
    samples += "".join(f"<div class='task-node status-{s}'><span class='task-node-status'>{s}</span>"
                       "<div class='task-node-action'>core.echo</div></div>" for s in STATUSES)
    await page.locator("main .page").evaluate("(p, html) => p.insertAdjacentHTML('beforeend', `<div id=samples>${html}</div>`)",
                                              samples)
    low = {}
    for selector in ("#samples .badge", "#samples .task-node-status", "#samples .task-node-action", ".live",
                     "th", "td.muted", ".pager-info", "a.ref", "td.num a", ".sidebar a"):
        items = page.locator(selector)
        assert await items.count(), selector
        for i in range(await items.count()):
            ratio = await items.nth(i).evaluate(CONTRAST_JS)
            if ratio < 4.5:
                low[f"{selector}[{i}] {await items.nth(i).get_attribute('class')}"] = ratio
    assert not low, low


async def test_task_rows_say_which_is_selected_and_nested_tables_name_their_columns(page: Any,
                                                                                   ui_server: UiServer) -> None:
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    table = page.get_by_test_id("task-table")
    handled = table.locator("[data-task-group='handled'] + tr.attempt-row button.link")
    await handled.click()
    await expect(handled).to_have_attribute("aria-current", "true")
    await expect(table.locator("[aria-current]")).to_have_count(1)
    await table.get_by_role("button", name=re.compile(r"^Expand nested workflow")).click()
    nested = table.locator(".nested-row table")
    await expect(nested.get_by_role("columnheader")).to_have_text(
        ["Task", "Attempt / item", "Status", "Action", "Started", "Duration"])
    # Named, not shown: the header row takes no room.
    height = await nested.locator("thead").evaluate("(h) => h.getBoundingClientRect().height")
    assert height <= 1, height


async def heading_levels(page: Any) -> list[tuple[int, str]]:
    return await page.evaluate("""() => [...document.querySelectorAll('main h1, main h2, main h3, main h4, main h5, main h6')]
        .map((h) => [Number(h.tagName[1]), h.textContent.trim().slice(0, 30)])""")


def skips(levels: list[tuple[int, str]]) -> list[tuple[tuple[int, str], tuple[int, str]]]:
    return [(a, b) for a, b in itertools.pairwise(levels) if b[0] > a[0] + 1]


async def test_headings_on_the_execution_page_skip_no_level(page: Any, ui_server: UiServer) -> None:
    """h2 "Result" was followed by h4 "stdout" and "Value"."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    view = (await ui_server.http.get(f"/executions/{run['id']}/workflow")).json()["data"]
    echo = next(t for t in view["tasks"] if t["workflow_task"]["task_name"] == "handled")
    # A task's own page (a script: stdout under Result), and the run with that task open.
    for path, shown in ((f"/executions/{echo['id']}", "stdout"), (f"/executions/{run['id']}?task={echo['id']}", "Output")):
        await page.goto(f"{ui_server.url}{path}")
        await expect(page.get_by_role("heading", name=shown, exact=True)).to_be_visible()
        levels = await heading_levels(page)
        assert levels[0][0] == 1 and not skips(levels), levels

    asking = await start(ui_server, "uit.approve", release="levels")
    await inquiry_of(ui_server, asking)
    await page.goto(f"{ui_server.url}/executions/{asking['id']}")
    await expect(page.get_by_test_id("inquiry-card")).to_be_visible()
    levels = await heading_levels(page)
    assert not skips(levels), levels


async def test_the_inquiries_link_reads_how_many_are_pending(page: Any, ui_server: UiServer) -> None:
    """Its name was "Inquiries 2" (an aria-label on a role-less span is not read)."""
    asking = await start(ui_server, "uit.approve", release="count")
    await inquiry_of(ui_server, asking)
    await page.goto(f"{ui_server.url}/packs")
    nav = page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name=re.compile(r"^Inquiries, \d+ pending$"))).to_be_visible()
    await expect(page.get_by_test_id("pending-inquiries")).to_be_visible()


# Every text a live region (aria-live, role=status/alert/log) comes to hold, in order: what a
# screen reader would announce. Set before the page loads (page.add_init_script).
RECORD_LIVE_JS = """(() => {
  window.__said = [];
  const LIVE = '[aria-live]:not([aria-live="off"]), [role=status], [role=alert], [role=log]';
  new MutationObserver((mutations) => {
    const regions = new Set();
    for (const m of mutations) {
      const at = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      if (at && at.closest(LIVE)) regions.add(at.closest(LIVE));
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches(LIVE)) regions.add(n);
        n.querySelectorAll(LIVE).forEach((r) => regions.add(r));
      }
    }
    for (const r of regions) { const text = r.textContent.trim(); if (text) window.__said.push(text); }
  }).observe(document, { subtree: true, childList: true, characterData: true });
})()"""


async def said(page: Any) -> list[str]:
    """What the live regions said since the last call."""
    return await page.evaluate("() => window.__said.splice(0)")


async def test_a_nested_task_table_scrolls_in_its_box_not_the_page(page: Any, ui_server: UiServer) -> None:
    """Expanding a nested workflow at 360 px made the page scroll sideways (360 -> 536 px): the
    nested table's column names (.sr-only, absolutely positioned) escaped the scroll box."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    for width in (360, 414):
        await page.set_viewport_size({"width": width, "height": 700})
        await page.goto(f"{ui_server.url}/executions/{run['id']}")
        table = page.get_by_test_id("task-table")
        await table.get_by_role("button", name=re.compile(r"^Expand nested workflow")).click()
        await expect(table.locator(".nested-row table")).to_be_visible()
        assert await page_width(page) <= width, width


async def test_run_controls_and_forms_keep_focus_while_busy(page: Any, ui_server: UiServer) -> None:
    """Saving a workflow from the keyboard, and withdrawing an inquiry (while it went out, and
    when it was refused), dropped focus to <body>: the focused button was disabled."""
    release = asyncio.Event()

    async def hold(route: Any) -> None:  # a write held, to look at focus meanwhile
        if route.request.method != "GET":
            await release.wait()
        await route.continue_()

    await page.goto(f"{ui_server.url}/workflows/uit.labels/edit")
    save = page.get_by_test_id("save")
    await expect(page.get_by_test_id("save-state")).to_have_text("no changes")
    await page.route("**/api/v1/workflows/uit.labels", hold)
    await save.focus()
    await page.keyboard.press("Enter")
    await expect(save).to_have_text("Saving…")
    await expect(save).to_be_focused()
    release.set()
    await expect(page.get_by_test_id("save-state")).to_have_text(re.compile(r"^saved "))
    await expect(save).to_be_focused()
    await page.unroute_all(behavior="wait")

    top = await start(ui_server, "uit.approve", release="withdrawn")
    inquiry = await inquiry_of(ui_server, top)
    await page.goto(f"{ui_server.url}/inquiries/{inquiry['id']}")
    card = page.locator(f"[data-inquiry='{inquiry['id']}']")
    release.clear()
    await page.route(f"**/api/v1/inquiries/{inquiry['id']}/cancel", hold)
    withdraw = card.get_by_role("button", name="Withdraw", exact=True)
    await withdraw.focus()
    await page.keyboard.press("Enter")
    await expect(card.get_by_role("button", name="Confirm withdraw")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(withdraw).to_be_focused()  # while the withdrawal goes out
    await expect(withdraw).to_have_attribute("aria-disabled", "true")
    # Answered meanwhile: the withdrawal is refused (409), the form goes; focus on the card's title.
    answered = await ui_server.http.post(f"/inquiries/{inquiry['id']}/respond",
                                         json={"response": {"approved": False, "ticket": "CHG-W"}})
    assert answered.status_code == 200, answered.text
    release.set()
    await expect(card.locator(".banner.error")).to_contain_text("Refused")
    await expect(page.locator(f"#inquiry-{inquiry['id']}-title")).to_be_focused()
    await page.unroute_all(behavior="wait")


def lab(rgb: list[float]) -> tuple[float, float, float]:
    """CIE L*a*b* of an sRGB colour (D65)."""
    lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    x, y, z = (sum(k * c for k, c in zip(row, lin, strict=True)) / n for row, n in (
        ((0.4124, 0.3576, 0.1805), 0.95047), ((0.2126, 0.7152, 0.0722), 1.0), ((0.0193, 0.1192, 0.9505), 1.08883)))
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


async def test_quiet_statuses_stay_apart_and_faded_graph_boxes_stay_readable(page: Any, ui_server: UiServer) -> None:
    """pending, queued, cancelled and abandoned were four near-identical greys (ΔE 1.3 to 8);
    "not run" and kept task boxes were faded with opacity (text 2.35:1 to 2.88:1); the focus ring
    on a task box was translucent (1.7:1); a kept box's name did not say kept, and no box said
    that Enter opens it."""
    await page.goto(f"{ui_server.url}/executions?all=1")
    await expect(page.get_by_test_id("executions-table")).to_be_visible()
    quiet = ("pending", "scheduled", "cancelled", "abandoned")
    samples = "".join(f"<span class='badge status-{s}'>{s}</span>" for s in quiet)
    await page.locator("main .page").evaluate("(p, html) => p.insertAdjacentHTML('beforeend', `<div id=samples>${html}</div>`)",
                                              samples)
    colours = {s: await page.locator(f"#samples .status-{s}").evaluate(
        "(b) => (getComputedStyle(b).backgroundColor.match(/[\\d.]+/g) || []).map(Number)") for s in quiet}
    close = {(a, b): round(dist, 1) for a, b in itertools.combinations(quiet, 2)
             if (dist := sum((p - q) ** 2 for p, q in zip(lab(colours[a]), lab(colours[b]), strict=True)) ** 0.5) < 15}
    assert not close, close  # ΔE76 under 15: hard to tell apart

    first = await start(ui_server, "uit.flaky", ok=False)  # check fails: finish is not run
    await ended(ui_server, first["id"])
    again = (await ui_server.http.post(f"/executions/{first['id']}/rerun",
                                       json={"parameters": {"ok": True}, "from_failed": True})).json()["data"]
    await ended(ui_server, again["id"])
    low = {}
    for run, task in ((first, "finish"), (again, "prepare")):
        await page.goto(f"{ui_server.url}/executions/{run['id']}")
        node = page.get_by_test_id("execution-graph").locator(f".react-flow__node[data-id='{task}']")
        box = node.locator(".task-node")
        await expect(box).to_have_attribute("data-status", "not_run" if task == "finish" else "completed")
        for part in (".task-node-name", ".task-node-action", ".task-node-status"):
            ratio = await box.locator(part).evaluate(
                "(el) => { let o = 1; for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);"
                f" return ({CONTRAST_JS})(el) * o; }}")  # opacity fades the text too (roughly)
            if ratio < 4.5:
                low[f"{task} {part}"] = ratio
        described = await node.evaluate("(n) => document.getElementById(n.getAttribute('aria-describedby'))?.textContent")
        assert described == "Press Enter to open this task.", described
        # Keyboard focus: a solid ring, 3:1 against white and the box itself.
        await page.keyboard.press("Tab")
        await node.focus()
        ring = await box.evaluate("""(b) => { const s = getComputedStyle(b);
            return {style: s.outlineStyle, colour: s.outlineColor, width: s.outlineWidth, back: s.backgroundColor}; }""")
        assert ring["style"] == "solid" and ring["width"] == "3px", ring
        for back in ("rgb(255, 255, 255)", ring["back"]):
            ratio = await page.evaluate(f"""([c, b]) => {{ const el = document.createElement('span');
                el.style.color = c; el.style.backgroundColor = b; document.body.append(el);
                const r = ({CONTRAST_JS})(el); el.remove(); return r; }}""", [ring["colour"], back])
            assert ratio >= 3, (task, ring, back, ratio)
    await expect(node).to_have_attribute("aria-label", "Task prepare: completed, kept")
    assert not low, low


async def test_each_change_is_announced_once(page: Any, ui_server: UiServer, action_tmp: Path) -> None:
    """Pausing was said twice (the paused banner, a live region, and the announcer); a field's
    problem was an alert on every keystroke (21 while typing a JSON object); a refused run said
    its field problem and its banner at once."""
    await page.add_init_script(RECORD_LIVE_JS)
    top = await start(ui_server, "uit.hold", path=str(action_tmp / "go"))
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    await expect(page.locator("[data-task='hold']")).to_have_attribute("data-status", "running", timeout=60_000)
    await said(page)
    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("h1 .badge")).to_have_text("pausing")
    (action_tmp / "go").touch()
    await expect(page.locator("h1 .badge")).to_have_text("paused", timeout=60_000)
    await expect(page.get_by_test_id("paused-banner")).to_have_text("Paused: nothing runs until it is resumed.")
    await page.wait_for_timeout(300)
    assert [t for t in await said(page) if "aus" in t] == [
        f"Execution {top['id']} is now pausing.", f"Execution {top['id']} is now paused."]
    assert (await ui_server.http.post(f"/executions/{top['id']}/cancel")).status_code == 200

    await page.goto(f"{ui_server.url}/actions/uit.form")
    form = page.get_by_test_id("run-form")
    names = form.locator("#param-names")
    await names.fill("")
    await said(page)
    await names.press_sequentially('{"a": [1, 2')  # not an array, nor JSON, at every keystroke
    await expect(form.locator("[data-field='names'] .field-error")).to_be_visible()
    await page.wait_for_timeout(200)
    assert await said(page) == []
    await expect(names).to_have_attribute("aria-invalid", "true")
    await expect(names).to_have_attribute("aria-describedby", "param-names-type param-names-help")
    await page.keyboard.press("Tab")  # left: said once, politely
    await expect(page.get_by_test_id("announcer")).to_have_text(re.compile(r"^names: invalid JSON"))
    await page.wait_for_timeout(200)
    assert len(await said(page)) == 1

    # Refused by the API (times > 5): focus on the field, whose description says why; no alert besides.
    await names.fill('["ada"]')
    await form.locator("#param-message").fill("hi")
    await form.locator("#param-times").fill("9")
    await said(page)
    await form.get_by_role("button", name="Run").click()
    times = form.locator("#param-times")
    await expect(times).to_be_focused()
    await expect(form.locator("#param-times-help")).to_contain_text("9")
    await expect(form.locator(".banner.error")).to_be_visible()
    await page.wait_for_timeout(300)
    assert await said(page) == []


async def test_task_refs_and_times_break_between_words_at_768_px(page: Any, ui_server: UiServer) -> None:
    """At 768 px the task table cut refs and times mid-token ("core.a|sk")."""
    run = await start(ui_server, "uit.tree")
    await ended(ui_server, run["id"])
    await page.set_viewport_size({"width": 768, "height": 900})
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    table = page.get_by_test_id("task-table")
    await expect(table.locator("a.ref").first).to_be_visible()
    cut = await table.evaluate("""(t) => [...t.querySelectorAll('td')].flatMap((cell) => {
        const out = [], walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          for (const m of n.data.matchAll(/\\S+/g)) {
            const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
            if (new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1) out.push(m[0]);
          }
        }
        return out; })""")
    assert not cut, cut
