"""The one generic Temporal workflow: interprets any workflow definition at run time.

A thin driver: it feeds the pure `Conductor` events (attempt ended, timer fired, cancel) and
turns its commands into activities (script actions, on the runtime's task queue), child
workflows (actions that are workflows), and timers. It also keeps one `RunRecord` per attempt
for the records mirror and the Web UI.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from attune.engine.activities import ACTIVITY_NAME, CHECKPOINT_ACTIVITY
    from attune.engine.payloads import SliceInput, WorkflowInput
    from attune.workflows.definition import WorkflowDefinition
    from attune.engine.snapshot import RunRecord, WorkflowSnapshot
    from attune.packs.models import Action
    from attune.packs.parameters import apply_defaults, expression_parameters, validate_parameters
    from attune.runtimes.models import ProcessRequest, ProcessResult
    from attune.settings import runtime_queue
    from attune.workflows.commands import CancelAttempt, Dispatch, Finish, Outcome, StartTimer
    from attune.workflows.conductor import Conductor
    from attune.engine.presentation import task_table, redact

WORKFLOW_NAME = "AttuneWorkflow"
SLICE_INPUTS = "attune_slice_inputs"  # parameter of a slice child holding its rendered inputs
HEARTBEAT_TIMEOUT = timedelta(seconds=10)  # a killed worker's task is retried elsewhere after this
# A query of a closed run replays it, so pages are large; the byte budget keeps each result
# well under Temporal's payload limits even when records carry big stdout.
SNAPSHOT_PAGE = 2000
SNAPSHOT_PAGE_BYTES = 1_000_000
# The final snapshot left in the memo (see `_publish_final`): small, as visibility stores it per
# run; the memo hard limit is 2 MB.
FINAL_MEMO = "attune_final"
FINAL_MEMO_RECORDS_BYTES = 24_000
FINAL_MEMO_BYTES = 64_000
TASK_INPUT_CHECK = "attune_task_input_check"  # patch id: histories from before it replay as they were
# Infrastructure failures (worker died, heartbeat lost) are retried; action failures are results.
INFRA_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
# Local actions run back to back inside one workflow task, and nothing (queries, the records
# mirror, the Web UI, a cancel request) sees the run until that task completes. After about this
# much local work in one workflow task, the next local action first waits for a no-op
# "checkpoint" activity on the orchestrator's own queue, which closes the task; the server hands
# it straight back to the worker (eager dispatch), so it costs a few ms. (A 1 ms timer would do
# the same, but the server fires timers no earlier than 1 s ahead unless told otherwise, and
# telling it costs CPU on every timer.) The estimate adds a fixed overhead to each action's own
# duration_ms, and the task is told apart by the history length (workflow.now() moves as local
# results arrive): all of it comes from the history, so the decision replays identically.
LOCAL_CHECKPOINT_MS = 400
LOCAL_OVERHEAD_MS = 3


@workflow.defn(name=WORKFLOW_NAME)
class AttuneWorkflow:
    @workflow.init
    def __init__(self, inp: WorkflowInput) -> None:
        self.inp = inp
        self.action: Action = inp.catalog[inp.action_ref]
        self.conductor: Conductor | None = None
        self.events: list[tuple[str, Any]] = []
        self.handles: dict[str, asyncio.Task] = {}
        self.records: dict[str, RunRecord] = {}
        self.seq = 0
        self.status = "running"
        self.error: str | None = None
        self.result: Any = None
        self.local_task = 0  # history length at the workflow task the local work ran in
        self.local_ms = 0
        self.checkpoint: asyncio.Task | None = None

    # ---- entry ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: WorkflowInput) -> Any:
        try:
            return await self._run(inp)
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001
            # Anything else would fail only the workflow *task*, which Temporal retries forever:
            # fail the run visibly instead.
            raise ApplicationError(f"internal error in the workflow interpreter: {exc!r}",
                                   {"error": f"internal error: {exc!r}", "succeeded": False},
                                   type="InterpreterError", non_retryable=True) from exc

    async def _run(self, inp: WorkflowInput) -> Any:
        if inp.slice is not None:
            return await self._run_slice(inp)
        if self.action.workflow is None:
            return await self._run_plain()
        definition = self.action.workflow
        if inp.cancellation_policy:
            definition = definition.model_copy(update={"cancellation_policy": inp.cancellation_policy})
        info = workflow.info()
        attune_forms = workflow.patched("attune_forms")  # older histories replay as they were
        self.conductor = Conductor(
            definition,
            (expression_parameters if attune_forms else apply_defaults)(self.action, inp.parameters),
            config=inp.pack_configs.get(self.action.pack_ref, {}),
            system={"execution_id": info.workflow_id, "workflow_start": info.start_time.isoformat()},
            clock=workflow.now, uuid=lambda: str(workflow.uuid4()), self_loop_starts=attune_forms,
        )
        await self._drive()
        return self._conclude(self.conductor.finished)

    async def _run_slice(self, inp: WorkflowInput) -> dict[str, Any]:
        """Run a slice of a parent's with_items: same task semantics, prerendered inputs."""
        assert inp.slice is not None
        task = inp.slice.task.model_copy(update={
            "with_items": f"{{{{ parameters.{SLICE_INPUTS} }}}}", "input": {}, "next": [],
            "join": None, "delay": None, "batch_size": None,
        })
        definition = WorkflowDefinition(version="slice", tasks=[task],
                                        cancellation_policy=inp.cancellation_policy or "allow_finish")
        self.conductor = Conductor(definition,
                                   {**inp.slice.parameters, SLICE_INPUTS: inp.slice.inputs},
                                   prerendered=True, index_offset=inp.slice.first_index,
                                   slice_size=len(inp.slice.inputs) + 1,
                                   clock=workflow.now, uuid=lambda: str(workflow.uuid4()))
        self.conductor.variables.update(inp.slice.variables)
        await self._drive()
        run = self.conductor.runs[task.name][0]
        if run.status in ("delayed", "running"):  # the slice itself failed, e.g. bad on_error
            return self._conclude(self.conductor.finished)  # raises with the conductor's error
        self.status = "completed"
        self._publish_final()
        return {"status": run.status, "results": run.result}

    async def _drive(self) -> None:
        """Feed events to the conductor and carry out its commands until it finishes."""
        assert self.conductor is not None
        self._execute(self.conductor.start())
        while self.conductor.finished is None:
            try:
                await workflow.wait_condition(lambda: bool(self.events))
            except asyncio.CancelledError:
                self._execute(self.conductor.cancel())
                continue
            events, self.events = self.events, []
            for kind, payload in events:
                if kind == "attempt":
                    self._execute(self.conductor.attempt_ended(*payload))
                else:
                    self._execute(self.conductor.timer_fired(payload))
            length = workflow.info().get_current_history_length()
            # Temporal terminates a run at 51,200 events; fail clearly before that. Large
            # with_items never get here (they run in slices); only very long loops can.
            if length > self.inp.history_guard and self.conductor.finished is None:
                self._execute(self.conductor.abort(
                    f"workflow history reached {length} events, near Temporal's limit of 51,200: "
                    "move long loops into a nested workflow or lower max_iterations"))
            workflow.set_current_details(task_table(self.conductor))

    async def _run_plain(self) -> Any:
        """A script action submitted alone still runs here, so every execution is traceable."""
        params = apply_defaults(self.action, self.inp.parameters)
        dispatch = Dispatch(key=f"{self.action.name}.1#0", task=self.action.name, iteration=1,
                            item_index=None, attempt=0, action_ref=self.action.ref, input=params,
                            timeout_seconds=None, triggered_by=None)
        self._start(dispatch)
        try:
            await workflow.wait_condition(lambda: bool(self.events))
        except asyncio.CancelledError:
            self.handles[dispatch.key].cancel()
            await workflow.wait_condition(lambda: bool(self.events))
        (_, (_, outcome)), = self.events
        status = {"succeeded": "completed", "failed": "failed", "timed_out": "timeout",
                  "cancelled": "cancelled"}[outcome.status]
        return self._conclude(Finish(status=status, result=outcome.result,  # type: ignore[arg-type]
                                     error=(outcome.result or {}).get("error")))

    def _conclude(self, finish: Finish) -> Any:
        self.status, self.result, self.error = finish.status, finish.result, finish.error
        for handle in self.handles.values():
            handle.cancel()  # leftovers after a definition error: don't leave processes running
        self._publish_final()
        if finish.status == "completed":
            return finish.result
        if finish.status == "cancelled":
            raise asyncio.CancelledError()
        error_type = "ActionTimedOut" if finish.status == "timeout" else "WorkflowFailed"
        raise ApplicationError(finish.error or "failed", finish.result, type=error_type,
                               non_retryable=True)

    # ---- commands ----------------------------------------------------------------------------

    def _execute(self, commands: list) -> None:
        for command in commands:
            if isinstance(command, Dispatch):
                self._start(command)
            elif isinstance(command, StartTimer):
                self.handles[command.key] = asyncio.create_task(self._timer(command))
            elif isinstance(command, CancelAttempt):
                handle = self.handles.get(command.key)
                if handle is not None:
                    handle.cancel()

    def _start(self, dispatch: Dispatch) -> None:
        action = self.inp.catalog[dispatch.action_ref]
        problems: list[dict[str, str]] = []
        # A task's action gets its declared defaults and its declared parameters are checked
        # (type, enum, range, required) as a submission's are: a bad input fails the task with
        # the reason instead of reaching the process. Keys the action does not declare still
        # pass through, as they always have. A slice checks each item as it dispatches it.
        if dispatch.slice_inputs is None and workflow.patched(TASK_INPUT_CHECK):
            params, problems = validate_parameters(action, dispatch.input, allow_unknown=True)
            dispatch = dataclasses.replace(dispatch, input=params)
        self._record(dispatch, action)
        self.handles[dispatch.key] = asyncio.create_task(self._attempt(dispatch, action, problems))

    async def _timer(self, command: StartTimer) -> None:
        try:
            await workflow.sleep(command.seconds)
        except asyncio.CancelledError:
            return
        self.handles.pop(command.key, None)
        self.events.append(("timer", command.key))

    async def _attempt(self, dispatch: Dispatch, action: Action,
                       problems: list[dict[str, str]]) -> None:
        try:
            if problems:
                outcome = _invalid_input(dispatch, action, problems)
            elif dispatch.slice_inputs is not None:
                outcome = await self._slice(dispatch)
            elif action.workflow is not None:
                outcome = await self._child(dispatch, action)
            else:
                outcome = await self._activity(dispatch, action)
        except BaseException as exc:  # noqa: BLE001 - every ending must reach the conductor
            if self.status != "running" or not workflow.in_workflow():
                return  # the run ended or is being evicted from the cache: nobody is listening
            outcome = _outcome_of_error(exc)
        self.handles.pop(dispatch.key, None)
        self._settle(dispatch.key, outcome)
        self.events.append(("attempt", (dispatch.key, outcome)))

    async def _activity(self, dispatch: Dispatch, action: Action) -> Outcome:
        timeout = dispatch.timeout_seconds or action.timeout_seconds
        request = ProcessRequest(
            execution_id=f"{workflow.info().workflow_id}/{dispatch.key}",
            action_ref=action.ref,
            pack_ref=action.pack_ref,
            pack_dir=action.pack_dir or "",
            runner=action.runner,  # type: ignore[arg-type]
            entry_point=action.entry_point or "",
            parameters=dispatch.input,
            secret_names=sorted(action.secret_names()),
            parameter_delivery=action.parameter_delivery,
            parameter_format=action.parameter_format,
            output_format=action.output_format,
            timeout_seconds=timeout,
            api_url=self.inp.api_url,
            warm=action.warm_start,
        )
        options: dict[str, Any] = dict(
            result_type=ProcessResult,
            activity_id=dispatch.key,
            start_to_close_timeout=timedelta(seconds=timeout + 60),
            retry_policy=INFRA_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=_summary(dispatch),
        )
        if action.local:
            result = await self._local_activity(request, options)
        else:
            result = await workflow.execute_activity(
                ACTIVITY_NAME, request, **options, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                task_queue=runtime_queue(action.runner or "shell", self.inp.queue_prefix))
        status = "succeeded" if result.succeeded else ("timed_out" if result.timed_out else "failed")
        if result.cancelled:
            status = "cancelled"
        return Outcome(status=status, result=result.as_task_result())

    async def _local_activity(self, request: ProcessRequest, options: dict[str, Any]) -> ProcessResult:
        """Run in this worker with no task-queue round trip; see LOCAL_CHECKPOINT_MS."""
        if _history_length() == self.local_task and self.local_ms >= LOCAL_CHECKPOINT_MS:
            if self.checkpoint is None or self.checkpoint.done():
                self.checkpoint = asyncio.create_task(workflow.execute_activity(
                    CHECKPOINT_ACTIVITY, task_queue=workflow.info().task_queue,
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=INFRA_RETRY,
                    summary="checkpoint: lets queries, records and cancel requests in"))
            await asyncio.shield(self.checkpoint)  # one for every local action waiting
        result: ProcessResult = await workflow.execute_local_activity(ACTIVITY_NAME, request, **options)
        if _history_length() != self.local_task:
            self.local_task, self.local_ms = _history_length(), 0
        self.local_ms += result.duration_ms + LOCAL_OVERHEAD_MS
        return result

    async def _child(self, dispatch: Dispatch, action: Action) -> Outcome:
        policy = self.conductor.definition.cancellation_policy if self.conductor else None
        child_id = f"{workflow.info().workflow_id}/{dispatch.key}"
        result = await workflow.execute_child_workflow(
            WORKFLOW_NAME,
            WorkflowInput(
                action_ref=action.ref,
                parameters=dispatch.input,
                catalog=self.inp.catalog,
                pack_configs=self.inp.pack_configs,
                cancellation_policy=policy,
                api_url=self.inp.api_url,
                queue_prefix=self.inp.queue_prefix,
                parent_key=dispatch.key,
                history_guard=self.inp.history_guard,
            ),
            id=child_id,
            task_queue=workflow.info().task_queue,
            static_summary=f"{action.ref} (task {_summary(dispatch)})",
            execution_timeout=timedelta(seconds=dispatch.timeout_seconds)
            if dispatch.timeout_seconds else None,
        )
        return Outcome(status="succeeded", result=result)

    async def _slice(self, dispatch: Dispatch) -> Outcome:
        assert self.conductor is not None and dispatch.slice_inputs is not None
        task = self.conductor.definition.task(dispatch.task)
        if dispatch.timeout_seconds is not None:
            task = task.model_copy(update={"timeout": dispatch.timeout_seconds})
        result = await workflow.execute_child_workflow(
            WORKFLOW_NAME,
            WorkflowInput(
                action_ref=dispatch.action_ref,
                catalog=self.inp.catalog,
                pack_configs=self.inp.pack_configs,
                cancellation_policy=self.conductor.definition.cancellation_policy,
                api_url=self.inp.api_url,
                queue_prefix=self.inp.queue_prefix,
                parent_key=dispatch.key,
                slice=SliceInput(task=task, inputs=dispatch.slice_inputs,
                                 first_index=dispatch.first_index or 0,
                                 parameters=self.conductor.parameters,
                                 variables=self.conductor.variables),
            ),
            id=f"{workflow.info().workflow_id}/{dispatch.key}",
            task_queue=workflow.info().task_queue,
            static_summary=f"{dispatch.task} items {dispatch.key.split('[')[-1].split(']')[0]}"
                           f" · {dispatch.action_ref}",
        )
        return Outcome(status=result["status"], result=result["results"])

    # ---- records -----------------------------------------------------------------------------

    def _bump(self, record: RunRecord) -> None:
        self.seq += 1
        record.seq = self.seq

    def _record(self, dispatch: Dispatch, action: Action) -> None:
        wf_id = workflow.info().workflow_id
        original = dispatch.key.rsplit("#", 1)[0] + "#0"
        record = RunRecord(
            key=f"{wf_id}/{dispatch.key}",
            workflow_id=wf_id,
            task_name=dispatch.task,
            iteration=dispatch.iteration,
            task_index=dispatch.item_index,
            retry_count=dispatch.attempt,
            original_key=f"{wf_id}/{original}" if dispatch.attempt else None,
            action_ref=action.ref,
            # Children and local actions start at once; queued actions wait for a runtime worker.
            status="running" if action.workflow is not None or dispatch.slice_inputs is not None
            or action.local else "scheduled",
            parameters=redact(action, dispatch.input),
            triggered_by=dispatch.triggered_by,
            timeout_seconds=dispatch.timeout_seconds or action.timeout_seconds,
            started_at=workflow.now(),
            child_workflow_id=f"{wf_id}/{dispatch.key}"
            if action.workflow is not None or dispatch.slice_inputs is not None else None,
        )
        self._bump(record)
        self.records[dispatch.key] = record

    def _settle(self, key: str, outcome: Outcome) -> None:
        record = self.records[key]
        record.status = {"succeeded": "completed", "failed": "failed", "timed_out": "timeout",
                         "cancelled": "cancelled"}[outcome.status]
        record.result = outcome.result
        record.ended_at = workflow.now()
        self._bump(record)

    # ---- queries -----------------------------------------------------------------------------

    @workflow.query
    def snapshot(self, since: int = 0) -> WorkflowSnapshot:
        changed = sorted((r for r in self.records.values() if r.seq > since), key=lambda r: r.seq)
        page = _page(changed)
        return self._view(page, seq=page[-1].seq if page else max(since, 0),
                          more=len(changed) > len(page))

    def _view(self, records: list[RunRecord], *, seq: int, more: bool = False,
              covers_since: int = 0) -> WorkflowSnapshot:
        c = self.conductor
        states = c.task_states() if c else {}
        return WorkflowSnapshot(
            workflow_id=workflow.info().workflow_id,
            action_ref=self.action.ref,
            status={"running": "running", "completed": "completed", "failed": "failed",
                    "cancelled": "cancelled", "timeout": "timeout"}[self.status],
            seq=seq,
            records=records,
            more=more,
            covers_since=covers_since,
            current_tasks=[t for t, s in states.items() if s in ("running", "delayed")],
            completed_tasks=[t for t, s in states.items() if s == "succeeded"],
            failed_tasks=[t for t, s in states.items() if s in ("failed", "timed_out")],
            variables=c.variables if c else {},
            task_graph=c.graph.describe(c.definition) if c else {},
            error=self.error,
            result=self.result,
        )

    def _publish_final(self) -> None:
        """Leave the final snapshot (the latest record changes) in the memo as the run closes.

        A query on a closed run replays its whole history on a worker (0.14 s for a 40-task
        chain); a reader that already has every change up to `covers_since` takes the rest from
        the memo, which describe returns without any worker. Too big a tail is left out and
        readers fall back to the query."""
        if not workflow.patched(FINAL_MEMO):  # histories from before this change replay as they were
            return
        ordered = sorted(self.records.values(), key=lambda r: r.seq)
        tail = _page(ordered[::-1], FINAL_MEMO_RECORDS_BYTES, at_least_one=False)[::-1]
        covers_since = ordered[-len(tail) - 1].seq if len(tail) < len(ordered) else 0
        final = self._view(tail, seq=ordered[-1].seq if ordered else 0, covers_since=covers_since)
        if len(final.model_dump_json()) <= FINAL_MEMO_BYTES:
            workflow.upsert_memo({FINAL_MEMO: final})

    @workflow.query
    def task_states(self) -> dict[str, str]:
        """Every task's latest state: pending, delayed, running, succeeded, failed, timed_out, cancelled."""
        return self.conductor.task_states() if self.conductor else {}


