"""Run control in the web UI (spec §9), in headless Chromium against the real API, Temporal and
workers: answering an inquiry, pausing and resuming, re-running from the failed tasks.

Where a test needs the page to hold a stale view (to meet the API's 409), it holds the page's
reads (`Stale`) and changes the state through the API meanwhile, as a second person would."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer, shot

pytestmark = [pytest.mark.slow]


async def start(ui: UiServer, ref: str, **parameters: Any) -> dict:
    response = await ui.http.post("/executions/execute", json={"action_ref": ref, "parameters": parameters})
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def inquiry_of(ui: UiServer, execution: dict) -> dict:
    """The pending inquiry a task of `execution` asked (its key starts with the run's id)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = await ui.http.get("/inquiries", params={"status": "pending", "per_page": 100})
        for item in listed.json()["items"]:
            if (item["execution_key"] or "").startswith(f"{execution['workflow_id']}/"):
                return item
        await asyncio.sleep(0.2)
    raise AssertionError(f"no inquiry from execution {execution['id']}")


class Stale:
    """Keeps a page's view stale on demand: while frozen, its API reads (the live refresh) wait,
    then get the server's answer once thawed; its writes go through at once. Every read passes
    through here (`route.fetch`), so freezing can wait for the reads already on their way."""

    def __init__(self, page: Any) -> None:
        self.page, self.reading, self.open = page, 0, asyncio.Event()
        self.open.set()

    async def __aenter__(self) -> Stale:
        await self.page.route("**/api/v1/**", self._route)
        return self

    async def __aexit__(self, *_: Any) -> None:
        self.open.set()
        await self.page.unroute_all(behavior="wait")  # the reads it held get their answers

    async def _route(self, route: Any) -> None:
        if route.request.method != "GET":
            await route.continue_()
            return
        await self.open.wait()
        self.reading += 1
        try:
            await route.fulfill(response=await route.fetch())
        finally:
            self.reading -= 1

    async def freeze(self) -> None:
        self.open.clear()
        while self.reading:  # a refresh already asked for must not bring the new state
            await asyncio.sleep(0.05)

    def thaw(self) -> None:
        self.open.set()


async def test_answer_an_inquiry_from_the_ui_and_the_workflow_completes(page: Any,
                                                                       ui_server: UiServer) -> None:
    top = await start(ui_server, "uit.approve", release="7")
    inquiry = await inquiry_of(ui_server, top)
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    # The run shows what it waits for: in the graph, in the task table, and the question itself.
    graph = page.get_by_test_id("execution-graph")
    ask = graph.locator("[data-task='ask']")
    await expect(ask.get_by_test_id("node-inquiry")).to_have_text(f"waiting for inquiry #{inquiry['id']}")
    detail = page.get_by_test_id("task-table").get_by_test_id("status-detail")
    await expect(detail).to_contain_text("waiting for an answer to its inquiry")
    await expect(detail.get_by_role("link")).to_have_attribute("href", f"/inquiries/{inquiry['id']}")
    card = page.locator(f"[data-inquiry='{inquiry['id']}']")
    await expect(card).to_contain_text("Deploy release 7?")
    await expect(card.locator(".badge")).to_have_text("pending")
    await expect(page.get_by_test_id("pending-inquiries")).to_be_visible()
    await shot(page, "execution-inquiry")

    await ask.get_by_test_id("node-inquiry").click()
    await expect(page).to_have_url(re.compile(rf"/inquiries/{inquiry['id']}$"))
    await expect(page.get_by_test_id("inquiry-card")).to_contain_text(f"asked by task ask of #{top['id']}")
    form = page.get_by_test_id("response-form")
    # Generated from the response_schema: defaults in, the enum a select, required marked.
    await expect(form.get_by_label("copies")).to_have_value("1")
    await expect(form.get_by_label("region")).to_have_value("eu")
    await expect(form.locator("[data-field='ticket'] .required")).to_be_visible()
    # The API's 422 problems land next to their fields; the inquiry stays pending.
    await form.get_by_label("copies").fill("9")
    await form.get_by_role("button", name="Respond").click()
    await expect(form.locator("[data-field='ticket'] .field-error")).to_contain_text("required")
    await expect(form.locator("[data-field='copies'] .field-error")).to_contain_text("maximum")
    assert (await ui_server.http.get(f"/inquiries/{inquiry['id']}")).json()["data"]["status"] == "pending"

    await form.get_by_label("approved").check()
    await form.get_by_label("ticket").fill("CHG-1")
    await form.get_by_label("copies").fill("2")
    await form.get_by_label("region").select_option("us")
    await form.get_by_role("button", name="Respond").click()
    card = page.get_by_test_id("inquiry-card")
    await expect(card.locator(".badge")).to_have_text("responded")
    await expect(card.get_by_label("response")).to_contain_text('"ticket": "CHG-1"')
    await expect(page.get_by_test_id("response-form")).to_have_count(0)

    # The run wakes up and completes along the approved branch.
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    await expect(graph.locator("[data-task='deploy']")).to_have_attribute("data-status", "completed")
    await expect(graph.locator("[data-task='declined']")).to_have_attribute("data-status", "not_run")
    await expect(graph.locator("[data-task='declined'] .task-node-status")).to_have_text("not run")
    await expect(graph.get_by_test_id("node-inquiry")).to_have_count(0)
    await graph.locator("[data-task='deploy']").click()
    await expect(page.get_by_test_id("task-detail")).to_contain_text("deploying 7 x2 to us (CHG-1)")
    await expect(page.locator(f"[data-inquiry='{inquiry['id']}'] .badge")).to_have_text("responded")


async def answer_meanwhile(page: Any, ui: UiServer, inquiry: dict, card: Any) -> None:
    """Fill `card`'s form, let someone else answer meanwhile (no, CHG-2), then send this answer:
    the API refuses it (409) and the card says so in the API's words."""
    async with Stale(page) as stale:
        await card.get_by_label("approved").check()
        await card.get_by_label("ticket").fill("CHG-3")
        await stale.freeze()  # this page still shows the form
        other = await ui.http.post(f"/inquiries/{inquiry['id']}/respond",
                                   json={"response": {"approved": False, "ticket": "CHG-2"}})
        assert other.status_code == 200, other.text
        await card.get_by_role("button", name="Respond").click()
        await expect(card.locator(".banner.error")).to_have_text(
            f"Refused: inquiry {inquiry['id']} is already answered")


async def test_a_second_answer_is_refused_clearly(page: Any, ui_server: UiServer) -> None:
    top = await start(ui_server, "uit.approve", release="8")
    inquiry = await inquiry_of(ui_server, top)
    await page.goto(f"{ui_server.url}/inquiries")
    card = page.locator(f"[data-inquiry='{inquiry['id']}']")
    await expect(card).to_contain_text("Deploy release 8?")
    await shot(page, "inquiries")
    await answer_meanwhile(page, ui_server, inquiry, card)
    # No longer pending, it leaves the list; what became of this answer stays on the page.
    notice = page.get_by_test_id("inquiry-notice")
    await expect(card).to_have_count(0)
    await expect(notice).to_contain_text(f"Refused: inquiry {inquiry['id']} is already answered")
    # Not an alert again: the card's was (tests/ui/test_rules_and_stability.py counts them).
    await expect(notice).not_to_have_attribute("role", "alert")
    await page.get_by_label("Status").select_option("responded")
    await expect(card.get_by_label("response")).to_contain_text('"ticket": "CHG-2"')
    answered = (await ui_server.http.get(f"/inquiries/{inquiry['id']}")).json()["data"]
    assert answered["response"]["ticket"] == "CHG-2"  # the refused answer changed nothing

    # The same on the run's own page: the refusal stays once the answered card moves down.
    top = await start(ui_server, "uit.approve", release="9")
    inquiry = await inquiry_of(ui_server, top)
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    card = page.locator(f"[data-inquiry='{inquiry['id']}']")
    await expect(card).to_contain_text("Deploy release 9?")
    await answer_meanwhile(page, ui_server, inquiry, card)
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    await expect(card.locator(".banner.error")).to_have_text(
        f"Refused: inquiry {inquiry['id']} is already answered")
    graph = page.get_by_test_id("execution-graph")
    await expect(graph.locator("[data-task='declined']")).to_have_attribute("data-status", "completed")
    await expect(card.get_by_label("response")).to_contain_text('"approved": false')


async def test_pause_and_resume_a_running_workflow(page: Any, ui_server: UiServer, action_tmp: Path) -> None:
    go = action_tmp / "go"  # its first task runs until this file exists
    top = await start(ui_server, "uit.hold", path=str(go))
    await page.goto(f"{ui_server.url}/executions/{top['id']}")
    graph = page.get_by_test_id("execution-graph")
    hold, after = graph.locator("[data-task='hold']"), graph.locator("[data-task='after']")
    badge = page.locator("h1 .badge")
    await expect(hold).to_have_attribute("data-status", "running", timeout=60_000)
    await page.get_by_role("button", name="Pause").click()
    await expect(badge).to_have_text("pausing")
    await expect(page.get_by_test_id("paused-banner")).to_contain_text("Pausing: the running tasks finish")
    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)

    # A stale page meets the API's refusal, in the API's words, then shows the state as it is.
    async with Stale(page) as stale:
        await stale.freeze()
        assert (await ui_server.http.post(f"/executions/{top['id']}/resume")).status_code == 200
        await page.get_by_role("button", name="Resume").click()
        await expect(page.locator(".banner.error")).to_contain_text(
            f"execution {top['id']} is running, not paused")
    await expect(badge).to_have_text("running")
    await page.get_by_role("button", name="Pause").click()
    await expect(badge).to_have_text("pausing")

    # The running task ends; nothing new starts: paused, its next task held.
    go.touch()
    await expect(badge).to_have_text("paused", timeout=60_000)
    await expect(hold).to_have_attribute("data-status", "completed")
    await expect(after).to_have_attribute("data-status", "paused")
    await expect(page.get_by_test_id("task-table").locator("[data-task-group='after']")).to_have_count(0)
    await shot(page, "execution-paused")
    view = (await ui_server.http.get(f"/executions/{top['id']}/workflow")).json()["data"]
    assert [t["workflow_task"]["task_name"] for t in view["tasks"]] == ["hold"]

    await page.get_by_role("button", name="Resume").click()
    await expect(badge).to_have_text("completed", timeout=60_000)
    await expect(after).to_have_attribute("data-status", "completed")
    await expect(page.get_by_role("button", name="Resume")).to_have_count(0)
    await expect(page.get_by_role("button", name="Re-run", exact=True)).to_be_visible()


