"""The action form's Edit & re-run, the builder's typed inputs, an action's facts and the API docs,
in headless Chromium against the real API, Temporal and workers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.async_api import expect

from tests.ui.conftest import UiServer

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