def _page(changed: list[RunRecord], budget: int = SNAPSHOT_PAGE_BYTES, *,
          at_least_one: bool = True) -> list[RunRecord]:
    """The longest prefix within SNAPSHOT_PAGE records and about `budget` bytes; a query page
    always takes one record so that paging makes progress."""
    size = 0
    for count, record in enumerate(changed[:SNAPSHOT_PAGE]):
        size += 300 + len(str(record.result)) + len(str(record.parameters))
        if size > budget and (count or not at_least_one):
            return changed[:count]
    return changed[:SNAPSHOT_PAGE]


def _history_length() -> int:
    return workflow.info().get_current_history_length()


def _summary(dispatch: Dispatch) -> str:
    item = f" [{dispatch.item_index}]" if dispatch.item_index is not None else ""
    attempt = f" attempt {dispatch.attempt + 1}" if dispatch.attempt else ""
    return f"{dispatch.task}{item}{attempt} · {dispatch.action_ref}"


def _invalid_input(dispatch: Dispatch, action: Action, problems: list[dict[str, str]]) -> Outcome:
    listed = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
    error = f"task '{dispatch.task}': invalid input for {action.ref}: {listed}"
    return Outcome(status="failed", result={"succeeded": False, "error": error})


def _outcome_of_error(exc: BaseException) -> Outcome:
    if is_cancelled_exception(exc) or isinstance(exc, asyncio.CancelledError):
        return Outcome(status="cancelled", result={"succeeded": False, "error": "Cancelled"})
    if isinstance(exc, ChildWorkflowError) and isinstance(exc.cause, ApplicationError):
        details = exc.cause.details
        result = details[0] if details else {"error": exc.cause.message, "succeeded": False}
        status = "timed_out" if exc.cause.type == "ActionTimedOut" else "failed"
        return Outcome(status=status, result=result)
    if isinstance(exc, (ActivityError, ChildWorkflowError)):
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        if "timeout" in type(cause).__name__.lower():
            return Outcome(status="timed_out", result={"succeeded": False, "error": message})
        return Outcome(status="failed", result={"succeeded": False, "error": message})
    # An engine bug: fail this task visibly instead of losing the attempt in a background task.
    return Outcome(status="failed", result={"succeeded": False, "error": f"internal error: {exc!r}"})
