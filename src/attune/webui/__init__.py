"""The web UI: a single-page app built from `web/` into `static/`, served at `/` by the API.

Every path that is not an API route gets the app's index.html (the app routes in the browser),
so a link such as /executions/42 survives a reload. The UI is a client of /api/v1 only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from attune.api.errors import ApiError

STATIC_DIR = Path(__file__).parent / "static"
# Paths that belong to the API: an unknown one is a JSON 404, never the UI.
_API_PREFIXES = ("api/", "docs", "redoc", "openapi.json", "health")

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


def mount(app: FastAPI) -> None:
    """Serve the UI for every GET that no API route answered. Call after adding every route."""

    @app.get("/{path:path}", include_in_schema=False)
    def web_ui(path: str) -> Response:
        if path.startswith(_API_PREFIXES):
            raise ApiError(404, f"no such route: /{path}")
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
