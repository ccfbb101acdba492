"""The run / Edit & re-run form: secrets of every type kept on a re-run, the API's problems at
nested paths shown with the rest of their path, fields named by their parameter alone, focus on
what to fix, integral bounds without a fraction. In headless Chromium against the real API,
Temporal and workers, with a pack of its own written to a temporary directory."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer, register_pack
from tests.ui.test_forms_and_docs import ended
from tests.ui.test_run_control import start

pytestmark = [pytest.mark.slow]

# Answers with what it got, the secrets as facts about them (their values would be masked).
REPORT = """\
import json, sys
p = json.load(sys.stdin)
print(json.dumps({"pin_plus": p["pin"] + 1, "keys": p["keys"], "blob": sorted(p["blob"]),
                  "flag": {True: "on", False: "off"}.get(p.get("flag"), "none"), "note": p.get("note"),
                  "password_ok": p["creds"]["password"] == "s3cret-pw"}))
"""
PACK = {
    "pack.yaml": 'ref: uif\nlabel: Forms\nversion: "0.1.0"\n',
    "actions/secrets.yaml": """\
        ref: uif.secrets
        runner_type: python
        entry_point: report.py
        output_format: json
        parameters:
          pin: {type: integer, secret: true}
          keys: {type: array, secret: true}
          blob: {type: object, secret: true}
          flag: {type: boolean, secret: true}
          note: {type: string}
          creds:
            type: object
            properties: {user: {type: string}, password: {type: string, secret: true}}
        """,
    "actions/report.py": REPORT,
    "actions/nested.yaml": """\
        ref: uif.nested
        runner_type: python
        entry_point: report.py
        output_format: json
        parameters:
          server:
            type: object
            required: true
            properties:
              port: {type: integer, minimum: 1}
          targets:
            type: array
            items:
              type: object
              properties:
                weight: {type: number, maximum: 1}
          db.host: {type: string, pattern: "^[a-z]+$"}
          db: {type: object, properties: {host: {type: string, maxLength: 2}}}
          count: {type: integer, minimum: 1.0, maximum: 10.0}  # the API sends 1.0
          approved: {type: boolean, required: true}
        """,
}


@pytest.fixture(scope="module")
async def uif(ui_server: UiServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return await register_pack(ui_server, tmp_path_factory.mktemp("uif-pack") / "uif", PACK)


def field(form: Any, name: str) -> Any:
    """A parameter's input by its id (its accessible name is test_fields_are_named_…'s)."""
    return form.locator(f"[id='param-{name}']")


async def rerun_request(page: Any, button: Any) -> dict:
    """Click `button` and return the parameters the page asked the API to re-run with."""
    async with page.expect_request(re.compile(r"/executions/\d+/rerun$")) as request:
        await button.click()
    return json.loads((await request.value).post_data)["parameters"]


async def test_edit_and_rerun_keeps_secrets_of_every_type(page: Any, ui_server: UiServer, uif: Path) -> None:
    """A run with an integer, array, object or boolean secret could not be re-run from the form:
    ******** was checked as a number or JSON ("not a number", "must be a JSON array") and the
    Re-run button stayed disabled; a `true` boolean secret showed unticked and was sent false."""
    first = await start(ui_server, "uif.secrets", pin=41, keys=["a", "b"], blob={"k": 1}, flag=True, note="x",
                        creds={"user": "u", "password": "s3cret-pw"})
    assert (await ended(ui_server, first["id"]))["status"] == "completed"
    url = f"{ui_server.url}/actions/uif.secrets?rerun={first['id']}"
    await page.goto(url)
    form = page.get_by_test_id("run-form")
    for name in ("pin", "keys", "blob"):
        await expect(field(form, name)).to_have_value("********")
        await expect(form.locator(f"[data-field='{name}'] .help")).to_contain_text(
            f"kept from run {first['id']}; type to replace")
    await expect(form.locator(".field-error")).to_have_count(0)
    flag = field(form, "flag")
    await expect(flag).to_have_value("********")  # kept: neither ticked nor unticked
    await expect(flag.locator("option:checked")).to_have_text(f"******** (kept from run {first['id']})")
    button = form.get_by_role("button", name="Re-run")
    await expect(button).to_be_enabled()
    sent = await rerun_request(page, button)
    assert {k: sent[k] for k in ("pin", "keys", "blob", "flag")} == dict.fromkeys(("pin", "keys", "blob", "flag"), "********")
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    again = await ended(ui_server, int(page.url.rsplit("/", 1)[1]))
    assert again["result"]["data"] == {"pin_plus": 42, "keys": ["a", "b"], "blob": ["k"], "flag": "on", "note": "x",
                                            "password_ok": True}

    # A replacement is checked by its type as usual, and sent as typed.
    await page.goto(url)
    await field(form, "pin").fill("x1")
    await expect(form.locator("[data-field='pin'] .field-error")).to_contain_text("not a number")
    await expect(form.get_by_role("button", name="Re-run")).to_be_disabled()
    await field(form, "pin").fill("9")
    await field(form, "keys").fill('{"a": 1}')
    await expect(form.locator("[data-field='keys'] .field-error")).to_contain_text("must be a JSON array")
    await field(form, "keys").fill('["z"]')
    await flag.select_option("false")
    sent = await rerun_request(page, form.get_by_role("button", name="Re-run"))
    assert (sent["pin"], sent["keys"], sent["blob"], sent["flag"]) == (9, ["z"], "********", False)
    await expect(page).to_have_url(re.compile(r"/executions/\d+$"))
    again = await ended(ui_server, int(page.url.rsplit("/", 1)[1]))
    assert again["result"]["data"] == {"pin_plus": 10, "keys": ["z"], "blob": ["k"], "flag": "off", "note": "x",
                                            "password_ok": True}


async def test_problems_at_nested_paths_show_the_rest_of_the_path(page: Any, ui_server: UiServer, uif: Path) -> None:
    """`parameters.server.port: 0 is less than…` showed under `server` as `0 is less than…`,
    without `port`; and a parameter named `db.host` is not the `db` field's `host`."""
    await page.goto(f"{ui_server.url}/actions/uif.nested")
    form = page.get_by_test_id("run-form")
    await field(form, "server").fill('{"port": 0}')
    await field(form, "targets").fill('[{"weight": 0.5}, {"weight": 3}]')
    await field(form, "db.host").fill("NOT-LOWER")
    await field(form, "db").fill('{"host": "toolong"}')
    await field(form, "count").fill("11")
    await form.get_by_role("button", name="Run").click()
    errors = {name: form.locator(f"[data-field='{name}'] .field-error") for name in ("server", "targets", "db.host", "db", "count")}
    await expect(errors["server"]).to_have_text(re.compile(r"^port: 0 is less than the minimum of 1"))
    await expect(errors["targets"]).to_have_text(re.compile(r"^\[1\]\.weight: 3 is greater than the maximum of 1"))
    await expect(errors["db"]).to_have_text(re.compile(r"^host: .*toolong"))
    await expect(errors["db.host"]).to_have_text(re.compile(r"^[^:]*NOT-LOWER.*pattern|^.*pattern.*NOT-LOWER"))
    await expect(errors["count"]).to_contain_text("11")
    # Nothing about these fields is left for the banner above the button (shown, not an alert:
    # focus goes to the first field, which says its problem).
    banner = form.get_by_test_id("error-banner").filter(has_text="problem(s) with the parameters")
    await expect(banner).to_be_visible()
    await expect(banner).not_to_contain_text("parameters.")
    await expect(banner).not_to_contain_text("parameters[")


