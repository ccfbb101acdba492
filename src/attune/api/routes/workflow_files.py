"""/workflows/{ref}/files: a workflow's files as they are in its pack directory.

The stored definition is the parsed graph; the file keeps what parsing drops (comments, key
order, the editor's `__chart_meta__` node positions), so an editor reopens what it saved.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from attune.api import schemas
from attune.api.deps import AppState, get_state
from attune.api.errors import ApiError, error_responses
from attune.api.gate import GatedRoute
from attune.api.services import definitions, workflow_files
from attune.records.definitions import action_model

router = APIRouter(prefix="/workflows", tags=["workflows"], route_class=GatedRoute)


class WorkflowFilesOut(BaseModel):
    workflow_path: str
    workflow_yaml: str
    action_path: str | None = None
    action_yaml: str | None = None


@router.get("/{ref}/files", response_model=schemas.Item[WorkflowFilesOut],
            summary="Read a workflow's files from its pack directory",
            description="404 when the workflow is unknown or has no files on disk (its pack was "
                        "created through the API, or the file was removed).",
            responses=error_responses(401, 404))
def get_files(ref: str, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        row = definitions.action_or_404(s, ref, workflow=True)
        files = workflow_files.read(row.pack.path, action_model(row))
    if files is None:
        raise ApiError(404, f"workflow '{ref}' has no files in a pack directory")
    return {"data": WorkflowFilesOut(**files)}
