"""What every API route does before FastAPI reads its parameters and body: the token check, the
query's parameter names, and the JSON body's bytes (read, parsed and scanned off the event loop).

FastAPI parses a route's JSON body before it runs any dependency, on the event loop: a token
check as a dependency came after a 13 MB body had been parsed and walked (seconds during which
no other request, /health included, was answered), and an unauthenticated client learnt about
its body's problems before its 401. A route class runs this first instead.
"""

from __future__ import annotations

import asyncio
import email.message
import json
import re
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi._compat import field_annotation_is_sequence
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attune.api.deps import authenticate
from attune.api.errors import ApiError, allowed_methods, error_responses
from attune.packs.parameters import data_problems
from attune.runtimes.safety import MAX_DATA_DEPTH, loads_json, non_finite, not_finite_detail

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Only these can hold what the full scans look for: a lone-surrogate escape, a number that is not
# finite (NaN, Infinity, an exponent of 3+ digits, 309+ digits), nesting past MAX_DATA_DEPTH.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_BIG_EXPONENT = re.compile(rb"[eE][+]?0*[1-9][0-9][0-9]")
_LONG_NUMBER = re.compile(rb"[0-9]{309}")
_ESCAPE = re.compile(rb"\\.")
_BRACKETS = bytes.maketrans(b"{}", b"[]")  # nesting is the same whatever the kind of bracket
_NOT_BRACKET_OR_QUOTE = bytes(b for b in range(256) if b not in b'"[]{}')


class GatedRoute(APIRoute):
    """An API route that authenticates, checks its query's names and reads its JSON body (in a
    thread) before FastAPI parses anything (module doc)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        fields = list(_query_fields(self.dependant))
        self.query_fields = fields
        self.query_names = sorted({f.alias for f in fields})
        self.repeatable = {f.alias for f in fields if field_annotation_is_sequence(f.field_info.annotation)}
        if self.body_field is not None:  # documented where it can happen
            self.responses = {**error_responses(415), **self.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def gated(request: Request) -> Response:
            await authenticate(request)
            self._check_query(request)
            if request.method in BODY_METHODS:
                await self._read_json(request)
            return await handler(request)

        return gated

    def _check_query(self, request: Request) -> None:
        """Unknown names (a typo, another API's `limit`) and a single-valued one given twice
        were ignored, so a filter the client thought it applied was not: 422 naming each, with
        the other problems of the query."""
        counts: dict[str, int] = {}
        for name, _ in request.query_params.multi_items():
            counts[name] = counts.get(name, 0) + 1
        accepted = ", ".join(self.query_names) or "none"
        errors: list[dict[str, Any]] = [
            _error(name, f"unknown query parameter; this route takes: {accepted}")
            for name in counts if name not in self.query_names]
        errors += [_error(name, f"given {count} times; it takes one value")
                   for name, count in counts.items()
                   if count > 1 and name in self.query_names and name not in self.repeatable]
        if errors:  # with what else is wrong in the query
            _, others = request_params_to_args(self.query_fields, request.query_params)
            raise RequestValidationError(errors + others)

    async def _read_json(self, request: Request) -> None:
        body = await request.body()  # BodyLimit refuses it as it streams in, past the limit
        if not body:
            return
        ctype = request.headers.get("content-type", "")
        if not _is_json(ctype):
            if self.body_field is None:  # a route that reads its own (YAML text) or none
                return
            given = f"unsupported content type '{ctype}'" if ctype else "no Content-Type given"
            raise ApiError(415, f"{given}: send the body as JSON, with Content-Type: application/json")
        # Every JSON body, even one a route ignores (one check for the whole API). FastAPI's own
        # parse then finds it done: Request.json() keeps what it read.
        request._json = await asyncio.to_thread(checked_json, body)


def _query_fields(dependant: Dependant) -> Iterator[Any]:
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def _error(name: str, message: str) -> dict[str, Any]:
    return {"type": "query_parameter", "loc": ("query", name), "msg": message, "input": None}


def _is_json(ctype: str) -> bool:
    """application/json or application/<anything>+json, as FastAPI parses them."""
    message = email.message.Message()
    message["content-type"] = ctype
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def checked_json(raw: bytes) -> Any:
    """The body parsed, or the ApiError saying what keeps it from being read or stored: bytes
    that are not UTF-8 (where), JSON syntax (where), and what the records and Temporal cannot
    carry (storable_problems). CPU-heavy on a big body: run it in a thread."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ApiError(400, f"request body is not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start} (line {line}, column {column}); JSON must be sent as UTF-8",
                       [{"path": "body", "message": f"not UTF-8 at byte {exc.start}", "line": line,
                         "column": column}]) from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column "
                            f"{exc.colno})") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply to parse as JSON; values may be "
                            f"nested at most {MAX_DATA_DEPTH} levels deep") from None
    details = storable_problems(raw, body)
    if details:
        raise ApiError(422, f"{len(details)} problem(s) in the request", details)
    return body


