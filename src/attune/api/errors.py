"""The error envelope `{"error": {code, message, details}}` for every failure the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.contract import EngineError
from attune.records.db import trouble
from attune.runtimes.safety import MAX_DATA_DEPTH

log = logging.getLogger("attune.api")

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
          415: "unsupported_media_type",
          422: "validation_error", 500: "internal_error", 503: "unavailable"}


class ErrorDetail(BaseModel):
    path: str | None = Field(None, description="Where the problem is: a parameter, body field or file")
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable: not_found, conflict, validation_error, ...")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raised below the routes; rendered as the error envelope with `status`."""

    def __init__(self, status: int, message: str, details: list[dict[str, Any]] | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.details = details or []
        self.code = code or _CODES.get(status, "error")


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what} '{ident}' not found")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error envelope for these statuses."""
    text = {400: "Bad request", 401: "Missing or wrong bearer token",
            403: "Refused: a cross-origin request, a Host that is not loopback while the API "
                 "listens on loopback, or an execution token on a route it may not call",
            404: "Not found",
            409: "Conflict", 413: "Too large: the message names the limit",
            415: "The body is not sent as JSON (Content-Type: application/json)",
            422: "Validation failed: one detail per problem",
            503: "A backing service is unreachable"}
    return {s: {"model": ErrorResponse, "description": text.get(s, "Error")} for s in statuses}


def _envelope(status: int, code: str, message: str, details: list[dict[str, Any]],
              headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


def allowed_methods(scope: Scope, path: str | None = None) -> list[str]:
    """The methods the routes matching this path take (HEAD with GET, and OPTIONS, which every
    path answers); a literal path wins over a template (/packs/register is not /packs/{ref})."""
    probe = {**scope, "type": "http", "method": "GET", **({"path": path} if path is not None else {})}
    matching = [route for route in iter_route_contexts(scope["app"].router.routes)
                if route.matches(probe)[0] != Match.NONE]
    literal = [r for r in matching if "{" not in getattr(r, "path", "{")]
    methods = {m for r in (literal or matching) for m in (getattr(r, "methods", None) or {"GET"})}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods | {"OPTIONS"}) if methods else []


# Routes whose id segment is an integer (`{execution_id:int}`): any other text there matches no
# route, and "Not Found" alone did not say that the id was the problem.
_ID_SEGMENTS = {"executions": "execution", "inquiries": "inquiry"}


def _no_route(request: Request) -> tuple[str, list[dict[str, str]]]:
    path = request.url.path
    parts = path.split("/")
    for i, part in enumerate(parts[:-1]):
        what = _ID_SEGMENTS.get(part)
        if what and i + 1 < len(parts) and parts[i + 1] and not parts[i + 1].isdigit():
            given = parts[i + 1]
            if not allowed_methods(request.scope, "/".join([*parts[:i + 1], "1", *parts[i + 2:]])):
                continue  # no route here with any id (e.g. /api/v1/api/v1/...): not the id's fault
            return (f"no route {request.method} {path}: {what} ids are positive integers, not "
                    f"{given!r}", [{"path": f"{what}_id", "message": f"not an {what} id: {given!r}"}])
    return f"no route {request.method} {path}", []


def _loc_path(loc: tuple[Any, ...]) -> str:
    """pydantic's location without where in the request it was (its first part): a field
    that is itself named `path` or `body` keeps its name."""
    where = ("body", "query", "path", "header", "cookie")
    parts = [str(p) for p in (loc[1:] if loc and loc[0] in where else loc)]
    return ".".join(parts) or str(loc[0] if loc else "body")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _envelope(exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        ctype = request.headers.get("content-type", "")
        if ctype and "json" not in ctype.lower() and any(e.get("loc", ())[:1] == ("body",) for e in errors):
            # FastAPI reads a body as JSON only when it says it is: say so, not "not a dict".
            return _envelope(415, "unsupported_media_type", f"unsupported content type '{ctype}': "
                             "send the body as JSON, with Content-Type: application/json", [])
        if any(e.get("type") == "json_invalid" for e in errors):
            msg = next(e.get("ctx", {}).get("error", "") for e in errors if e["type"] == "json_invalid")
            return _envelope(400, "bad_request", f"request body is not valid JSON: {msg}".strip(": "), [])
        details = [{"path": _loc_path(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
                   for e in errors]
        return _envelope(422, "validation_error", f"{len(details)} problem(s) in the request", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # every method the path takes, not only the first route's
            allowed = ", ".join(allowed_methods(request.scope))
            headers["Allow"] = allowed
            return _envelope(405, code, f"method {request.method} is not allowed on {request.url.path}: "
                             f"it takes {allowed}", [], headers)
        if exc.status_code == 404 and exc.detail == "Not Found":  # no route: say which, and why
            return _envelope(404, code, *_no_route(request))
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's "error parsing the body"
            return _envelope(400, code, "request body is nested too deeply to parse as JSON; values "
                             f"may be nested at most {MAX_DATA_DEPTH} levels deep", [])
        return _envelope(exc.status_code, code, str(exc.detail), [], headers or None)

    @app.exception_handler(UnicodeError)
    async def _not_unicode(_: Request, exc: UnicodeError) -> JSONResponse:
        # JSON can carry lone UTF-16 surrogates ("\ud800") that no database or file name takes.
        return _envelope(422, "validation_error", "text in the request is not valid Unicode "
                         f"(a lone surrogate?): {getattr(exc, 'reason', exc)}", [])

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        # A full disk, a lost server, a lock held too long: the operator's to fix, so say which
        # (it read "internal error: OperationalError").
        log.exception("records database error")
        return _envelope(503, "unavailable", trouble(exc, request.app.state.attune.db.url), [])

    @app.exception_handler(EngineError)
    async def _engine(_: Request, exc: EngineError) -> JSONResponse:
        # Temporal unreachable or failing where no service turned it into an ApiError: the
        # engine's own words (what, where, what to do), not "internal error: EngineUnavailable".
        log.warning("%s [raw: %s]", exc, raw_chain(exc))
        return _envelope(503, "unavailable", str(exc), [])

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return _envelope(500, "internal_error", f"internal error: {type(exc).__name__}", [])


def raw_chain(exc: BaseException) -> str:
    """Every exception of the chain as it was raised (e.g. the Temporal SDK's own text), for
    the API's log: what the client is told is the first one's message alone."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413, before a route reads it whole
    (by Content-Length when given, else while it streams in)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (f"request body over the limit of {self.limit:,} bytes "
                   "(setting ATTUNE_MAX_REQUEST_BYTES)")
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            response = _envelope(413, "payload_too_large", message, [])
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            received = await receive()
            seen += len(received.get("body", b""))
            if seen > self.limit:  # an HTTPException: FastAPI passes it on to the handlers
                raise StarletteHTTPException(413, message)
            return received

        await self.app(scope, counted, send)
