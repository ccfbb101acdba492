"""A lazily connected, cached engine client: the API starts even when Temporal is not up yet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from attune.api.errors import ApiError, raw_chain
from attune.contract import EngineClient, EngineError
from attune.settings import Settings, orchestrator_queue

log = logging.getLogger("attune.api")
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
    def __init__(self, factory: EngineFactory, address: str = "the configured address") -> None:
        self._factory = factory
        self.address = address  # ATTUNE_TEMPORAL_ADDRESS: named in every error
        self._client: EngineClient | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> EngineClient:
        """The client; a failure to connect (or no answer in CONNECT_TIMEOUT s) raises
        EngineError saying why in a few words (engine_trouble)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    try:
                        self._client = await asyncio.wait_for(self._factory(), CONNECT_TIMEOUT)
                    except EngineError:
                        raise  # the engine's own explanation, its raw cause kept
                    except Exception as exc:
                        raise self.trouble(exc) from exc
        return self._client

    def trouble(self, exc: BaseException) -> EngineError:
        """Any failure talking to Temporal as the engine's own explanation (one wording for
        every caller; the raw error stays its cause)."""
        if isinstance(exc, EngineError):
            return exc
        from attune.engine.client import engine_trouble  # see default_factory

        return engine_trouble(exc, self.address)

    def failure(self, exc: BaseException, doing: str) -> ApiError:
        """A request that could not `doing` (e.g. "cancel execution 3") because of Temporal:
        503 saying what is wrong and what to do; the raw error chain goes to the API's log only."""
        message = f"could not {doing}: {self.trouble(exc)}"
        log.warning("%s [raw: %s]", message, raw_chain(exc))
        return ApiError(503, message)

    async def require(self, doing: str) -> EngineClient:
        """The client, or the 503 error envelope of `failure`."""
        try:
            return await self.get()
        except Exception as exc:
            raise self.failure(exc, doing) from exc

