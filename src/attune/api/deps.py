"""FastAPI dependencies: the app's shared state, bearer-token auth and paging parameters."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from attune.api.engine import EngineHandle
from attune.api.errors import ApiError
from attune.records.db import Database
from attune.records.mirror import Mirror
from attune.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="Required when ATTUNE_API_TOKEN is set")


@dataclass
class AppState:
    settings: Settings
    db: Database
    engine: EngineHandle
    mirror: Mirror


def get_state(request: Request) -> AppState:
    return request.app.state.attune


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    expected = request.app.state.attune.settings.api_token
    if not expected:
        return
    given = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or invalid bearer token" if given else "bearer token required")


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int


# Ids are 64-bit integers in every database the records run on.
MAX_ID = 2**63 - 1


def paging(
    page: int = Query(1, ge=1, le=1_000_000_000, description="1-based page number"),
    per_page: int = Query(50, ge=1, le=1000, description="Items per page"),
) -> Paging:
    return Paging(page, per_page)
