"""/workflows: CRUD of workflow definitions (each with its companion action) and validation."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from attune.api import schemas
from attune.api.deps import AppState, Paging, created, get_state, paging
from attune.api.errors import ApiError, error_responses
from attune.api.gate import GatedRoute
from attune.api.services import definitions as service
from attune.api.services.definitions import REMOVE_FILES_HELP
from attune.problems import Problem
from attune.records.models import WorkflowDefinitionRow

router = APIRouter(prefix="/workflows", tags=["workflows"], route_class=GatedRoute)
FILES_NOTE = ("In a pack registered from a directory, the workflow is also written there as "
              "`actions/<name>.yaml` and `actions/<workflow_file>` (YAML text verbatim), so the "
              "next registration loads it; see GET /workflows/{ref}/files.")

_VALIDATE_BODY = {"requestBody": {"required": True, "content": {
    "application/x-yaml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}},
    "application/json": {"schema": schemas.ValidateRequest.model_json_schema()},
}}}


@router.post("/validate", response_model=schemas.ValidateResult, summary="Validate workflow YAML",
             description="Body: the workflow file's text (text/plain or application/x-yaml) or "
                         "JSON `{yaml}`. Always 200; `errors` carry line:column.",
             openapi_extra=_VALIDATE_BODY, responses=error_responses(400, 401, 415))
async def validate_workflow(request: Request, state: AppState = Depends(get_state)):
    raw = await request.body()
    ctype = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
    if ctype == "application/json":
        body = await request.json()  # read and checked as every JSON body (attune.api.gate)
        try:
            text = schemas.ValidateRequest.model_validate(body).yaml
        except ValidationError as exc:  # as every other route answers a body of the wrong shape
            details = [{"path": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]}
                       for e in exc.errors()]
            raise ApiError(422, f"{len(details)} problem(s) in the request: expected JSON "
                                '{"yaml": "<the workflow file\'s text>"}', details) from None
    elif ctype in ("text/plain", "application/x-yaml", "application/yaml", "text/yaml", "text/x-yaml"):
        if not raw.strip():
            raise ApiError(400, "the request body is empty: send the workflow file's YAML text")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:  # as `attune validate` and pack registration say it
            problem = Problem("workflow.yaml", 1, 1, f"cannot read file: {exc}")
            return schemas.ValidateResult(valid=False, errors=[schemas.ErrorDetail(**problem.detail())])
    else:
        raise ApiError(415, f"unsupported content type '{ctype}': send YAML text or JSON {{yaml}}")
    def check() -> schemas.ValidateResult:  # reads the registry: in a thread, off the event loop
        with state.db.session() as s:
            return service.validate_workflow_text(s, text)
    return await asyncio.to_thread(check)


@router.get("", response_model=schemas.Page[schemas.WorkflowOut], summary="List workflows",
            responses=error_responses(401, 422))
def list_workflows(pack_ref: str | None = Query(None, description="Only this pack's workflows"),
                   page: Paging = Depends(paging), state: AppState = Depends(get_state)):
    with state.db.session() as s:
        rows, total = service.list_rows(s, WorkflowDefinitionRow, page.page, page.per_page,
                                        pack_ref=pack_ref)
        return {"items": [service.workflow_out(r) for r in rows],
                "pagination": schemas.Pagination.of(page.page, page.per_page, total)}


@router.post("", status_code=201, response_model=schemas.Item[schemas.WorkflowOut],
             summary="Create a workflow and its companion action",
             description="The graph comes as `definition` (JSON) or `yaml` (text); problems are "
                         "422 with line:column. 409 when the ref already exists. " + FILES_NOTE +
                         " 409 too when either file already exists there.",
             responses=error_responses(401, 404, 409, 422))
def create_workflow(body: schemas.WorkflowCreate, request: Request, response: Response,
                    state: AppState = Depends(get_state)):
    with state.db.session() as s:
        workflow = service.create_workflow(s, body)
    created(request, response, "workflows", workflow.ref)
    return {"data": workflow}


@router.get("/{ref}", response_model=schemas.Item[schemas.WorkflowOut], summary="Get a workflow",
            responses=error_responses(401, 404))
def get_workflow(ref: str, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return {"data": service.workflow_out(service.action_or_404(s, ref, workflow=True).workflow)}


@router.put("/{ref}", response_model=schemas.Item[schemas.WorkflowOut], summary="Replace a workflow",
            description="`ref` and pack are immutable: a body naming another one gets 409. "
                        + FILES_NOTE + " The action YAML that declares the ref is rewritten in place.",
            responses=error_responses(401, 404, 409, 422))
def update_workflow(ref: str, body: schemas.WorkflowIn, state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return {"data": service.update_workflow(s, ref, body)}


@router.delete("/{ref}", status_code=204, response_class=Response,
               summary="Delete a workflow and its companion action",
               description=REMOVE_FILES_HELP,
               responses=error_responses(401, 404) | service.DELETED_RESPONSES)
def delete_workflow(ref: str, remove_files: bool = Query(False, description="Also delete its definition files"),
                    state: AppState = Depends(get_state)):
    with state.db.session() as s:
        return service.deleted_response(
            service.delete_action(s, ref, workflow=True, remove_files=remove_files))
