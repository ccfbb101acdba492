"""/meta: what a client needs to know about this deployment (the web UI's Temporal links)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from attune.api import schemas
from attune.api.deps import AppState, get_state
from attune.api.errors import error_responses
from attune.settings import Settings

router = APIRouter(tags=["meta"])


class Meta(BaseModel):
    version: str
    temporal_ui_url: str = Field(description="Base URL of the Temporal Web UI")
    temporal_namespace: str


def temporal_ui_url(settings: Settings) -> str:
    """ATTUNE_TEMPORAL_UI_URL, else the Temporal server's host on the Web UI port."""
    if settings.temporal_ui_url:
        return settings.temporal_ui_url.rstrip("/")
    host = settings.temporal_address.rpartition(":")[0] or "127.0.0.1"
    return f"http://{host}:{settings.temporal_ui_port}"


def _version() -> str:
    try:
        return version("attune")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


@router.get("/meta", response_model=schemas.Item[Meta], summary="Deployment facts for clients",
            description="The Temporal Web UI's base URL and namespace: a run is at "
                        "`{temporal_ui_url}/namespaces/{temporal_namespace}/workflows/{workflow_id}`.",
            responses=error_responses(401))
def meta(state: AppState = Depends(get_state)):
    s = state.settings
    return {"data": Meta(version=_version(), temporal_ui_url=temporal_ui_url(s),
                         temporal_namespace=s.temporal_namespace)}
