"""A lazily connected, cached engine client: the API starts even when Temporal is not up yet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from attune.api.errors import ApiError
from attune.contract import EngineClient
from attune.settings import Settings, orchestrator_queue

EngineFactory = Callable[[], Awaitable[EngineClient]]
CONNECT_TIMEOUT = 5.0


def default_factory(settings: Settings) -> EngineFactory:
    async def connect() -> EngineClient:
        # Imported on first use: the API serves records even without the Temporal SDK loaded.
        from attune.engine.client import EngineClient as TemporalEngine

        return await TemporalEngine.connect(settings.temporal_address, settings.temporal_namespace,
                                            task_queue=orchestrator_queue(settings.queue_prefix),
                                            state_dir=settings.state_dir,
                                            blob_dir=settings.effective_blob_dir)

    return connect


class EngineHandle:
    def __init__(self, factory: EngineFactory) -> None:
        self._factory = factory
        self._client: EngineClient | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> EngineClient:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await asyncio.wait_for(self._factory(), CONNECT_TIMEOUT)
        return self._client

    async def require(self) -> EngineClient:
        """The client, or a 503 error envelope saying the orchestration server is unreachable."""
        try:
            return await self.get()
        except Exception as exc:
            raise ApiError(503, f"orchestration server unreachable: {exc or type(exc).__name__}") from exc
