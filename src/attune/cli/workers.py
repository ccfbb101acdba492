"""`attune worker`: run one worker role (a runtime pool member or the orchestrator) until stopped."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from attune.engine.client import EngineClient
from attune.engine.worker import build_workers
from attune.settings import Settings


async def connect(settings: Settings, attempts: int = 1) -> Client:
    last: Exception | None = None
    for _ in range(attempts):
        try:
            engine = await EngineClient.connect(settings.temporal_address,
                                                settings.temporal_namespace,
                                                state_dir=settings.state_dir,
                                                blob_dir=settings.effective_blob_dir)
            return engine.client
        except Exception as exc:  # noqa: BLE001 - any connect failure is reported the same way
            last = exc
            await asyncio.sleep(0.5)
    raise ConnectionError(f"cannot reach Temporal at {settings.temporal_address}: {last}")


async def run_workers(settings: Settings, roles: list[str], *, packs_root: str | None = None,
                      concurrency: int = 100) -> None:
    client = await connect(settings, attempts=20)
    workers = build_workers(client, roles, packs_root=packs_root, concurrency=concurrency,
                            queue_prefix=settings.queue_prefix, state_dir=settings.state_dir,
                            sandboxed=settings.workflow_sandbox)
    print(f"worker {'+'.join(roles)} polling {settings.temporal_address}", flush=True)
    await asyncio.gather(*(w.run() for w in workers))
