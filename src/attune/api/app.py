"""The FastAPI application: routes under /api/v1, error envelopes, auth, and the records mirror."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from attune import webui
from attune.api.deps import API_PREFIX, AppState, bearer_scheme
from attune.api.engine import EngineFactory, EngineHandle, default_factory
from attune.api.errors import BodyLimit, error_responses, install_error_handlers
from attune.api.gate import GatedRoute, HeadAndOptions
from attune.api.guard import BrowserGuard, is_loopback
from attune.api.routes import actions, executions, health, inquiries, meta, packs, workflow_files, workflows
from attune.records.db import Database
from attune.records.mirror import Mirror
from attune.secrets import load_key
from attune.settings import Settings


def create_app(
    settings: Settings | None = None,
    engine_client_factory: EngineFactory | None = None,
    *,
    run_mirror: bool = True,
) -> FastAPI:
    """The API. `engine_client_factory` is an async callable returning an EngineClient (tests
    pass a fake); by default it connects to `settings.temporal_address` on first use."""
    settings = settings or Settings.load()
    engine = EngineHandle(engine_client_factory or default_factory(settings), settings.temporal_address)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.effective_database_url)
        await asyncio.to_thread(db.migrate)
        mirror = Mirror(db, engine.get, interval=settings.mirror_interval)
        app.state.attune = AppState(settings=settings, db=db, engine=engine, mirror=mirror,
                                    secret_key=load_key(settings.state_dir))
        if run_mirror:
            mirror.start()
        try:
            yield
        finally:
            await mirror.stop()
            db.dispose()

    app = FastAPI(
        title="Attune on Temporal",
        version="0.1.0",
        description="Packs of shell/Python/Node.js actions and YAML workflows, run on Temporal. "
                    "When ATTUNE_API_TOKEN is set, every route but /health needs "
                    "`Authorization: Bearer <token>`.",
        lifespan=lifespan,
        # /docs is served from the built UI's files (no CDN: the UI fetches nothing at run time);
        # ReDoc would need a CDN or a second bundle, and /docs already shows every operation.
        docs_url=None,
        redoc_url=None,
    )
    webui.mount_docs(app, app.title)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(HeadAndOptions)
    # Outermost: refused before anything else runs, and every answer carries its framing headers.
    app.add_middleware(BrowserGuard, loopback_only=is_loopback(settings.api_host))
    # Each route's class (GatedRoute) checks the token first, before its query and body are read.
    secured = APIRouter(prefix=API_PREFIX, dependencies=[bearer_scheme],
                        responses=error_responses(400, 401, 403, 413, 422))
    for module in (executions, inquiries, packs, actions, workflows, workflow_files, meta):
        secured.include_router(module.router)
    unchecked = [r.path for r in iter_route_contexts(secured.routes)
                 if not isinstance(r.original_route, GatedRoute)]
    if unchecked:  # a router made without route_class=GatedRoute would answer without the token
        raise TypeError(f"API routes without the token check (route_class=GatedRoute): {unchecked}")
    app.include_router(secured)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(health.router, include_in_schema=False)  # also at /health for probes
    webui.mount(app)  # last: it answers every GET no route above took
    return app
