"""/actions: CRUD of script actions (workflows' companion actions are listed too)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response

from attune.api import schemas
from attune.api.deps import AppState, Paging, created, get_state, paging
from attune.api.errors import error_responses
from attune.api.gate import GatedRoute
from attune.api.services import definitions as service
from attune.api.services.definitions import REMOVE_FILES_HELP
from attune.records.models import ActionRow

router = APIRouter(prefix="/actions", tags=["actions"], route_class=GatedRoute)


@router.get("", response_model=schemas.Page[schemas.ActionOut], summary="List actions",
            responses=error_responses(401, 422))
def list_actions(pack_ref: str | None = Query(None, description="Only this pack's actions"),
                 page: Paging = Depends(paging), state: AppState = Depends(get_state)):
    with state.db.session() as s:
        rows, total = service.list_rows(s, ActionRow, page.page, page.per_page, pack_ref=pack_ref)
        return {"items": [service.action_out(r) for r in rows],
                "pagination": schemas.Pagination.of(page.page, page.per_page, total)}


@router.post("", status_code=201, response_model=schemas.Item[schemas.ActionOut],
             summary="Create a script action", description="409 when the ref already exists.",
             responses=error_responses(401, 404, 409, 422))
def create_action(body: schemas.ActionCreate, request: Request, response: Response,
                  state: AppState = Depends(get_state)):
    with state.db.session() as s:
        action = service.create_action(s, body)
    created(request, response, "actions", action.ref)
    return {"data": action}


@router.get("/{ref}", response_model=schemas.Item[schemas.ActionOut], summary="Get an action",
            responses=error_responses(401, 404))
def get_action(ref: str, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return {"data": service.action_out(service.action_or_404(s, ref))}


@router.put("/{ref}", response_model=schemas.Item[schemas.ActionOut], summary="Replace an action",
            description="`ref` and pack are immutable: a body naming another one gets 409.",
            responses=error_responses(401, 404, 409, 422))
def update_action(ref: str, body: schemas.ActionIn, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return {"data": service.update_action(s, ref, body)}


@router.delete("/{ref}", status_code=204, response_class=Response,
               summary="Delete an action (a workflow's companion takes its workflow with it)",
               description=REMOVE_FILES_HELP,
               responses=error_responses(401, 404) | service.DELETED_RESPONSES)
def delete_action(ref: str, remove_files: bool = Query(False, description="Also delete its definition files"),
                  state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return service.deleted_response(
            service.delete_action(s, ref, workflow=None, remove_files=remove_files))
