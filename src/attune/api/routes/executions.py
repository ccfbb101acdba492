"""/executions: submit, list, read, workflow view, cancel."""

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
from attune.api.errors import ApiError, error_responses
from attune.api.gate import GatedRoute
from attune.api.services import executions as service
from attune.records.executions import ExecutionFilter
from attune.statuses import ExecutionStatus

router = APIRouter(prefix="/executions", tags=["executions"], route_class=GatedRoute)
ExecutionId = Path(ge=1, le=MAX_ID, description="The execution's id")
MAX_WAIT_SECONDS = 60


@router.post("/execute", status_code=201, response_model=schemas.Item[schemas.Execution],
             summary="Submit an action or workflow",
             description="Validates parameters against the action's schema (422 lists every "
                         "problem), applies defaults, records the execution and starts it.",
             responses=error_responses(400, 401, 404, 409, 422, 503))
async def execute(body: schemas.ExecuteRequest, request: Request, response: Response,
                  state: AppState = Depends(get_state)):
    execution = await service.submit(state, body)
    created(request, response, "executions", execution.id)
    return {"data": execution}


@router.get("", response_model=schemas.ExecutionPage[schemas.Execution], summary="List executions",
            description="Newest first, by creation time (not by id: ids are reserved ahead, "
                        "so a later record can have a lower one). Two ways to page: `page` (an "
                        "offset: a deep page costs the rows it skips, and moves when records "
                        "arrive) or, as fast at any depth, `after`: the records listed after "
                        "that execution; each answer's `pagination.next_after` is the `after` "
                        "of the next page (null on the last).",
            responses=error_responses(401, 422))
async def list_executions(
    status: list[str] | None = Depends(statuses(ExecutionStatus)),
    action_ref: str | None = Query(None, description="Exact ref, or 'pack.*'"),
    parent: int | None = Query(None, ge=1, le=MAX_ID, description="Only children of this execution"),
    top_level_only: bool = Query(False, description="Only submissions, not workflow tasks"),
    after: int | None = Query(None, ge=1, le=MAX_ID,
                              description="Keyset paging: only the records listed after this "
                                          "execution (created before it), newest first; `page` "
                                          "must then be 1 (the default)"),
    page: Paging = Depends(paging),
    state: AppState = Depends(get_state),
):
    if after is not None and page.page != 1:
        raise ApiError(422, "give `after` or `page`, not both",
                       [{"path": "page", "message": "must be 1 (or left out) with `after`"}],
                       code="validation_error")
    f = ExecutionFilter(status=status, action_ref=action_ref, parent=parent, top_level_only=top_level_only)
    return await asyncio.to_thread(service.list_page, state, f, page.page, page.per_page, after)


@execution_token_allowed
@router.post("/claim", response_model=schemas.Item[schemas.ClaimAnswer],
             summary="The execution id of the calling task attempt",
             description="For runtime workers, with the execution token they mint for the attempt "
                         "they are about to start: its record's id (written now if the records "
                         "mirror has not written it yet), which the action finds in "
                         "ATTUNE_EXEC_ID. 409 when the run that owns it has no record yet.",
             responses=error_responses(401, 403, 409))
async def claim(body: schemas.ClaimRequest, who: Principal = Depends(principal),
                state: AppState = Depends(get_state)):
    return {"data": await service.claim(state, who, body)}


@execution_token_allowed
@router.post("/reserve", response_model=schemas.Item[schemas.ReserveAnswer],
             summary="Execution ids for the task attempts a run will dispatch",
             description="For a run's orchestrator, with the execution token it mints for the run: "
                         "`count` execution ids no other row will get. It gives one to each task "
                         "attempt it dispatches, whose action sees it in ATTUNE_EXEC_ID and whose "
                         "record the mirror writes under it.",
             responses=error_responses(401, 403, 422))
async def reserve(body: schemas.ReserveRequest, who: Principal = Depends(principal),
                  state: AppState = Depends(get_state)):
    return {"data": await service.reserve(state, who, body)}


@execution_token_allowed
@router.get("/{execution_id:int}", response_model=schemas.Item[schemas.Execution],
            summary="Get one execution",
            description="With `wait=S`, answers once the execution has ended or after S seconds, "
                        "whichever comes first: a client waiting for the end need not poll.",
            responses=error_responses(401, 404, 422))
async def get_execution(
    execution_id: int = ExecutionId,
    wait: float = Query(0, ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False,  # nan read "at most 60"
                        description=f"Seconds to wait for the end (0-{MAX_WAIT_SECONDS})"),
    who: Principal = Depends(principal),
    state: AppState = Depends(get_state),
):
    return {"data": await service.get_waiting(state, execution_id, wait, who)}


@execution_token_allowed
@router.get("/{execution_id:int}/workflow", response_model=schemas.Item[schemas.WorkflowExecution],
            summary="Get a workflow execution: task graph and each task's state",
            responses=error_responses(401, 404))
async def get_workflow_execution(execution_id: int = ExecutionId, who: Principal = Depends(principal),
                                 state: AppState = Depends(get_state)):
    return {"data": await asyncio.to_thread(service.workflow_view, state, execution_id, who)}


@router.post("/{execution_id:int}/cancel", response_model=schemas.Item[schemas.Execution],
             summary="Cancel an execution",
             description="Returns the record now `canceling` (or `cancelled` when nothing was "
                         "started); 409 when it already ended.",
             responses=error_responses(400, 401, 404, 409, 503))
async def cancel_execution(execution_id: int = ExecutionId, state: AppState = Depends(get_state)):
    return {"data": await service.cancel(state, execution_id)}


@router.post("/{execution_id:int}/pause", response_model=schemas.Item[schemas.Execution],
             summary="Pause a workflow and its nested runs",
             description="Running tasks end, nothing new is dispatched: the record is `pausing`, "
                         "then `paused` once nothing runs. 409 unless it is a running workflow.",
             responses=error_responses(401, 404, 409, 503))
async def pause_execution(execution_id: int = ExecutionId, state: AppState = Depends(get_state)):
    return {"data": await service.pause(state, execution_id)}


@router.post("/{execution_id:int}/resume", response_model=schemas.Item[schemas.Execution],
             summary="Resume a paused workflow",
             description="It continues exactly where it stopped. 409 unless it is pausing or paused.",
             responses=error_responses(401, 404, 409, 503))
async def resume_execution(execution_id: int = ExecutionId, state: AppState = Depends(get_state)):
    return {"data": await service.resume(state, execution_id)}


@router.post("/{execution_id:int}/rerun", status_code=201, response_model=schemas.Item[schemas.Execution],
             summary="Re-run an execution",
             description="A new execution linked to this one (`rerun_of`): the same parameters "
                         "(secrets included) unless `parameters` changes some; with "
                         "`from_failed`, a failed workflow starts from its failed tasks and the "
                         "tasks that succeeded keep their results and variables. 409 while it "
                         "runs, `from_failed` on anything but a failed workflow, or "
                         "`from_failed` after the workflow was edited so that the kept tasks no "
                         "longer fit it (`workflow_changed`: a kept or failed task it no longer "
                         "has, a new task that would run before the failed ones; each named in "
                         "`details`).",
             responses=error_responses(400, 401, 404, 409, 503))
async def rerun_execution(request: Request, response: Response, body: schemas.RerunRequest | None = None,
                          execution_id: int = ExecutionId, state: AppState = Depends(get_state)):
    execution = await service.rerun(state, execution_id, body or schemas.RerunRequest())
    created(request, response, "executions", execution.id)
    return {"data": execution}