async def test_rerun_from_failed_with_a_parameter_changed(page: Any, ui_server: UiServer) -> None:
    first = await start(ui_server, "uit.flaky", ok=False)
    await page.goto(f"{ui_server.url}/executions/{first['id']}")
    await expect(page.locator("h1 .badge")).to_have_text("failed", timeout=60_000)
    await expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    await expect(page.get_by_role("button", name="Re-run from failed")).to_be_visible()
    await page.get_by_role("link", name="Edit & re-run…").click()

    # The action's form, prefilled with what the run had: a fresh run by default (the edits
    # reach every task), or, when chosen, from its failed tasks.
    await expect(page).to_have_url(re.compile(rf"/actions/uit\.flaky\?rerun={first['id']}$"))
    form = page.get_by_test_id("run-form")
    await expect(form.get_by_test_id("rerun-note")).to_contain_text(f"Re-runs #{first['id']}")
    ok = form.locator("#param-ok")
    await expect(ok).not_to_be_checked()
    from_failed = form.get_by_label("From the failed tasks")
    await expect(from_failed).not_to_be_checked()
    await from_failed.check()
    await ok.check()
    await shot(page, "rerun-form")
    await form.get_by_role("button", name="Re-run from failed").click()

    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    again = int(page.url.rsplit("/", 1)[1])
    assert again != first["id"]
    await expect(page.get_by_test_id("rerun-of")).to_contain_text(
        f"re-run of #{first['id']} from its failed tasks (1 kept)")
    await expect(page.locator("h1 .badge")).to_have_text("completed", timeout=60_000)
    graph = page.get_by_test_id("execution-graph")
    prepare = graph.locator("[data-task='prepare']")
    await expect(prepare).to_have_attribute("data-status", "completed")
    await expect(prepare.locator(".chip.kept")).to_have_text("kept")
    for task in ("check", "finish"):
        await expect(graph.locator(f"[data-task='{task}']")).to_have_attribute("data-status", "completed")
    await expect(page.get_by_label("variables")).to_contain_text('"prepared": "prepared"')
    await shot(page, "execution-rerun")
    view = (await ui_server.http.get(f"/executions/{again}/workflow")).json()["data"]
    assert [t["workflow_task"]["task_name"] for t in view["tasks"]] == ["check", "finish"]
    (kept,) = view["kept_tasks"]
    assert kept["parent"] == first["id"]  # the original's record, not run again

    # The kept task links to the original's record of it.
    await page.get_by_test_id("task-table").get_by_role("link", name=f"kept from #{first['id']}").click()
    await expect(page).to_have_url(re.compile(rf"/executions/{first['id']}\?task={kept['id']}$"))
    await expect(page.get_by_test_id("task-detail")).to_contain_text("prepared")
    await expect(page.locator("h1 .badge")).to_have_text("failed")  # the original's page, not a stale one

    # Re-run as it was, from the original's page: a new run with the same parameters.
    await page.get_by_role("button", name="Re-run", exact=True).click()
    await expect(page.get_by_test_id("rerun-of")).to_contain_text(f"re-run of #{first['id']}")
    await expect(page.locator("h1 .badge")).to_have_text("failed", timeout=60_000)
    await expect(page.get_by_label("parameters")).to_contain_text('"ok": false')
