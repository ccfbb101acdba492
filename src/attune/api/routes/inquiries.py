"""/inquiries: list, read, create (by an action with its execution token), respond, cancel."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from attune.api import schemas
from attune.api.deps import (
    MAX_ID,
    AppState,
    Paging,
    Principal,
    created,
    execution_token_allowed,
    get_state,
    paging,
    principal,
    statuses,
)
from attune.api.errors import error_responses
from attune.api.gate import GatedRoute
from attune.api.services import inquiries as service
from attune.records.inquiries import InquiryFilter
from attune.statuses import InquiryStatus

router = APIRouter(prefix="/inquiries", tags=["inquiries"], route_class=GatedRoute)
InquiryId = Path(ge=1, le=MAX_ID, description="The inquiry's id")


@router.get("", response_model=schemas.Page[schemas.Inquiry], summary="List inquiries",
            description="Newest first.", responses=error_responses(401, 422))
async def list_inquiries(
    status: list[str] | None = Depends(statuses(InquiryStatus)),
    execution: int | None = Query(None, ge=1, le=MAX_ID, description="Asked by this execution or, for a "
                                 "workflow, by any of its tasks (nested workflows' too)"),
    page: Paging = Depends(paging),
    state: AppState = Depends(get_state),
):
    f = InquiryFilter(status=status, execution=execution)
    return await asyncio.to_thread(service.list_page, state, f, page.page, page.per_page)


@execution_token_allowed
@router.post("", status_code=201, response_model=schemas.Item[schemas.Inquiry],
             summary="Ask a person (from a running action)",
             description="With the execution token of the asking action (ATTUNE_API_TOKEN). "
                         "Asking the same question again (same task, same purpose or prompt) "
                         "returns the existing inquiry with 200.",
             responses={200: {"model": schemas.Item[schemas.Inquiry],
                              "description": "The existing inquiry"},
                        **error_responses(401, 403)})
async def create_inquiry(body: schemas.InquiryCreate, request: Request, response: Response,
                         who: Principal = Depends(principal), state: AppState = Depends(get_state)):
    inquiry, new = await asyncio.to_thread(service.create, state, who, body)
    response.status_code = 201 if new else 200
    if new:
        created(request, response, "inquiries", inquiry.id)
    return {"data": inquiry}


@execution_token_allowed
@router.get("/{inquiry_id:int}", response_model=schemas.Item[schemas.Inquiry],
            summary="Get one inquiry", responses=error_responses(401, 403, 404))
async def get_inquiry(inquiry_id: int = InquiryId, who: Principal = Depends(principal),
                      state: AppState = Depends(get_state)):
    return {"data": await asyncio.to_thread(service.get, state, who, inquiry_id)}


@router.post("/{inquiry_id:int}/respond", response_model=schemas.Item[schemas.Inquiry],
             summary="Answer an inquiry",
             description="The response must meet the inquiry's response_schema (422 lists every "
                         "problem); a second answer, or one after its timeout, gets 409.",
             responses=error_responses(401, 404, 409))
async def respond(body: schemas.InquiryResponse, inquiry_id: int = InquiryId,
                  state: AppState = Depends(get_state)):
    answered = await asyncio.to_thread(service.respond, state, inquiry_id, body.response)
    await state.mirror.deliver_inquiries()  # the run has it before the caller's next request
    return {"data": answered}


@router.post("/{inquiry_id:int}/cancel", response_model=schemas.Item[schemas.Inquiry],
             summary="Withdraw an inquiry", description="No answer will come: the waiting task "
             "fails (its failed() transitions fire). 409 once it is answered, timed out or cancelled.",
             responses=error_responses(401, 404, 409))
async def cancel(inquiry_id: int = InquiryId, state: AppState = Depends(get_state)):
    withdrawn = await asyncio.to_thread(service.cancel, state, inquiry_id)
    await state.mirror.deliver_inquiries()
    return {"data": withdrawn}
