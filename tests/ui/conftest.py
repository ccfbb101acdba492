"""The web UI in a real browser against the real stack.

The API runs as its own process (`attune api`, as `attune up` starts it) on a free port, with a
token set, its records in a fresh SQLite file, and the session's real Temporal dev server and
workers (tests/conftest.py `temporal_stack`). The browser is Debian's Chromium (`/usr/bin/chromium`,
installed by .ci/run), driven by Playwright; nothing is downloaded.

Set ATTUNE_UI_SCREENSHOTS=<dir> to save a screenshot of each page the tests visit (the README's
docs/screenshots/ come from there).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune import webui

REPO = Path(__file__).resolve().parents[2]
UIT_PACK = Path(__file__).parent / "packs" / "uit"
CHROMIUM = os.environ.get("ATTUNE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "ui-test-token"
SHOTS = os.environ.get("ATTUNE_UI_SCREENSHOTS")

pytestmark = [pytest.mark.slow]


@dataclass
class UiServer:
    url: str
    packs: Path  # the copy of the packs the API registered (workflows are saved into it)
    database_url: str
    http: httpx.AsyncClient  # the same API, for setting up and checking what the UI did


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def built_ui() -> Path:
    if not (webui.STATIC_DIR / "index.html").is_file():
        pytest.fail(f"the web UI is not built ({webui.STATIC_DIR} is empty): run `make ui`")
    return webui.STATIC_DIR


@pytest.fixture(scope="session")
async def ui_server(temporal_stack: Any, built_ui: Path, tmp_path_factory: pytest.TempPathFactory,
                    ) -> AsyncIterator[UiServer]:
    from attune.engine.server import free_port

    root = tmp_path_factory.mktemp("ui")
    packs = root / "packs"
    shutil.copytree(REPO / "packs" / "core", packs / "core")
    shutil.copytree(UIT_PACK, packs / "uit")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{root / 'attune.db'}"
    env = {**os.environ, "ATTUNE_TEMPORAL_ADDRESS": temporal_stack.address,
           "ATTUNE_STATE_DIR": str(root), "ATTUNE_DATABASE_URL": database_url,
           "ATTUNE_API_TOKEN": TOKEN, "ATTUNE_API_URL": url,
           "ATTUNE_TEMPORAL_UI_URL": "http://127.0.0.1:8233"}
    with open(root / "api.log", "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "attune.cli", "api", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    http = httpx.AsyncClient(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {TOKEN}"},
                             timeout=30)
    try:
        for _ in range(150):
            try:
                if (await http.get("/health")).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.2)
        else:
            pytest.fail(f"the API did not start; see {root / 'api.log'}")
        for pack in ("core", "uit"):
            response = await http.post("/packs/register", json={"path": str(packs / pack)})
            assert response.status_code == 200, response.text
        yield UiServer(url=url, packs=packs, database_url=database_url, http=http)
    finally:
        await http.aclose()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"{CHROMIUM} not found: apt-get install -y chromium chromium-driver (.ci/run does)")
    async with async_playwright() as pw:
        # A fresh profile per session: Playwright's persistent context owns --user-data-dir.
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1440, "height": 900})
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def page(browser: Any, ui_server: UiServer) -> AsyncIterator[Any]:
    """A tab that already holds the API token (the token dialog has its own test)."""
    tab = await browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    await tab.goto(f"{ui_server.url}/packs")  # same origin, so the token lands in its storage
    await tab.evaluate("token => sessionStorage.setItem('attune.token', token)", TOKEN)
    tab.set_default_timeout(20_000)
    try:
        yield tab
    finally:
        await tab.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


async def shot(page: Any, name: str) -> None:
    """Save a screenshot when ATTUNE_UI_SCREENSHOTS is set (for the README)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.wait_for_timeout(400)  # let the graph settle its fit-to-view
        await page.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


async def register_pack(ui_server: UiServer, root: Path, files: dict[str, str]) -> Path:
    """Write a pack's files (dedented; `.sh` executable) under `root` and register it."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        if name.endswith(".sh"):
            path.chmod(0o755)
    response = await ui_server.http.post("/packs/register", json={"path": str(root)})
    assert response.status_code == 200, response.text
    return root


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)
