"""FastAPI dependencies: the app's shared state, bearer-token auth and paging parameters."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response
from fastapi.security import HTTPBearer
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from attune import tokens
from attune.api.engine import EngineHandle
from attune.api.errors import ApiError
from attune.records.db import Database
from attune.records.mirror import Mirror
from attune.records.models import ExecutionRow
from attune.settings import Settings
from attune.statuses import TERMINAL
from attune.tokens import ExecutionToken, root_of

API_PREFIX = "/api/v1"
_bearer = HTTPBearer(auto_error=False, description="Required when ATTUNE_API_TOKEN is set")


@dataclass
class AppState:
    settings: Settings
    db: Database
    engine: EngineHandle
    mirror: Mirror
    secret_key: bytes  # verifies execution tokens (attune.tokens)


# The dependencies are `async def` though none of them waits: FastAPI runs a plain `def`
# dependency in its thread pool, and those hops (four per request) were a fifth of the API's
# CPU per request. The one that reads the database (an execution token's) does it in a thread.

async def get_state(request: Request) -> AppState:
    return request.app.state.attune


@dataclass(frozen=True)
class Principal:
    """Who calls: an operator (the API token, or anyone when none is set), or an action process
    with its execution token (spec §9)."""

    token: ExecutionToken | None = None

    def may_read(self, workflow_id_or_key: str | None) -> bool:
        """An execution token reads only its own tree."""
        return self.token is None or (workflow_id_or_key is not None
                                      and root_of(workflow_id_or_key) == self.token.root)


F = TypeVar("F", bound=Callable[..., Any])


def execution_token_allowed(endpoint: F) -> F:
    """Marks one of the few routes an execution token may call (spec §9: create inquiries,
    read its own tree); every other route refuses it with 403."""
    endpoint.execution_token_allowed = True  # type: ignore[attr-defined]
    return endpoint


async def authenticate(request: Request) -> Principal:
    """Who calls, checked before the route reads anything of the request (attune.api.gate):
    401 for a missing or wrong token, 403 for an execution token on a route not meant for it."""
    state: AppState = request.app.state.attune
    scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else ""
    if given and tokens.looks_like(given):
        principal = Principal(await asyncio.to_thread(_execution_token, state, given))
        if not getattr(request.scope.get("endpoint"), "execution_token_allowed", False):
            raise ApiError(403, "an execution token may only create inquiries and read its own "
                                "execution tree")
    else:
        expected = state.settings.api_token
        if expected and not secrets.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "missing or invalid bearer token" if given else "bearer token required")
        principal = Principal()
    request.state.principal = principal
    return principal


# Documents the scheme in OpenAPI; the check itself is `authenticate`, which runs first.
bearer_scheme = Depends(_bearer)


def _execution_token(state: AppState, given: str) -> ExecutionToken:
    token = tokens.verify(state.secret_key, given)
    if token is None:
        raise ApiError(401, tokens.REFUSED)
    with state.db.session() as s:  # valid only while its attempt runs
        attempt = s.scalar(select(ExecutionRow.status).where(ExecutionRow.key == token.key))
        if attempt is None:  # a plain action's one attempt is its run's own row (it has no key),
            # and a workflow's attempt may not be written yet: then its tree's run decides
            attempt = s.scalar(select(ExecutionRow.status).where(
                ExecutionRow.workflow_id == token.root, ExecutionRow.parent.is_(None)).limit(1))
    if attempt in TERMINAL:
        raise ApiError(401, "execution token expired: its execution has ended")
    return token


async def principal(request: Request) -> Principal:
    return getattr(request.state, "principal", Principal())


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int


# Ids are 64-bit integers in every database the records run on.
MAX_ID = 2**63 - 1


async def paging(
    page: int = Query(1, ge=1, le=1_000_000_000, description="1-based page number"),
    per_page: int | None = Query(None, ge=1, le=1000, description="Items per page (default 50)"),
    page_size: int | None = Query(None, ge=1, le=1000,
                                  description="The same as per_page, by the name the answer's pagination uses"),
) -> Paging:
    if per_page is not None and page_size is not None and per_page != page_size:
        raise ApiError(422, f"per_page={per_page} and page_size={page_size} disagree: give one",
                       [{"path": "page_size", "message": "the same as per_page: give one of them"}])
    return Paging(page, per_page or page_size or 50)


E = TypeVar("E", bound=StrEnum)


def statuses(enum: type[E]) -> Callable[..., Awaitable[list[str] | None]]:
    """A `status` filter that takes the parameter repeated (`status=a&status=b`) or comma-separated
    (`status=a,b`, as the CLI and most tools write it); an unknown value is a 422 naming it."""
    known = [str(member) for member in enum]

    def parts(value: str) -> list[str]:
        return [part.strip() for part in value.split(",") if part.strip()]

    def check(value: str) -> str:
        """A pydantic check of each value given, not a raise in the dependency: FastAPI then
        reports it with every other problem of the query (interfaces.md: one detail each)."""
        bad = [part for part in parts(value) if part not in known]
        if bad:
            raise PydanticCustomError("status", "{bad} {verb} not one of {known}",
                                      {"bad": ", ".join(repr(b) for b in bad),
                                       "verb": "is" if len(bad) == 1 else "are", "known": ", ".join(known)})
        return value

    async def dependency(status: list[str] | None = Query(
            None, description=f"One or more of {', '.join(known)}: repeat the parameter or separate "
                              "them with commas")) -> list[str] | None:
        return [part for value in status or [] for part in parts(value)] or None

    # Set as an object: as text (this module's annotations are) it could not name `check`.
    dependency.__annotations__["status"] = list[Annotated[str, AfterValidator(check)]] | None
    return dependency


def created(request: Request, response: Response, *where: object) -> None:
    """A 201's Location: the URL of what it created (`where` below the API's prefix)."""
    path = "/".join(str(part) for part in where)
    response.headers["Location"] = f"{request.scope.get('root_path', '')}{API_PREFIX}/{path}"
