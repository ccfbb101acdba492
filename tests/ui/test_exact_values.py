"""What a run was given, returned and said, shown and re-run as it was: numbers as the API's JSON
has them (2**63, 10**30, -0.0), and text from an action or a person with its control and
bidirectional-text characters shown as marks, not applied. In headless Chromium against the real
API, Temporal and workers, with a pack of its own written to a temporary directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer, register_pack
from tests.ui.test_forms_and_docs import ended
from tests.ui.test_run_control import inquiry_of, start

pytestmark = [pytest.mark.slow]

BIG = 2**63  # a float reads it as 9223372036854776000
HUGE = 10**30  # a float shows it as 1e+30
RLO, PDF = "\u202e", "\u202c"
PACK = {
    "pack.yaml": 'ref: uix\nlabel: Exact values\nversion: "0.1.0"\n',
    "actions/echo.yaml": """\
        ref: uix.echo
        description: Answers with the parameters it got, as they came
        runner_type: shell
        entry_point: echo.sh
        parameter_format: json
        output_format: json
        parameters:
          a: {type: array}
          o: {type: object}
          n: {type: integer}
          f: {type: number}
          b: {type: boolean}
          s: {type: string}
        """,
    "actions/echo.sh": "#!/bin/sh\ncat\n",
    # A task whose error (its last stderr line) reorders text, sets the window title and rings.
    "actions/trojan.yaml": "ref: uix.trojan\nrunner_type: shell\nentry_point: trojan.sh\n",
    "actions/trojan.sh": "#!/bin/sh\n"
                         r"printf 'access \342\200\256evil\342\200\254 \033]0;pwned\007title \007bell\n' >&2" "\nexit 1\n",
    "actions/fails.yaml": "ref: uix.fails\nworkflow_file: workflows/fails.workflow.yaml\n",
    "actions/workflows/fails.workflow.yaml": f"""\
        version: "1.0"
        vars: {{big: {BIG}, huge: {HUGE}, zero: -0.0}}
        tasks:
          - name: boom
            action: uix.trojan
        """,
    "actions/asks.yaml": "ref: uix.asks\nworkflow_file: workflows/asks.workflow.yaml\n",
    "actions/workflows/asks.workflow.yaml": """\
        version: "1.0"
        tasks:
          - name: ask
            action: core.ask
            input:
              prompt: "Allow \\u202eevil\\u202c?"
              response_schema: {ok: {type: boolean}}
        """,
}


@pytest.fixture(scope="module")
async def uix(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await register_pack(ui_server, tmp_path_factory.mktemp("uix-pack") / "uix", PACK)


async def test_numbers_show_and_rerun_as_the_run_had_them(page: Any, ui_server: UiServer, uix: Path) -> None:
    """Parameters and Result showed 2**63 as 9223372036854776000, 10**30 as 1e+30 and -0.0 as 0;
    Edit & re-run sent those rounded values inside arrays and objects, and added `b: false`,
    which the run never had."""
    given = {"a": [BIG, 0.1], "o": {"x": 2**64, "t": HUGE, "z": -0.0}, "n": BIG, "f": 1.0,
             "s": f"{RLO}evil{PDF}"}
    first = await ended(ui_server, (await start(ui_server, "uix.echo", **given))["id"])
    assert first["status"] == "completed" and first["result"]["data"] == given, first
    await page.goto(f"{ui_server.url}/executions/{first['id']}")
    for pane in (page.get_by_label("parameters"), page.get_by_label("result fields")):
        await expect(pane).to_contain_text(f'"n": {BIG},')
        await expect(pane).to_contain_text(f"{BIG},\n")  # in the array
        await expect(pane).to_contain_text('"x": 18446744073709551616')
        await expect(pane).to_contain_text(f'"t": {HUGE}')
        await expect(pane).to_contain_text('"z": -0.0')
        await expect(pane).to_contain_text('"f": 1.0')
        await expect(pane).to_contain_text('"s": "<U+202E>evil<U+202C>"')
        assert RLO not in await pane.inner_text()

    await page.goto(f"{ui_server.url}/actions/uix.echo?rerun={first['id']}")
    form = page.get_by_test_id("run-form")
    await expect(form.locator("#param-a")).to_have_value(f"[{BIG},0.1]")
    await expect(form.locator("#param-o")).to_have_value(re.compile(f'"x": 18446744073709551616,.*"t": {HUGE},.*"z": -0.0', re.S))
    await expect(form.locator("#param-n")).to_have_value(str(BIG))
    await expect(form.locator(".field-error")).to_have_count(0)
    await form.get_by_role("button", name="Re-run").click()
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    again = await ended(ui_server, int(page.url.rsplit("/", 1)[1]))
    assert again["config"] == given and again["result"]["data"] == given, again  # no "b": false
    assert str(again["config"]["o"]["z"]) == "-0.0" and isinstance(again["config"]["f"], float)

    # Edited: what is typed is sent as typed, however large, and a checkbox ticked is sent.
    await page.goto(f"{ui_server.url}/actions/uix.echo?rerun={first['id']}")
    await form.locator("#param-a").fill(f"[{BIG + 1}, -0.0]")
    await form.locator("#param-n").fill(str(-BIG - 1))
    await form.locator("#param-b").check()
    await form.get_by_role("button", name="Re-run").click()
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    edited = await ended(ui_server, int(page.url.rsplit("/", 1)[1]))
    assert edited["config"] == {**given, "a": [BIG + 1, -0.0], "n": -BIG - 1, "b": True}, edited
    assert str(edited["config"]["a"][1]) == "-0.0"


async def test_errors_and_prompts_show_control_characters_as_marks(page: Any, ui_server: UiServer,
                                                                   uix: Path) -> None:
    """The failure banner and the task's error applied U+202E ("evil" read as "live") and showed
    ESC/OSC raw, while the stderr pane marked them; the inquiry's prompt applied it too."""
    run = await ended(ui_server, (await start(ui_server, "uix.fails"))["id"])
    assert run["status"] == "failed", run
    await page.goto(f"{ui_server.url}/executions/{run['id']}")
    banner = page.get_by_test_id("run-error")
    await expect(banner.get_by_test_id("failure-reasons")).to_contain_text("access <U+202E>evil<U+202C> title <U+0007>bell")
    await expect(page.get_by_label("variables")).to_contain_text(f'"big": {BIG}')
    await expect(page.get_by_label("variables")).to_contain_text(f'"huge": {HUGE}')
    await expect(page.get_by_label("variables")).to_contain_text('"zero": -0.0')
    await page.locator("[data-task='boom']").click()
    error = page.get_by_test_id("task-detail").get_by_test_id("task-error")
    await expect(error).to_have_text("access <U+202E>evil<U+202C> title <U+0007>bell")
    await expect(page.get_by_test_id("task-detail").get_by_test_id("stderr")).to_contain_text("access <U+202E>evil<U+202C> title <U+0007>bell")
    for shown in (banner, error, page.get_by_test_id("task-detail").get_by_test_id("stderr")):
        text = await shown.inner_text()
        assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x1b\x7f]", text), repr(text)
        assert "pwned" not in text  # the window title it set: consumed, as a terminal does

    asks = await start(ui_server, "uix.asks")
    inquiry = await inquiry_of(ui_server, asks)
    try:
        for url in (f"/inquiries/{inquiry['id']}", f"/executions/{asks['id']}"):
            await page.goto(f"{ui_server.url}{url}")
            prompt = page.locator(f"[data-inquiry='{inquiry['id']}'] .prompt")
            await expect(prompt).to_have_text("Allow <U+202E>evil<U+202C>?")
    finally:
        await ui_server.http.post(f"/inquiries/{inquiry['id']}/cancel", json={})
