"""The web UI: a single-page app built from `web/` into `static/`, served at `/` by the API.

Every path that is not an API route gets the app's index.html (the app routes in the browser),
so a link such as /executions/42 survives a reload. The UI is a client of /api/v1 only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
# Paths that belong to the API: an unknown one is a JSON 404, never the UI.
_API_PREFIXES = ("api/", "docs", "openapi.json", "health")
# Swagger UI's files, copied from npm's swagger-ui-dist into the build (web/vite.config.ts).
SWAGGER_DIR = "swagger-ui"

NOT_BUILT = """<!doctype html><html><head><meta charset="utf-8"><title>Attune: web UI not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:4rem auto;color:#1d2533}
code{background:#eef1f6;padding:.1rem .3rem;border-radius:4px}</style></head><body>
<h1>The web UI is not built</h1>
<p>This API is running, but its web UI assets are missing from <code>{static}</code>.</p>
<p>Build them from a source checkout with <code>make ui</code> (runs <code>npm ci</code> and
<code>npm run build</code> in <code>web/</code>; <code>make install</code> and <code>make run</code> do it
too), then reload this page.</p>
<p>The REST API works without it: <a href="/docs">/docs</a>.</p></body></html>"""


def _file(path: str) -> Path | None:
    """A file of the built app, never outside it."""
    target = (STATIC_DIR / path).resolve()
    if path and target.is_file() and target.is_relative_to(STATIC_DIR.resolve()):
        return target
    return None


class _UiRoute(Route):
    """GET of any path outside the API. Paths of the API never match it, so an unknown API
    path stays a JSON 404 and a wrong method on an API path stays a 405 (with its Allow)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http" and scope.get("path", "").lstrip("/").startswith(_API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)


def mount_docs(app: FastAPI, title: str) -> None:
    """/docs with Swagger UI from the built app's files: FastAPI's own page loads them from a
    CDN, so without internet it was blank. Before `make ui` there are none: then the CDN's."""
    url, page_title = app.openapi_url or "/openapi.json", f"{title} - API docs"
    options = {"validatorUrl": None}  # else Swagger UI shows a badge fetched from swagger.io

    def docs() -> HTMLResponse:
        if not (STATIC_DIR / SWAGGER_DIR / "swagger-ui-bundle.js").is_file():
            return get_swagger_ui_html(openapi_url=url, title=page_title, swagger_ui_parameters=options)
        return get_swagger_ui_html(openapi_url=url, title=page_title, swagger_ui_parameters=options,
                                   swagger_js_url=f"/{SWAGGER_DIR}/swagger-ui-bundle.js",
                                   swagger_css_url=f"/{SWAGGER_DIR}/swagger-ui.css",
                                   swagger_favicon_url="/favicon.svg")

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)


def mount(app: FastAPI) -> None:
    """Serve the UI for every GET that no API route answered. Call after adding every route."""

    def web_ui(request: Request) -> Response:
        path = request.path_params["path"]
        index = STATIC_DIR / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT.replace("{static}", str(STATIC_DIR)), status_code=503)
        found = _file(path)
        if found is not None:
            # Vite names assets by content hash: they never change under the same name.
            immutable = path.startswith("assets/")
            cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
            return FileResponse(found, headers={"Cache-Control": cache})
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.routes.append(_UiRoute("/{path:path}", web_ui, methods=["GET"],
                                      include_in_schema=False))
