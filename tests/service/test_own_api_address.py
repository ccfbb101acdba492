"""`attune api --port N` with no ATTUNE_API_URL: the address its runs give workers and actions is
its own. It was the default http://127.0.0.1:8000: actions called another address (or nothing),
and got no execution id, with only a debug line in the worker's log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attune.statuses import TERMINAL
from tests.conftest import PACKS
from tests.service.real_api import real_api

pytestmark = [pytest.mark.temporal, pytest.mark.slow]
CTL_PACK = Path(__file__).parent / "packs" / "ctl"


@pytest.fixture
def own_api(stack: Any, tmp_path: Path) -> Iterator[str]:
    """The real CLI's `attune api --port N`, no ATTUNE_API_URL, on the session's Temporal (whose
    in-process workers claim ids at the address each run carries)."""
    with real_api(tmp_path, {"ATTUNE_STATE_DIR": str(tmp_path / "state"),
                             "ATTUNE_TEMPORAL_ADDRESS": stack.address}, drop=("ATTUNE_API_URL",)) as url:
        for pack in (PACKS / "core", CTL_PACK):
            response = httpx.post(f"{url}/api/v1/packs/register", json={"path": str(pack)}, timeout=60)
            assert response.status_code == 200, response.text
        yield url


async def test_an_api_on_its_own_port_gives_actions_its_address_and_their_ids(own_api: str) -> None:
    async with httpx.AsyncClient(base_url=f"{own_api}/api/v1", timeout=30) as api:
        response = await api.post("/executions/execute", json={"action_ref": "ctl.whoami_flow", "parameters": {}})
        assert response.status_code == 201, response.text
        top = response.json()["data"]["id"]
        deadline = time.monotonic() + 60
        while (done := (await api.get(f"/executions/{top}")).json()["data"])["status"] not in TERMINAL:
            assert time.monotonic() < deadline, done
            await asyncio.sleep(0.2)
        assert done["status"] == "completed", done
        [who] = (await api.get("/executions", params={"parent": top})).json()["items"]
    data = who["result"]["data"]
    assert data["api_url"] == own_api
    assert data["exec_id"] == str(who["id"]), data
