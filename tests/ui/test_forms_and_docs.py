"""The action form's Edit & re-run, the builder's typed inputs, an action's facts and the API docs,
in headless Chromium against the real API, Temporal and workers."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from playwright.async_api import expect

from tests.ui.conftest import UiServer
from tests.ui.test_run_control import start

pytestmark = [pytest.mark.slow]


async def test_the_api_docs_list_the_operations_without_internet(page: Any, ui_server: UiServer) -> None:
    """FastAPI's /docs loaded Swagger UI from a CDN: without internet the page stayed blank."""
    outside: list[str] = []

    async def local_only(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.route("**/*", local_only)
    await page.goto(f"{ui_server.url}/docs")
    operation = page.locator(".opblock[id*='execute']").first
    await expect(operation).to_be_visible()
    await expect(operation).to_contain_text("/api/v1/executions/execute")
    assert await page.locator(".opblock").count() > 20
    assert outside == [], outside
    await page.unroute_all(behavior="ignoreErrors")


async def ended(ui: UiServer, execution_id: int) -> dict:
    """The record once it has ended (the API's long poll)."""
    for _ in range(30):
        record = (await ui.http.get(f"/executions/{execution_id}", params={"wait": 20})).json()["data"]
        if record["status"] not in ("requested", "scheduled", "running"):
            return record
    raise AssertionError(f"execution {execution_id} did not end")


async def test_edit_and_rerun_runs_with_the_fields_emptied(page: Any, ui_server: UiServer) -> None:
    """Emptied fields were left out of the re-run's request, and the API kept the old run's values
    for them: the re-run ran with fail_on=db although the form showed it empty."""
    first = await start(ui_server, "uit.params", fail_on="db", note="old note", level="debug", times=3)
    await ended(ui_server, first["id"])
    await page.goto(f"{ui_server.url}/actions/uit.params?rerun={first['id']}")
    form = page.get_by_test_id("run-form")
    await expect(form.get_by_label("fail_on")).to_have_value("db")
    await form.get_by_label("fail_on").select_option("")  # the enum's "—"
    for name in ("note", "level", "times"):
        await form.get_by_label(name).fill("")
    # What an emptied field stands for: its default, which the run gets.
    assert await form.get_by_label("level").get_attribute("placeholder") == "(default: info)"
    await form.get_by_role("button", name="Re-run").click()
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    again = await ended(ui_server, int(page.url.rsplit("/", 1)[1]))
    assert again["rerun_of"] == first["id"]
    assert again["result"]["data"] == {"level": "info", "times": 1}, again["result"]

    # A field changed and the rest left as they were: the rest keep the old run's values.
    await page.goto(f"{ui_server.url}/actions/uit.params?rerun={first['id']}")
    await form.get_by_label("times").fill("2")
    await form.get_by_role("button", name="Re-run").click()
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    third = await ended(ui_server, int(page.url.rsplit("/", 1)[1]))
    assert third["result"]["data"] == {"fail_on": "db", "note": "old note", "level": "debug", "times": 2}


async def test_a_workflow_action_shows_no_timeout_of_its_own(page: Any, ui_server: UiServer) -> None:
    """A workflow action's page read "Timeout 600 s", a limit that never applies to a workflow."""
    await page.goto(f"{ui_server.url}/actions/uit.flaky")
    facts = page.locator("dl.facts")
    await expect(facts).to_contain_text("workflow (workflows/flaky.workflow.yaml)")
    await expect(facts).to_contain_text("Timeout")
    await expect(facts).not_to_contain_text("600 s")
    await expect(facts).to_contain_text("its tasks' own timeouts")
    await page.goto(f"{ui_server.url}/actions/uit.check")  # a script action's applies
    await expect(facts).to_contain_text("600 s")


TYPED_INPUTS = """version: "1.0"
tasks:
  - name: form
    action: uit.form
    input:
      message: hi
      mode: "{{ parameters.mode }}"
      times: "{{ parameters.times }}"
      shout: "{{ parameters.loud }}"
    timeout: "{{ parameters.limit }}"
    delay: "{{ parameters.pause }}"
"""


async def test_the_builder_shows_and_takes_expressions_in_typed_inputs(page: Any, ui_server: UiServer) -> None:
    """An enum input was a bare select: `{{ parameters.mode }}` showed as "—" and no expression
    could be entered; a number field (timeout, delay) showed an expression as empty."""
    await page.goto(f"{ui_server.url}/workflows/new")
    await page.get_by_label("Search actions").fill("uit.form")
    await page.locator("[data-action='uit.form']").click()
    await page.get_by_role("tab", name="YAML").click()
    await page.get_by_test_id("yaml-editor").fill(TYPED_INPUTS)
    await page.get_by_role("tab", name="Graph").click()
    await page.locator("[data-task='form']").click()
    inspector = page.get_by_test_id("task-inspector")
    await expect(inspector.locator("#input-mode option:checked")).to_have_text("expression…")
    await expect(inspector.get_by_label("mode expression")).to_have_value("{{ parameters.mode }}")
    for field, text in (("#input-times", "{{ parameters.times }}"), ("#input-shout", "{{ parameters.loud }}")):
        await expect(inspector.locator(field)).to_have_value(text)
    await expect(inspector.get_by_label("timeout (s)", exact=True)).to_have_value("{{ parameters.limit }}")
    await expect(inspector.get_by_label("delay (s)", exact=True)).to_have_value("{{ parameters.pause }}")

    # An enum value chosen, then an expression typed: each lands in the YAML as given.
    await inspector.locator("#input-mode").select_option("loud")
    await expect(inspector.get_by_label("mode expression")).to_have_count(0)
    assert (await yaml_task(page))["input"]["mode"] == "loud"
    await page.locator("[data-task='form']").click()
    await inspector.locator("#input-mode").select_option(label="expression…")
    await inspector.get_by_label("mode expression").fill("{{ 'lo' ~ 'ud' }}")
    await inspector.get_by_label("timeout (s)", exact=True).fill("30")
    task = await yaml_task(page)
    assert task["input"]["mode"] == "{{ 'lo' ~ 'ud' }}" and task["timeout"] == 30, task


async def yaml_task(page: Any) -> dict:
    """The first task as the builder's YAML view has it (the view is left on the graph)."""
    await page.get_by_role("tab", name="YAML").click()
    doc = yaml.safe_load(await page.get_by_test_id("yaml-editor").input_value())
    await page.get_by_role("tab", name="Graph").click()
    return doc["tasks"][0]
