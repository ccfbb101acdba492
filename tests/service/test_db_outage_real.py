"""A real PostgreSQL outage: the API reaches the database through a TCP proxy the test cuts.

The workflow finishes while no connection can be made; when the proxy is back, the mirror's
records catch up, with nothing lost or duplicated.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from attune.engine.server import free_port
from attune.settings import Settings
from tests.engine.helpers import wait_ended
from tests.service.conftest import _reset_pg, running_api
from tests.service.test_e2e_temporal import ended, register, submit, tree_of, wait_for

pytestmark = [pytest.mark.temporal, pytest.mark.slow]


class TcpProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int = 5432) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port,
                                                 reuse_address=True)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_real_postgresql_outage_then_catch_up(pg_server_url: str, tmp_path, stack: Any):
    _reset_pg(pg_server_url)
    proxy = TcpProxy()
    await proxy.start()
    url = pg_server_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = Settings(state_dir=str(tmp_path / ".attune"), database_url=url,
                        temporal_address=stack.address, mirror_interval=0.25)
    async with running_api(settings, None) as api:
        await register(api)
        top = await submit(api, "svc.chain", pause=1)
        await wait_for(api, top["id"], lambda r: r["status"] == "running")
        await proxy.cut()
        # The workflow ends while the records database is unreachable.
        assert (await wait_ended(stack.engine, top["workflow_id"], 60))[0] == "completed"
        await asyncio.sleep(1.0)
        health = await api.get("/health")
        assert health.status_code == 503
        await proxy.start()
        record = await wait_for(api, top["id"], ended, timeout=20)
        assert record["status"] == "completed"
        tasks = await tree_of(api, top["id"])
        assert sorted(t["workflow_task"]["task_name"] for t in tasks) == ["first", "last", "wait"]
        assert [t["status"] for t in tasks] == ["completed"] * 3
    await proxy.cut()
