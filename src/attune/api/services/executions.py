"""Submitting, reading and cancelling executions: what the execution routes call."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from attune.api import schemas
from attune.api.deps import AppState, Principal
from attune.api.errors import ApiError, not_found
from attune.contract import RunRecord, WorkflowNotFound
from attune.packs.catalog import MissingAction
from attune.packs.models import Action
from attune.packs.parameters import validate_parameters
from attune.problems import under
from attune.records import executions as records
from attune.records import reserved_ids
from attune.records.definitions import closure, pack_configs
from attune.records.models import ExecutionRow, utcnow
from attune.secrets import REDACTED, redact, sealed_at
from attune.statuses import TERMINAL, ExecutionStatus
from attune.workflows.keys import AttemptKey, attempt_of, record_key
from attune.workflows.rerun import misfits

log = logging.getLogger("attune.api")
OPERATOR = Principal()


# In lists, a result or config larger than this (as JSON) is left out: a page stays small
# whatever the rows hold, and GET /executions/{id} returns it whole.
LIST_FIELD_BYTES = 8 * 1024


# How a status reads in a sentence ("execution 94 has already timed out", not "is already
# timeout"): the verb and the words after it, an adverb going between them.
_STATUS_PHRASES: dict[str, tuple[str, str]] = {
    ExecutionStatus.REQUESTED: ("is", "requested"), ExecutionStatus.SCHEDULING: ("is", "being scheduled"),
    ExecutionStatus.SCHEDULED: ("is", "scheduled"), ExecutionStatus.RUNNING: ("is", "running"),
    ExecutionStatus.PAUSING: ("is", "pausing"), ExecutionStatus.PAUSED: ("is", "paused"),
    ExecutionStatus.COMPLETED: ("has", "completed"), ExecutionStatus.FAILED: ("has", "failed"),
    ExecutionStatus.CANCELING: ("is", "being cancelled"), ExecutionStatus.CANCELLED: ("was", "cancelled"),
    ExecutionStatus.TIMEOUT: ("has", "timed out"), ExecutionStatus.ABANDONED: ("was", "abandoned"),
}


def status_phrase(status: str, adverb: str = "") -> str:
    """`status` as words after "execution N" ("has already timed out", "is still running")."""
    verb, words = _STATUS_PHRASES.get(status, ("is", status))
    return " ".join(part for part in (verb, adverb, words) if part)


def to_schema(row: ExecutionRow, *, in_list: bool = False) -> schemas.Execution:
    execution = schemas.Execution.model_validate(row)
    if not in_list:
        return execution
    large = [name for name in ("result", "config")
             if len(json.dumps(getattr(row, name), default=str)) > LIST_FIELD_BYTES]
    return execution.model_copy(update={**{name: None for name in large}, "omitted": large})


async def submit(state: AppState, req: schemas.ExecuteRequest, *, rerun_of: int | None = None,
                 resume: dict[str, Any] | None = None) -> schemas.Execution:
    """Validate, record (`requested`), start, mark `scheduled`. A failed start ends `failed`."""
    accepted = await asyncio.to_thread(_accept, state, req, rerun_of, resume)
    try:
        client = await state.engine.get()
        await client.start(catalog=accepted.catalog, action_ref=accepted.action.ref,
                           parameters=accepted.parameters, workflow_id=accepted.workflow_id,
                           pack_configs=accepted.configs, config_secrets=accepted.config_secrets,
                           record_ids=accepted.task_ids,
                           execution_id=accepted.row_id,
                           api_url=state.settings.api_url, queue_prefix=state.settings.queue_prefix,
                           max_nesting_depth=state.settings.max_nesting_depth,
                           continue_after=state.settings.continue_as_new_after, resume=resume)
    except Exception as exc:
        failure = state.engine.failure(exc, f"start execution {accepted.row_id}")  # logs the raw error
        await asyncio.to_thread(_write, state, records.mark_failed, accepted.row_id, failure.message)
        raise ApiError(503, failure.message,
                       [{"path": "execution", "message": f"execution {accepted.row_id} is failed"}],
                       code="start_failed") from exc
    scheduled = await asyncio.to_thread(_write, state, records.mark_scheduled, accepted.row_id)
    state.mirror.follow(accepted.workflow_id)
    return scheduled


@dataclass(frozen=True)
class _Accepted:
    """A submission checked and recorded: what its start needs."""
    catalog: dict[str, Action]
    action: Action
    parameters: dict[str, Any]
    configs: dict[str, dict[str, Any]]
    config_secrets: dict[str, set[tuple[str, ...]]]  # per pack: where its conf_schema marks secrets
    row_id: int
    workflow_id: str
    task_ids: list[int] | None  # None for a plain action: it has no task attempts


def _accept(state: AppState, req: schemas.ExecuteRequest, rerun_of: int | None,
            resume: dict[str, Any] | None = None) -> _Accepted:
    """Check the submission and record it (`requested`), in one transaction: the record is
    committed before the start, with its workflow id, so a crash in between leaves a row the
    mirror can settle (see Mirror._check_requested) rather than an invisible run. A re-run from
    failed tasks (`resume`) is checked against the definition it will start with."""
    size = len(json.dumps(req.parameters, default=str))
    limit = state.settings.max_parameters_bytes
    if size > limit:
        raise ApiError(413, f"the parameters are {size:,} bytes of JSON, over the limit of "
                            f"{limit:,} (setting ATTUNE_MAX_PARAMETERS_BYTES); pass large data "
                            "by reference (a path or URL)",
                       [{"path": "parameters", "message": f"{size:,} bytes > {limit:,}"}])
    if rerun_of is None:  # a re-run's own parameters come sealed from its run (see rerun)
        refuse_sealed(req.parameters, "parameters")
    with state.db.session() as s:
        try:
            catalog = closure(s, req.action_ref)
        except KeyError:
            raise not_found("action", req.action_ref) from None
        except MissingAction as exc:  # the request is fine; what is registered is not
            raise ApiError(409, str(exc), [{"path": "action_ref", "message": str(exc)}]) from None
        configs, config_secrets = pack_configs(s, {a.pack_ref for a in catalog.values()})
        action = catalog[req.action_ref]
        if not action.enabled:
            raise ApiError(400, f"action '{action.ref}' is disabled")
        if resume is not None and rerun_of is not None:
            _check_fits(s, action, rerun_of, resume)
        params, problems = validate_parameters(action, req.parameters)
        if problems:
            raise ApiError(422, f"{len(problems)} problem(s) with the parameters of '{action.ref}'",
                           [p.detail() for p in under("parameters", problems)])
        # A workflow's task attempts' ids come with it, one per task that runs a script: a run
        # that needs more (loops, with_items, retries) asks as it goes (engine/record_ids.py).
        row, ids = records.create_requested(
            s, action_ref=action.ref, config=redact(params, action.secret_names()),
            timeout_seconds=action.timeout_seconds, is_workflow=action.is_workflow,
            rerun_of=rerun_of, task_ids=action.script_attempts(catalog) if action.is_workflow else 0)
        assert row.workflow_id is not None
        return _Accepted(catalog, action, params, configs, config_secrets, row.id, row.workflow_id,
                         ids if action.is_workflow else None)


def refuse_sealed(value: Any, where: str) -> None:
    """A sealed secret (`{"__attune_secret__": "gAAAA..."}`, as Temporal's history shows one)
    is never taken from a request: the worker would unseal it for whoever sent it, so a
    ciphertext read from the history was as good as the secret."""
    path = sealed_at(value, where)
    if path is not None:
        raise ApiError(422, f"{path}: a sealed secret value cannot be submitted; give the value "
                            "itself (a secret parameter is sealed by the API)",
                       [{"path": path, "message": "sealed secret value"}])


def _write(state: AppState, fn: Any, *args: Any) -> schemas.Execution:
    with state.db.session() as s:
        return to_schema(fn(s, *args))


def get(state: AppState, execution_id: int, who: Principal = OPERATOR) -> schemas.Execution:
    with state.db.session() as s:
        return to_schema(_readable(s, execution_id, who))


def _readable(s: Session, execution_id: int, who: Principal) -> ExecutionRow:
    """The row, if it exists and `who` may read it (an execution token: its own tree only)."""
    row = s.get(ExecutionRow, execution_id)
    if row is None or not who.may_read(row.key or row.workflow_id):
        raise not_found("execution", execution_id)
    return row


async def get_waiting(state: AppState, execution_id: int, wait: float,
                      who: Principal = OPERATOR) -> schemas.Execution:
    """The record, once it has ended or after `wait` seconds. Woken by the mirror's writes to its
    row, and within a second by its sweep of waited rows when the end was written elsewhere
    (another API's mirror, a cancel)."""
    deadline = time.monotonic() + wait
    while True:
        row = await asyncio.to_thread(get, state, execution_id, who)
        left = deadline - time.monotonic()
        if row.status in TERMINAL or left <= 0:
            return row
        await state.mirror.wait_for_change(execution_id, left)


def list_page(state: AppState, f: records.ExecutionFilter, page: int, per_page: int,
              after: int | None = None) -> schemas.ExecutionPage[schemas.Execution]:
    with state.db.session() as s:
        try:
            listed = records.list_executions(s, f, page, per_page, after)
        except records.UnknownCursor:
            raise ApiError(422, f"no execution {after} to list the ones after",
                           [{"path": "after", "message": "must be the id of an execution, as "
                                                         "`pagination.next_after` gives"}],
                           code="validation_error") from None
        last = listed.rows[-1].id if listed.rows else None
        return schemas.ExecutionPage[schemas.Execution](
            items=[to_schema(r, in_list=True) for r in listed.rows],
            pagination=schemas.KeysetPagination.keyset(listed.page, per_page, listed.total,
                                                       listed.has_next, last, listed.has_previous),
        )


def workflow_view(state: AppState, execution_id: int,
                  who: Principal = OPERATOR) -> schemas.WorkflowExecution:
    with state.db.session() as s:
        row = _readable(s, execution_id, who)
        wf = records.workflow_of(s, execution_id)
        if wf is None:
            raise ApiError(404, f"execution {execution_id} is not a workflow execution")
        view = schemas.WorkflowExecution.model_validate(wf)
        if view.status in TERMINAL:  # a run ended from outside could not clear its waits
            view.waiting = []
        view.tasks = [to_schema(r, in_list=True) for r in records.task_rows(s, execution_id)]
        if row.rerun_of is not None:
            view.kept_tasks = [to_schema(r, in_list=True)
                               for r in records.kept_tasks(s, execution_id)]
        return view


async def claim(state: AppState, who: Principal, body: schemas.ClaimRequest) -> schemas.ClaimAnswer:
    if who.token is None:
        raise ApiError(403, "only a runtime worker claims an execution id, with the execution "
                            "token it minted for the attempt")
    key = AttemptKey.parse(attempt_of(who.token.key))
    record = RunRecord(key=who.token.key, workflow_id=who.token.workflow_id, task_name=key.task,
                       iteration=key.iteration, task_index=key.index, retry_count=key.attempt,
                       original_key=record_key(who.token.workflow_id, key.first()) if key.attempt else None,
                       action_ref=body.action_ref, status=ExecutionStatus.RUNNING,
                       parameters=body.parameters, timeout_seconds=body.timeout_seconds,
                       started_at=utcnow())
    found = await state.mirror.claim(record)
    if found is None:
        raise ApiError(409, f"the run that owns {who.token.key} has no record yet")
    return schemas.ClaimAnswer(id=found)


async def reserve(state: AppState, who: Principal, body: schemas.ReserveRequest) -> schemas.ReserveAnswer:
    if who.token is None or who.token.scope != "run":  # an action's token may not burn ids
        raise ApiError(403, "only a run's orchestrator reserves execution ids, with the execution "
                            "token it minted for the run")
    return schemas.ReserveAnswer(ids=await asyncio.to_thread(_reserve, state, body.count))


def _reserve(state: AppState, count: int) -> list[int]:
    with state.db.session() as s:
        return reserved_ids.reserve(s, count)


# --- run control (spec §9) -------------------------------------------------------------------------

async def pause(state: AppState, execution_id: int) -> schemas.Execution:
    """Running tasks end, nothing new is dispatched (here and in nested runs): `pausing`, then
    `paused` once nothing runs. 409 unless it runs."""
    row, control = await asyncio.to_thread(_workflow_row, state, execution_id, "pause")
    if row.status not in (ExecutionStatus.SCHEDULED, ExecutionStatus.RUNNING):
        raise ApiError(409, f"execution {execution_id} {status_phrase(row.status)}: only a running workflow "
                            "can be paused")
    return await _steer(state, row, "pause", control, ExecutionStatus.PAUSING)


async def resume(state: AppState, execution_id: int) -> schemas.Execution:
    row, control = await asyncio.to_thread(_workflow_row, state, execution_id, "resume")
    if row.status not in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
        raise ApiError(409, f"execution {execution_id} {status_phrase(row.status)}, not paused")
    return await _steer(state, row, "resume", control, ExecutionStatus.RUNNING)


async def _ended_as(client: Any, workflow_id: str) -> str:
    try:
        return str((await client.status(workflow_id)).status)
    except Exception:  # noqa: BLE001 - gone from the server too (retention)
        return "ended"


def _workflow_row(state: AppState, execution_id: int, verb: str) -> tuple[schemas.Execution, int]:
    """The execution and the number its next pause or resume gets (RunState.control)."""
    with state.db.session() as s:
        row = _readable(s, execution_id, OPERATOR)
        wf = records.workflow_of(s, execution_id)
        if wf is None:
            raise ApiError(409, f"execution {execution_id} runs a plain action: only a workflow "
                                f"can {verb}")
        if row.parent is not None:  # spec §9: nested workflows pause and resume with their tree
            top = records.top_of(s, row)
            raise ApiError(409, f"execution {execution_id} is a nested workflow of execution "
                                f"{top.id}: {verb} execution {top.id}, and its nested workflows "
                                "follow")
        return to_schema(row), wf.control + 1


async def _steer(state: AppState, row: schemas.Execution, what: str, control: int,
                 status: ExecutionStatus) -> schemas.Execution:
    """Signal the run, numbered, then record what was asked: the mirror keeps it until the run
    reports that number (a report read before it heard the signal is older)."""
    client = await state.engine.require(f"{what} execution {row.id}")
    assert row.workflow_id is not None
    try:
        await (client.pause if what == "pause" else client.resume)(row.workflow_id, control)
    except WorkflowNotFound:  # it ended after its record was last written: name how
        state.mirror.freshen(row.workflow_id)
        raise ApiError(409, f"execution {row.id} is {await _ended_as(client, row.workflow_id)}, not "
                            f"{'running' if what == 'pause' else 'paused'}") from None
    except Exception as exc:
        raise state.engine.failure(exc, f"{what} execution {row.id}") from exc
    state.mirror.freshen(row.workflow_id)
    return await asyncio.to_thread(_write, state, records.mark_status, row.id, status, control)


async def rerun(state: AppState, execution_id: int, body: schemas.RerunRequest) -> schemas.Execution:
    """A new execution of the same action, linked to this one: with the same parameters (secrets
    included, from the run itself) or edited ones, or, for a failed workflow `from_failed`,
    starting from its failed tasks with the succeeded ones kept."""
    original = await asyncio.to_thread(get, state, execution_id)
    if original.parent is not None:
        raise ApiError(400, f"execution {execution_id} is a task of execution {original.parent}; "
                            "re-run the workflow instead")
    if original.status not in TERMINAL:
        raise ApiError(409, f"execution {execution_id} {status_phrase(original.status, 'still')}")
    resume = await asyncio.to_thread(_resume_state, state, execution_id) if body.from_failed else None
    refuse_sealed(body.parameters or {}, "parameters")
    parameters = await _original_parameters(state, original)
    for name, value in (body.parameters or {}).items():
        if value != REDACTED:  # a secret shown as ******** stays what it was
            parameters[name] = value
    request = schemas.ExecuteRequest(action_ref=original.action_ref, parameters=parameters)
    return await submit(state, request, rerun_of=execution_id, resume=resume)


async def _original_parameters(state: AppState, original: schemas.Execution) -> dict[str, Any]:
    """What it ran with, secrets still sealed; the records only hold them redacted."""
    if original.workflow_id is not None:
        client = await state.engine.require(f"re-run execution {original.id}")
        try:
            return await client.parameters_of(original.workflow_id)
        except WorkflowNotFound:
            pass  # gone from the server (retention): the records are all there is
        except Exception as exc:
            raise state.engine.failure(exc, f"re-run execution {original.id}") from exc
    if REDACTED in (original.config or {}).values():
        raise ApiError(409, f"execution {original.id} is no longer on the orchestration server, "
                            "and its records hold its secrets redacted: give them again in "
                            "`parameters`")
    return dict(original.config or {})


def _resume_state(state: AppState, execution_id: int) -> dict[str, Any]:
    with state.db.session() as s:
        row = _readable(s, execution_id, OPERATOR)
        wf = records.workflow_of(s, execution_id)
        if wf is None:
            raise ApiError(409, f"execution {execution_id} ({row.action_ref}) is not a workflow: it has "
                                "no tasks to re-run from; re-run it whole (without from_failed)")
        if row.status != ExecutionStatus.FAILED:
            raise ApiError(409, f"execution {execution_id} {status_phrase(row.status)}: only a failed workflow "
                                "can be re-run from its failed tasks")
        if not wf.failed_tasks:
            raise ApiError(409, f"execution {execution_id} has no failed task to re-run from "
                                f"({wf.error_message or 'it failed before any task ended'})")
        # What this run completed itself, and what it kept from the run it re-ran (if it did).
        completed = set(wf.completed_tasks or [])
        results = {name: records.task_result(records.kept_rows(s, run))
                   for name, run in records.latest_runs(s, execution_id).items()
                   if name in completed and run.status == ExecutionStatus.COMPLETED}
        kept: dict[str, list[ExecutionRow]] = {}
        for row in records.kept_tasks(s, execution_id):
            kept.setdefault((row.workflow_task or {})["task_name"], []).append(row)
        results.update({name: records.task_result(rows) for name, rows in kept.items()})
        return {"results": results, "variables": wf.variables or {}, "rerun": list(wf.failed_tasks)}


def _check_fits(s: Session, action: Action, rerun_of: int, resume: dict[str, Any]) -> None:
    """409 when the workflow was edited since the run in a way its kept state no longer fits
    (workflows/rerun.py): a kept or failed task it lost, a new task the re-run would never run.
    Re-running from failed tasks against the run's own definition is not offered: the records
    keep only its graph, the engine's copy goes with the server's retention, and a failed task's
    edited input is what a re-run from failed tasks is mostly for."""
    wf = records.workflow_of(s, rerun_of)
    if action.workflow is None or wf is None:
        return
    found = misfits(action.workflow, wf.task_graph or {}, resume["results"], resume["rerun"])
    if not found:
        return
    where = {"file": f"actions/{action.workflow_file}"} if action.workflow_file else {}
    raise ApiError(
        409, f"execution {rerun_of} cannot be re-run from its failed tasks: workflow "
             f"'{action.ref}' changed since it ran, and "
             + "; ".join(f"task '{m.task}' {m.why}" for m in found)
             + ". Re-run it whole (without from_failed), or restore the workflow as it ran "
               "and register its pack again",
        [{"path": f"tasks.{m.task}", "message": f"task '{m.task}' {m.why}", **where} for m in found],
        code="workflow_changed")


async def cancel(state: AppState, execution_id: int) -> schemas.Execution:
    row = await asyncio.to_thread(get, state, execution_id)
    if row.status in TERMINAL:
        raise ApiError(409, f"execution {execution_id} {status_phrase(row.status, 'already')}")
    has_workflow = await asyncio.to_thread(_is_workflow_row, state, execution_id)
    if row.parent is not None and not has_workflow:
        raise ApiError(400, f"execution {execution_id} is a task of workflow execution {row.parent}; "
                            "cancel the workflow instead")
    if row.workflow_id is None:  # nothing was started: cancelling is just a record change
        return await asyncio.to_thread(_write, state, records.mark_cancelled, execution_id,
                                       ExecutionStatus.CANCELLED)
    client = await state.engine.require(f"cancel execution {execution_id}")
    try:
        await client.cancel(row.workflow_id)
    except WorkflowNotFound:
        return await asyncio.to_thread(_write, state, records.mark_cancelled, execution_id,
                                       ExecutionStatus.CANCELLED)
    except Exception as exc:
        raise state.engine.failure(exc, f"cancel execution {execution_id}") from exc
    state.mirror.freshen(row.workflow_id)
    return await asyncio.to_thread(_write, state, records.mark_cancelled, execution_id,
                                   ExecutionStatus.CANCELING)


def _is_workflow_row(state: AppState, execution_id: int) -> bool:
    with state.db.session() as s:
        return records.workflow_of(s, execution_id) is not None