async def test_integral_bounds_show_without_a_fraction(page: Any, ui_server: UiServer, uif: Path) -> None:
    """An integer's bounds showed as the API sent them: "≥ 1.0, ≤ 10.0"."""
    await page.goto(f"{ui_server.url}/actions/uif.nested")
    await expect(page.locator("[data-field='count'] .type")).to_have_text("integer · ≥ 1, ≤ 10")


async def test_fields_are_named_by_their_parameter_alone(page: Any, ui_server: UiServer, uif: Path) -> None:
    """An input's accessible name ran its label into its type ("countinteger · ≥ 1, ≤ 10",
    "approved *boolean"), and a required field did not say it was required."""
    await page.goto(f"{ui_server.url}/actions/uif.nested")
    form = page.get_by_test_id("run-form")
    count = field(form, "count")
    await expect(count).to_have_accessible_name("count")
    await expect(count).to_have_accessible_description(re.compile(r"^integer · ≥ 1, ≤ 10"))
    await expect(count).not_to_have_attribute("aria-required", "true")
    await expect(field(form, "approved")).to_have_accessible_name("approved")
    await expect(field(form, "db.host")).to_have_accessible_name("db.host")
    server = field(form, "server")
    await expect(server).to_have_accessible_name("server")
    await expect(server).to_have_attribute("aria-required", "true")
    await expect(server).to_have_js_property("required", True)
    await expect(form.locator("[data-field='server'] .required")).to_be_visible()  # the mark stays


async def test_focus_stays_on_the_button_then_goes_to_what_to_fix(page: Any, ui_server: UiServer, uif: Path) -> None:
    """While a run started, the disabled button dropped focus to <body>, and a refused run left
    it there."""
    await page.goto(f"{ui_server.url}/actions/uif.nested")
    form = page.get_by_test_id("run-form")
    release = asyncio.Event()

    async def hold(route: Any) -> None:  # the run request held, to look at focus meanwhile
        await release.wait()
        await route.continue_()

    await page.route("**/api/v1/executions/execute", hold)
    await field(form, "count").fill("0")
    await form.get_by_role("button", name="Run").click()
    await expect(form.get_by_role("button", name="Starting…")).to_be_focused()
    release.set()
    # Refused (server missing, count 0): focus on the first field with a problem.
    await expect(form.locator("[data-field='count'] .field-error")).to_be_visible()
    await expect(field(form, "server")).to_be_focused()
    await page.unroute_all(behavior="ignoreErrors")
