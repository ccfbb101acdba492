"""/health: is the API up, and can it reach its database and the orchestration server?"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from attune.api import schemas
from attune.api.deps import AppState, get_state
from attune.engine.client import engine_trouble
from attune.records.db import where

router = APIRouter(tags=["health"])
PROBE_TIMEOUT = 3.0
MIB = 1024 * 1024


async def _database(state: AppState) -> schemas.ComponentHealth:
    try:
        await asyncio.wait_for(asyncio.to_thread(state.db.ping), PROBE_TIMEOUT)
        return schemas.ComponentHealth(ok=True)
    except Exception as exc:  # noqa: BLE001 - a probe reports whatever went wrong
        return schemas.ComponentHealth(ok=False, detail=_first_line(exc))


async def _temporal(state: AppState) -> schemas.ComponentHealth:
    # Reachability of the frontend port; the cached client alone would not notice an outage.
    host, _, port = state.settings.temporal_address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)),
                                           PROBE_TIMEOUT)
        writer.close()
        return schemas.ComponentHealth(ok=True, detail=state.settings.temporal_address)
    except Exception as exc:  # noqa: BLE001 - a probe reports whatever went wrong
        # In the words every other route uses when Temporal cannot be reached.
        return schemas.ComponentHealth(ok=False, detail=str(engine_trouble(exc, state.settings.temporal_address)))


def _disk(state: AppState) -> schemas.ComponentHealth:
    """A full disk fails every write (records, blobs, logs) while reads and pings still work,
    so /health said ok throughout; each place the API writes is measured."""
    settings = state.settings
    places = {"state directory": settings.state_dir, "blobs": settings.effective_blob_dir}
    if state.db.engine.dialect.name == "sqlite":
        places["records database"] = str(Path(where(state.db.url)).parent)
    low = []
    for what, path in places.items():
        try:  # a directory not made yet is written where its nearest existing parent is
            free = shutil.disk_usage(next(p for p in (Path(path), *Path(path).parents) if p.exists())).free
        except (OSError, StopIteration):
            continue
        if free < settings.min_free_disk_mib * MIB:
            low.append(f"{what} {path}: {free / MIB:.1f} MiB free")
    if low:
        return schemas.ComponentHealth(ok=False, detail=f"disk space low (under "
                                       f"{settings.min_free_disk_mib} MiB, ATTUNE_MIN_FREE_DISK_MIB): "
                                       + "; ".join(low))
    return schemas.ComponentHealth(ok=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@router.get("/health", response_model=schemas.Health, summary="API, database and Temporal reachability, free disk",
            description="200 when everything is reachable, 503 (same body) otherwise. Never needs a token.",
            responses={503: {"model": schemas.Health, "description": "Something is unreachable"}})
async def health(state: AppState = Depends(get_state)):
    db, temporal, disk = await asyncio.gather(_database(state), _temporal(state), asyncio.to_thread(_disk, state))
    ok = db.ok and temporal.ok and disk.ok
    body = schemas.Health(status="ok" if ok else "degraded", api=schemas.ComponentHealth(ok=True),
                          database=db, temporal=temporal, disk=disk)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)
