"""/packs: list, create, read, delete, and register a pack directory from disk."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from attune.api import schemas
from attune.api.deps import AppState, Paging, created, get_state, paging
from attune.api.errors import error_responses
from attune.api.gate import GatedRoute
from attune.api.services import definitions as service
from attune.records.models import PackRow

router = APIRouter(prefix="/packs", tags=["packs"], route_class=GatedRoute)


@router.get("", response_model=schemas.Page[schemas.PackOut], summary="List packs",
            responses=error_responses(401, 422))
def list_packs(page: Paging = Depends(paging), state: AppState = Depends(get_state)):
    with state.db.session() as s:
        rows, total = service.list_rows(s, PackRow, page.page, page.per_page)
        return {"items": [service.pack_out(r) for r in rows],
                "pagination": schemas.Pagination.of(page.page, page.per_page, total)}


@router.post("", status_code=201, response_model=schemas.Item[schemas.PackOut],
             summary="Create an empty pack (actions and workflows are added through the API)",
             responses=error_responses(401, 409, 422))
def create_pack(body: schemas.PackIn, request: Request, response: Response,
                state: AppState = Depends(get_state)):
    with state.db.session() as s:
        pack = service.create_pack(s, body)
    created(request, response, "packs", pack.ref)
    return {"data": pack}


@router.post("/register", response_model=schemas.Item[schemas.PackOut],
             summary="Register a pack directory",
             description="Loads and validates the directory (sibling packs resolve cross-pack "
                         "refs) and upserts its actions and workflows; actions no longer in the "
                         "directory are removed. 422 lists every problem with file line:column, "
                         "and the registered workflows that would run an action it removes. 409 "
                         "when a pack with its ref is registered from another directory that "
                         "still holds it. The path is on the API's machine; a relative one is "
                         "taken from its packs directory (ATTUNE_PACKS_DIR) when that is set.",
             responses=error_responses(401, 404, 409, 422))
def register_pack(body: schemas.RegisterRequest, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        # A relative path is the API's packs directory's when ATTUNE_PACKS_DIR is set (the
        # compose deployment's /packs), else its working directory's, as before.
        settings = state.settings
        packs_dir = settings.packs_dir if "packs_dir" in settings.model_fields_set else None
        return {"data": service.register(s, body.path, packs_dir)}


@router.get("/{ref}", response_model=schemas.Item[schemas.PackOut], summary="Get a pack",
            responses=error_responses(401, 404))
def get_pack(ref: str, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return {"data": service.pack_out(service.pack_or_404(s, ref))}


@router.delete("/{ref}", status_code=204, response_class=Response,
               summary="Delete a pack with its actions and workflows",
               responses=error_responses(401, 404))
def delete_pack(ref: str, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        s.delete(service.pack_or_404(s, ref))