def storable_problems(raw: bytes, body: Any) -> list[dict[str, Any]]:
    """What the records and Temporal cannot carry, one detail per field: JSON may hold an unpaired
    "\\ud800" escape, which pydantic takes as text and no database stores, values nested past
    MAX_DATA_DEPTH, and numbers that are not finite (`NaN`, `1e999`: Python's parser reads them,
    and every answer and record wrote them as null). The walks run only when the raw text can
    hold such a thing: they cost far more than the parse on a body of many small items."""
    details: list[dict[str, Any]] = []
    if _nests_deeper(raw, MAX_DATA_DEPTH) or _SURROGATE_ESCAPE.search(raw):
        details += [p.detail() for p in data_problems(body, "")]
    may_be_non_finite = (b"NaN" in raw or b"Infinity" in raw or _BIG_EXPONENT.search(raw)
                         or _LONG_NUMBER.search(raw))
    if may_be_non_finite and non_finite(body, limit=1):
        details += [{"path": path or "body", "message": not_finite_detail(written)}
                    for path, written in non_finite(loads_json(raw))]
    return details


def _nests_deeper(raw: bytes, levels: int) -> bool:
    """Whether valid JSON text nests arrays and objects more than `levels` deep: its brackets
    outside strings, stripped of their innermost pairs once per level (each pass at C speed:
    a Python walk of a body of a million small items took seconds)."""
    unescaped = _ESCAPE.sub(b"", raw) if b"\\" in raw else raw  # then no quote inside a string
    outside_strings = b"".join(unescaped.translate(_BRACKETS, _NOT_BRACKET_OR_QUOTE).split(b'"')[::2])
    for _ in range(levels):
        if not outside_strings:
            return False
        outside_strings = outside_strings.replace(b"[]", b"")  # one level: new pairs wait a pass
    return bool(outside_strings)


class HeadAndOptions:
    """ASGI middleware: HEAD wherever GET is answered (RFC 9110; uptime monitors and load
    balancers probe with it), answered as GET without the body, and OPTIONS answering 204 with
    the Allow header. A path no route takes goes on to the usual 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        allowed = allowed_methods(scope)
        if scope["method"] == "OPTIONS" and allowed:
            response = Response(status_code=204, headers={"Allow": ", ".join(allowed)})
            await response(scope, receive, send)
        elif scope["method"] == "HEAD" and "GET" in allowed and not _head_route(scope):
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
        else:
            await self.app(scope, receive, send)


def _head_route(scope: Scope) -> bool:
    """Whether the route a GET would take answers HEAD itself (Starlette's routes do)."""
    probe = {**scope, "method": "GET"}
    for route in iter_route_contexts(scope["app"].router.routes):
        if route.matches(probe)[0] == Match.FULL:
            return "HEAD" in (route.methods or ())
    return False


def _without_body(send: Send) -> Send:
    async def headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await send(message)
    return headers_only
