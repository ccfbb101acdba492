"""/health: is the API up, and can it reach its database and the orchestration server?"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from attune.api import schemas
from attune.api.deps import AppState, get_state

router = APIRouter(tags=["health"])
PROBE_TIMEOUT = 3.0


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
        return schemas.ComponentHealth(ok=False, detail=f"{state.settings.temporal_address}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@router.get("/health", response_model=schemas.Health, summary="API, database and Temporal reachability",
            description="200 when everything is reachable, 503 (same body) otherwise. Never needs a token.",
            responses={503: {"model": schemas.Health, "description": "Something is unreachable"}})
async def health(state: AppState = Depends(get_state)):
    db, temporal = await asyncio.gather(_database(state), _temporal(state))
    ok = db.ok and temporal.ok
    body = schemas.Health(status="ok" if ok else "degraded", api=schemas.ComponentHealth(ok=True),
                          database=db, temporal=temporal)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)
