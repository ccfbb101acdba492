"""/meta: what a client needs to know about this deployment (the web UI's Temporal links, and
the limits the workflow builder checks as a field is typed, so the numbers live here only)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from attune.api import schemas
from attune.api.deps import AppState, get_state
from attune.api.errors import error_responses
from attune.api.gate import GatedRoute
from attune.packs.schema import MAX_ACTION_REF
from attune.settings import Settings
from attune.workflows.definition import MAX_DURATION_SECONDS, MAX_TASK_NAME_LENGTH, RESERVED_TASK_NAMES

router = APIRouter(tags=["meta"], route_class=GatedRoute)


class Limits(BaseModel):
    """What the API refuses in a workflow, for a client to say so before it sends one."""

    max_task_name_length: int = Field(MAX_TASK_NAME_LENGTH, description="Characters in a task name")
    reserved_task_names: list[str] = Field(sorted(RESERVED_TASK_NAMES))
    max_duration_seconds: int = Field(MAX_DURATION_SECONDS, description="Any timeout or delay")
    max_action_ref_length: int = Field(MAX_ACTION_REF, description="Characters in `<pack>.<name>`")


class Meta(BaseModel):
    version: str
    temporal_ui_url: str = Field(description="Base URL of the Temporal Web UI")
    temporal_namespace: str
    limits: Limits = Field(default_factory=Limits)


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
                        "`{temporal_ui_url}/namespaces/{temporal_namespace}/workflows/{workflow_id}`; "
                        "and the limits a workflow must keep (`limits`).",
            responses=error_responses(401))
def meta(state: AppState = Depends(get_state)):
    s = state.settings
    return {"data": Meta(version=_version(), temporal_ui_url=temporal_ui_url(s),
                         temporal_namespace=s.temporal_namespace)}
