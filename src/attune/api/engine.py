"""A lazily connected, cached engine client: the API starts even when Temporal is not up yet."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from attune.api.errors import ApiError
from attune.settings import Settings, orchestrator_queue

EngineFactory = Callable[[], Awaitable[Any]]
CONNECT_TIMEOUT = 5.0


def default_factory(settings: Settings) -> EngineFactory:
    async def connect() -> Any:
        from attune.engine.client import EngineClient  # the engine is optional until needed

        return await EngineClient.connect(settings.temporal_address, settings.temporal_namespace,
                                          task_queue=orchestrator_queue(settings.queue_prefix),
                                          state_dir=settings.state_dir)

    return connect


def workflow_id_for(action_ref: str, execution_id: int) -> str:
    """Readable and unique even when a fresh records database restarts ids at 1 while the
    orchestration server still remembers earlier runs."""
    suffix = f"{execution_id}-{secrets.token_hex(3)}"
    try:
        from attune.engine.client import new_workflow_id
    except ImportError:
        return f"{action_ref}-{suffix}"
    return new_workflow_id(action_ref, suffix)


class EngineHandle:
    def __init__(self, factory: EngineFactory) -> None:
        self._factory = factory
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def get(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await asyncio.wait_for(self._factory(), CONNECT_TIMEOUT)
        return self._client

    async def require(self) -> Any:
        """The client, or a 503 error envelope saying the orchestration server is unreachable."""
        try:
            return await self.get()
        except Exception as exc:
            raise ApiError(503, f"orchestration server unreachable: {exc or type(exc).__name__}") from exc
