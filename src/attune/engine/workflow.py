"""The one generic Temporal workflow: interprets any workflow definition at run time.

A thin driver: it feeds the pure `Conductor` typed events (an attempt ended, a timer fired,
cancellation requested) and turns its commands into activities (script actions, on the
runtime's task queue), child workflows (actions that are workflows, and slices of a large
with_items) and timers. What it keeps for readers (one record per attempt) is the RecordBook's
job; the pacing of local actions is LocalPacer's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    RetryState,
    TimeoutType,
    is_cancelled_exception,
)
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from attune.contract import RunState, TaskWait, WorkflowSnapshot
    from attune.engine.activities import ACTIVITY_NAME, RESERVE_ACTIVITY, IdsRequest
    from attune.engine.blobs import OFFLOAD_BYTES
    from attune.engine.inquiries import Desk, resolved
    from attune.engine.pacing import LocalPacer
    from attune.engine.payloads import CarryInput, InquiryState, SliceInput, WorkflowInput
    from attune.engine.presentation import md, task_table
    from attune.engine.record_ids import BLOCK, RecordIds
    from attune.engine.recordbook import RecordBook
    from attune.packs.models import LOCAL_MAX_TIMEOUT_SECONDS, Action
    from attune.packs.parameters import apply_defaults, expression_parameters, to_json_schema, validate_parameters
    from attune.runtimes.environments import BUILD_TIMEOUT_SECONDS
    from attune.runtimes.models import ProcessRequest, ProcessResult
    from attune.secrets import is_sealed, redact
    from attune.settings import runtime_queue
    from attune.statuses import TASK_ACTIVE, TERMINAL, ExecutionStatus, TaskStatus, execution_status_of
    from attune.workflows import checkpoint
    from attune.workflows.commands import (
        CancelAttempt,
        Command,
        Dispatch,
        Finish,
        Outcome,
        StartTimer,
        WaitForInquiry,
    )
    from attune.workflows.conductor import LEGACY, SLICE_SIZE, Conductor, Resume, Semantics
    from attune.workflows.definition import over_duration_limit
    from attune.workflows.events import (
        AttemptEnded,
        CancelRequested,
        Event,
        InquiryResolved,
        PauseRequested,
        ResumeRequested,
        TimerFired,
    )
    from attune.workflows.keys import AttemptKey, child_workflow_id, record_key
    from attune.workflows.slice import SliceConductor

WORKFLOW_NAME = "AttuneWorkflow"
# Run control (spec §9): signals into any run of the tree.
SIGNAL_PAUSE, SIGNAL_RESUME, SIGNAL_INQUIRY = "pause", "resume", "inquiry"
CORE_ASK = "core.ask"  # carried out here: it waits for a person, with no process and no slot
HEARTBEAT_TIMEOUT = timedelta(seconds=10)  # a killed worker's task is retried elsewhere after this
FINAL_MEMO = "attune_final"  # memo key of the final snapshot (see RecordBook.final)
# Patch ids: histories from before each change replay as they were.
TASK_INPUT_CHECK = "attune_task_input_check"
SEMANTICS_2 = "attune_semantics_2"  # see workflows.conductor.Semantics
ATTUNE_FORMS = "attune_forms"  # the Attune language forms (Semantics.self_loop_starts, ...)
CONTINUE_AS_NEW = "attune_continue_as_new"  # long runs go on in a fresh run (see _continue)
RECORD_IDS = "attune_record_ids"  # attempts take reserved execution ids (engine.record_ids)
# A whole block of ids ahead, and a block for the children after a parent's last id is shared
# (engine.record_ids). After BASELINE, so asked with workflow.patched itself, and only where
# it changes what the run does: runs that never need a second block record no marker.
IDS_BLOCK_AHEAD = "attune_ids_block_ahead"
TELL_STARTED = "attune_tell_started"  # run control reaches a nested run once it has started
# An inquiry's timeout_at without a zone (an API on SQLite sent it so) is UTC. Its timer used to
# fail (naive minus aware datetime): runs from before replay without one. After BASELINE.
INQUIRY_TIMER_UTC = "attune_inquiry_timer_utc"
# A core.ask task's `timeout` bounds its wait (and its inquiry) like its own timeout_seconds;
# it was ignored. Asked only for tasks that have one: runs from before replay as they were.
ASK_TASK_TIMEOUT = "attune_ask_task_timeout"
# A nested run that was cancelled gives its task the result a cancelled workflow has (spec §3:
# "Workflow cancelled"), not the activity's bare "Cancelled". After BASELINE; asked only then.
CHILD_CANCEL_RESULT = "attune_child_cancel_result"
# A local action runs at most LOCAL_MAX_TIMEOUT_SECONDS (no heartbeats inside the orchestrator);
# a task `timeout` over it ran on regardless. After BASELINE; asked only for such a task.
LOCAL_TIMEOUT_LIMIT = "attune_local_timeout_limit"
# A duration over MAX_DURATION_SECONDS (a template's task `delay` or `timeout`, a core.ask's
# timeout_seconds) fails its task clearly, and so does a template's true as a delay or timeout
# (taken as 1 s before); such a run failed with OverflowError ("internal error") or hung with a
# 100-year timer. After BASELINE; asked only when a value breaks a rule.
DURATION_LIMIT = "attune_duration_limit"
# Every patch above at once. Each patch a new run meets records a marker and the SDK's update of
# the TemporalChangeVersion search attribute (a visibility write on the server): five of each in
# a short run. Runs started between 4af0d7b and the input's `baseline` field recorded this one
# marker instead; older runs replay through the separate ids.
BASELINE = "attune_baseline_1"
# A run started now carries its baseline in its input (WorkflowInput.baseline) and records no
# marker: two events and a visibility write fewer per run. A later change adds a patch id of its
# own, as before, until the next level folds it in (BASELINE_LEVEL 2 = level 1 + those ids).
BASELINE_LEVEL = 2
# Level 2 = level 1 + CANCEL_STARTING_CHILD (asked at every nested start, so folded in here:
# a run started at level 2 records no marker for it).
LEVEL_2 = (2, "attune_cancel_starting_child")
# A task whose workers kept dying (heartbeats lost on every attempt) or never reported (the
# start-to-close backstop) ends `failed`, not `timeout`: its timed_out() transitions are for
# the action's own time limit. After BASELINE; asked only when it happens.
LOST_WORKER_FAILS = "attune_lost_worker_fails"
# A pause that arrives before the run's first step holds its first tasks until resumed; it
# ended the run as completed with nothing run. After BASELINE; asked only when it happens.
PAUSE_BEFORE_START = "attune_pause_before_start"
# A re-run from failed tasks inside a loop feeds the loop's join the kept tasks' arrivals (it
# had run in an earlier iteration, so it never ran again and the loop ended early). After
# BASELINE; asked only when such a re-run starts.
RERUN_LOOP_JOINS = "attune_rerun_loop_joins"
# A refused attempt (invalid input, a disabled action, over a limit) is not retried by the
# task's retry policy: the same attempt would be refused again. After BASELINE; asked only when
# an attempt is refused.
REFUSAL_NOT_RETRIED = "attune_refusal_not_retried"
# A run continues as new when its history passes continue_after_bytes too, and fails clearly
# before Temporal's 50 MB (it was terminated: "Workflow terminated", records lost). After
# BASELINE; asked only once a run's history is that large.
HISTORY_BYTES = "attune_history_bytes"
# Defaults declared inside a parameter (an object's members, an array's items) are filled in, in
# the workflow's own parameters and in each task's input. After BASELINE; asked only when that
# changes a value (packs.parameters.apply_defaults).
NESTED_DEFAULTS = "attune_nested_defaults"
# A cancel that reaches a nested run's task while the run is starting is sent to the run once it
# has started: the SDK's cancel of a start in flight let the parent end while the server still
# started the child, which then ran to its end (17 of 150 nested runs of a cancelled with_items).
# Part of baseline level 2 (see BASELINE_LEVEL): older runs ask at their first nested start.
CANCEL_STARTING_CHILD = LEVEL_2
# A cancel that came with the run's start (before its first step) starts nothing: the run ends
# cancelled at once. It was handled after the first step, which had dispatched the first tasks
# (allow_finish let them run to their end; a nested run's cancel under load arrives so). After
# BASELINE; asked only when it happens.
CANCEL_BEFORE_START = "attune_cancel_before_start"
# A cancel that reaches a nested run's task while the run is starting is sent to the run at
# once, not once the parent has heard that it started and run its next workflow task (seconds
# under load, on top of the server's own delay in delivering the cancel: a child whose 30 s
# task began before it ended `completed` in a cancelled tree). Sent again once it started if
# the run was not there yet. The start stays shielded however often the attempt is cancelled
# meanwhile (a second cancel reached the start itself). After BASELINE; asked only when such a
# cancel arrives.
CANCEL_STARTING_AT_ONCE = "attune_cancel_starting_at_once"
# Infrastructure failures (worker died, heartbeat lost) are retried; action failures are results.
INFRA_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
# Large values travel outside the history (engine/blobs.py), but a run still holds them in
# memory: past this size a task input, a slice's results or a workflow result fails clearly.
MAX_VALUE_BYTES = 64 * 1024 * 1024


@workflow.defn(name=WORKFLOW_NAME)
class AttuneWorkflow:
    @workflow.init
    def __init__(self, inp: WorkflowInput) -> None:
        self.inp = inp
        self.action: Action = inp.catalog[inp.action_ref]
        self.conductor: Conductor | None = None
        self.events: list[Event] = []
        self.handles: dict[AttemptKey | str, asyncio.Task[None]] = {}
        self.children: set[AttemptKey] = set()  # attempts running as child workflows
        self.started: set[AttemptKey] = set()  # those of them whose child workflow has started
        self.asking: set[AttemptKey] = set()  # core.ask attempts (no process: always cancellable)
        carry = inp.carry
        self.book = RecordBook(workflow.info().workflow_id, carried=carry.records, seq=carry.seq,
                               previous_run_id=carry.previous_run_id) if carry else \
            RecordBook(workflow.info().workflow_id)
        self.status = ExecutionStatus.RUNNING
        self.error: str | None = None
        self.result: Any = None
        self.pacer = LocalPacer(INFRA_RETRY)
        self.ids = RecordIds(None, self._reserve, workflow.now)  # see _run
        self.semantics = LEGACY  # set when the run starts (see _semantics)
        self.baseline = False  # set when the run starts: it has every patch up to BASELINE
        self.pause_requested = False
        self.control = 0  # the number of the last pause or resume applied (RunState.control)
        self.desk = Desk()  # inquiries this run has heard of
        self.waits: dict[int, tuple[AttemptKey, int | str]] = {}  # inquiry -> waiting run
        self.inquiry_timers: set[int] = set()
        self.deadlines: dict[str, datetime] = {}  # pending timers: when each fires
        self.draining = False  # holding dispatches to continue as new once nothing runs
        if carry is not None:  # here, not in _restore: signals may come before the run starts
            self.pause_requested, self.control = carry.pause_requested, carry.control
            for state in carry.inquiries:
                self.desk.learn(state)
            for inquiry, key, rendered in carry.waits:
                self.waits[inquiry] = (AttemptKey.parse(key), rendered)

    # ---- entry ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: WorkflowInput) -> Any:
        try:
            return await self._run(inp)
        except (ApplicationError, asyncio.CancelledError):
            raise
        except Exception as exc:
            # Anything else would fail only the workflow *task*, which Temporal retries forever:
            # fail the run visibly instead.
            raise ApplicationError(f"internal error in the workflow interpreter: {exc!r}",
                                   {"error": f"internal error: {exc!r}", "succeeded": False},
                                   type="InterpreterError", non_retryable=True) from exc

    async def _run(self, inp: WorkflowInput) -> Any:
        self.baseline = inp.baseline >= 1 or workflow.patched(BASELINE)  # level 1: BASELINE's patches
        self.semantics = _semantics(self.baseline)
        if inp.record_ids is not None and self._patched(RECORD_IDS):
            self.ids = RecordIds(inp.record_ids, self._reserve, workflow.now,
                                 lambda: workflow.patched(IDS_BLOCK_AHEAD))
        if inp.slice is not None:
            self.ids.will_take(len(inp.slice.inputs))
            return await self._run_slice(inp.slice)
        if self.action.workflow is None:
            return await self._run_plain()
        definition = self.action.workflow
        if inp.cancellation_policy:
            definition = definition.model_copy(update={"cancellation_policy": inp.cancellation_policy})
        info = workflow.info()
        parameters = (expression_parameters if self.semantics.null_parameters
                      else apply_defaults)(self.action, inp.parameters, nested=_nested_defaults)
        system = inp.carry.system if inp.carry else {
            "execution_id": inp.execution_id if inp.execution_id is not None else info.workflow_id,
            "workflow_id": info.workflow_id, "workflow_start": info.start_time.isoformat()}
        self.conductor = Conductor(
            definition,
            parameters,
            config=inp.pack_configs.get(self.action.pack_ref, {}),
            system=system,
            semantics=self.semantics,
            clock=workflow.now, uuid=_uuid,
        )
        await self._drive()
        assert self.conductor.finished is not None
        return self._conclude(self.conductor.finished)

    async def _run_slice(self, slice_: SliceInput) -> dict[str, Any]:
        """A slice of a parent's with_items: the task's semantics over prerendered inputs."""
        conductor = self.conductor = SliceConductor(
            slice_.task, slice_.inputs, slice_.first_index, parameters=slice_.parameters,
            variables=slice_.variables,
            cancellation_policy=self.inp.cancellation_policy or "allow_finish",
            semantics=self.semantics, clock=workflow.now, uuid=_uuid)
        await self._drive()
        outcome = conductor.outcome()
        cancelled = conductor.cancelling and conductor.semantics.cancel_reaches_children
        # It failed on its own (e.g. a bad on_error, or aborted near a history limit: no
        # results), or was cancelled: it ends as such in the Web UI.
        if outcome is None or cancelled or outcome[1] is None:
            assert conductor.finished is not None
            return self._conclude(conductor.finished)  # raises
        status, results = outcome
        too_big = _over_limit(results, "the results of items "
                              f"{slice_.first_index}-{slice_.first_index + len(results) - 1}")
        if too_big:
            return self._conclude(Finish(status=ExecutionStatus.FAILED, error=too_big,
                                         result={"error": too_big, "succeeded": False}))
        self.status = ExecutionStatus.COMPLETED
        self._publish_final()
        return {"status": status, "results": results}

    async def _drive(self) -> None:
        """Feed events to the conductor and carry out its commands until it finishes."""
        assert self.conductor is not None
        early = await _cancel_came_with_start()
        legacy_cancel = early and not workflow.patched(CANCEL_BEFORE_START)  # asked only then
        if early and not legacy_cancel:  # nothing starts: the run ends cancelled
            self.conductor.cancel_before_start()
        if self.inp.carry is not None:
            self._restore(self.inp.carry, cancelled=early and not legacy_cancel)
        if self.pause_requested:  # paused before it started: nothing is dispatched
            if workflow.patched(PAUSE_BEFORE_START):
                self.conductor.pause_before_start()
            else:  # how runs from before replay: the pause ended them (completed, nothing run)
                self._execute(self.conductor.handle(PauseRequested()))
        resume = self.inp.resume
        if self.inp.carry is None:
            self._execute(self.conductor.resume(Resume(results=resume.results,
                                                       variables=resume.variables,
                                                       rerun=resume.rerun))
                          if resume is not None else self.conductor.start())
        if early and not legacy_cancel:  # settles what a restore brought back
            self._execute(self.conductor.handle(CancelRequested()))
        self._show_details()  # the first tasks are running: the Web UI shows them from the start
        if legacy_cancel:  # how runs from before replay: the first tasks started, then the
            await asyncio.sleep(0)  # cancel was handled (their first steps ran in between)
            self._execute(self.conductor.handle(CancelRequested()))
        while self.conductor.finished is None:
            try:
                await workflow.wait_condition(lambda: bool(self.events))
            except asyncio.CancelledError:
                self._execute(self.conductor.handle(CancelRequested()))
                continue
            events, self.events = self.events, []
            for event in events:
                self._execute(self.conductor.handle(event))
            length = workflow.info().get_current_history_length()
            size = workflow.info().get_current_history_size()
            if self.conductor.finished is None and not self.conductor.cancelling:
                # Each patch asked only once its condition holds (replay: as runs recorded it).
                if not self.draining and self.inp.slice is None and (
                        length > self.inp.continue_after or (size > self.inp.continue_after_bytes
                                                             and workflow.patched(HISTORY_BYTES))
                ) and self._patched(CONTINUE_AS_NEW):
                    self.draining = True
                    self._execute(self.conductor.hold())
                if self.draining and self.conductor.in_flight == 0 and not self.events:
                    self._continue()  # does not return
            # Temporal terminates a run at 51,200 events or 50 MB; fail clearly before that (a
            # run that cannot continue as new because a task holds it, such as a week-long
            # nested run, or a with_items slice, which never continues as new).
            if self.conductor.finished is None:
                if length > self.inp.history_guard:
                    self._execute(self.conductor.abort(
                        f"workflow history reached {length} events, near Temporal's limit of 51,200: "
                        f"{self._why_so_long()}"))
                elif size > self.inp.history_bytes_guard and workflow.patched(HISTORY_BYTES):
                    self._execute(self.conductor.abort(
                        f"workflow history reached {size / 2**20:.0f} MiB, near Temporal's limit of 50 MB: "
                        f"{self._why_so_long()}"))
            self._show_details()

    def _why_so_long(self) -> str:
        if self.inp.slice is not None:
            return (f"a slice of {SLICE_SIZE} with_items items keeps every item's input and result "
                    f"under {OFFLOAD_BYTES // 1024} KiB in its history: give the items smaller "
                    "inputs and outputs")
        if self.draining:
            return "it could not continue as new: a task kept running all along"
        return "move long loops into a nested workflow or lower max_iterations"

    # ---- continue-as-new: no history ceiling ---------------------------------------------------

    def _continue(self) -> None:
        """Go on in a fresh run of the same workflow id, its history empty: the conductor's
        checkpoint, the pending timers, open records, known inquiries and waits go along.
        Called with nothing in flight (dispatches held), so no attempt is abandoned."""
        assert self.conductor is not None
        saved = checkpoint.save(self.conductor)
        now = workflow.now()
        carry = CarryInput(
            checkpoint=saved,
            timers={key: max((self.deadlines[key] - now).total_seconds(), 0.0) for key in saved.timers},
            records=self.book.still_open(), seq=self.book.seq,
            previous_run_id=workflow.info().run_id,
            inquiries=list(self.desk.by_id.values()),
            waits=[(inquiry, str(key), rendered) for inquiry, (key, rendered) in self.waits.items()],
            pause_requested=self.pause_requested, control=self.control, system=self.conductor.system,
            runs=(self.inp.carry.runs if self.inp.carry else 1) + 1)
        self._publish_final()  # readers behind this run read its last changes from the memo
        workflow.continue_as_new(self.inp.model_copy(
            update={"carry": carry, "resume": None, "record_ids": self.ids.left(),
                    "baseline": BASELINE_LEVEL}))  # a new run: the current code, as a child's

    def _restore(self, carry: CarryInput, *, cancelled: bool = False) -> None:
        """Start where the run before stopped (see _continue). `cancelled`: before its first
        step, so no timer starts again (what waited for one is cancelled)."""
        assert self.conductor is not None
        commands = checkpoint.restore(self.conductor, carry.checkpoint, carry.timers)
        self._execute([c for c in commands if not (cancelled and isinstance(c, StartTimer))])
        if cancelled:  # the waits end cancelled with the run (_conclude)
            return
        for inquiry in list(self.waits):  # their timeouts were timers of the run before
            known = self.desk.by_id.get(inquiry)
            if known is not None:
                self.inquiry(known)

    def _details(self) -> str:
        """The Web UI's "current details": what the run waits for (people), which run of the
        chain this is, and the task table."""
        assert self.conductor is not None
        parts = [f"Waiting for {what}." for what in self._waiting_for()]
        if self.draining:
            parts.append(md(self._held()))
        carry = self.inp.carry
        if carry is not None:
            parts.append(f"Run {carry.runs} of this execution: it continues as new every "
                         f"{self.inp.continue_after:,} history events (or "
                         f"{self.inp.continue_after_bytes / 2**20:g} MiB); earlier runs hold the "
                         "earlier tasks.")
        return "\n\n".join([*parts, task_table(self.conductor)])

    def _waiting_for(self) -> list[str]:
        """The inquiries the run waits on, as a person reading the Web UI wants them named."""
        found = [f"inquiry {inquiry} (task {md(key.task)}, `wait_for`)"
                 for inquiry, (key, _) in self.waits.items()]
        workflow_id = workflow.info().workflow_id
        for key in sorted(self.asking, key=str):
            known = self.desk.by_key.get(record_key(workflow_id, key))
            found.append(f"an answer to inquiry {known.id} (task {md(key.task)}, core.ask)" if known
                         else f"an answer (task {md(key.task)}, core.ask; its inquiry is being created)")
        return found

    def _patched_since(self, level: tuple[int, str]) -> bool:
        """A patch folded into a baseline level: a run started at that level has it (no marker);
        an older run asks for it (a marker, the first time it is asked)."""
        return self.inp.baseline >= level[0] or workflow.patched(level[1])

    def _patched(self, patch_id: str) -> bool:
        """workflow.patched, for a patch that BASELINE includes."""
        return self.baseline or workflow.patched(patch_id)

    def _show_details(self) -> None:
        if self.conductor is not None:
            workflow.set_current_details(self._details())

    async def _run_plain(self) -> Any:
        """A script action submitted alone still runs here, so every execution is traceable."""
        params = apply_defaults(self.action, self.inp.parameters, nested=_nested_defaults)
        dispatch = Dispatch(key=AttemptKey(task=self.action.name, iteration=1),
                            action_ref=self.action.ref, input=params, timeout_seconds=None,
                            triggered_by=None)
        self._start(dispatch)
        # Only its end matters: a pause or resume sent to it (the API refuses them for a plain
        # action, a signal from the Temporal Web UI does not) has nothing to hold back. Such a
        # signal used to end the run as "internal error: AssertionError()".
        def ended() -> bool:
            return any(isinstance(e, AttemptEnded) for e in self.events)
        try:
            await workflow.wait_condition(ended)
        except asyncio.CancelledError:
            self.handles[dispatch.key].cancel()
            await workflow.wait_condition(ended)
        outcome = next(e for e in self.events if isinstance(e, AttemptEnded)).outcome
        return self._conclude(Finish(status=execution_status_of(outcome.status),
                                     result=outcome.result,
                                     error=(outcome.result or {}).get("error")))

    def _conclude(self, finish: Finish) -> Any:
        for key, _ in list(self.waits.values()):  # waits the run ends with are cancelled
            self._settle_wait(key, TaskStatus.CANCELLED, "the workflow ended while it waited")
        self.waits.clear()
        too_big = _over_limit(finish.result, "the workflow's result") if finish.status == \
            ExecutionStatus.COMPLETED and self.semantics.bounded_nesting else None
        if too_big:
            finish = Finish(status=ExecutionStatus.FAILED, error=too_big,
                            result={"error": too_big, "succeeded": False})
        self.status, self.result, self.error = finish.status, finish.result, finish.error
        for handle in self.handles.values():
            handle.cancel()  # leftovers after a definition error: don't leave processes running
        self.book.stop_open(workflow.now(), f"the workflow {finish.status} before this task ended; "
                                            "it was cancelled")
        self._publish_final()
        if finish.status == ExecutionStatus.COMPLETED:
            return finish.result
        if finish.status == ExecutionStatus.CANCELLED:
            raise asyncio.CancelledError()
        error_type = "ActionTimedOut" if finish.status == ExecutionStatus.TIMEOUT else "WorkflowFailed"
        raise ApplicationError(finish.error or "failed", finish.result, type=error_type,
                               non_retryable=True)

    # ---- commands ----------------------------------------------------------------------------

    def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Dispatch):
                self._start(command)
            elif isinstance(command, StartTimer):
                self.deadlines[command.key] = workflow.now() + timedelta(seconds=command.seconds)
                self.handles[command.key] = asyncio.create_task(self._timer(command))
            elif isinstance(command, WaitForInquiry):
                self._wait(command)
            elif isinstance(command, CancelAttempt):
                handle = self.handles.get(command.key)
                # `let_finish`: an action's process finishes; a child is told to cancel and
                # applies the same policy to what it runs (nothing new starts in the tree).
                if handle is not None and (not command.let_finish or command.key in self.children
                                           or command.key in self.asking):
                    handle.cancel()

    def _start(self, dispatch: Dispatch) -> None:
        action = self.inp.catalog[dispatch.action_ref]
        refusal: str | None = None
        # A task's action gets its declared defaults and its declared parameters are checked
        # (type, enum, range, required) as a submission's are: a bad input fails the task with
        # the reason instead of reaching the process. A key the action does not declare is a
        # load error (packs.loader); here it passes, as it did for runs started before that
        # check. A slice checks each item as it dispatches it.
        if dispatch.slice_inputs is None and self._patched(TASK_INPUT_CHECK):
            params, problems = validate_parameters(action, dispatch.input, allow_unknown=True,
                                                   nested=_nested_defaults)
            dispatch = dataclasses.replace(dispatch, input=params)
            if problems:
                listed = "; ".join(map(str, problems))
                refusal = f"task '{dispatch.task}': invalid input for {action.ref}: {listed}"
        if self.semantics.bounded_nesting and dispatch.slice_inputs is None:
            refusal = _over_limit(dispatch.input, f"task '{dispatch.task}': its input") or refusal
        if not action.enabled and self.semantics.refuse_disabled:
            refusal = f"task '{dispatch.task}': action '{action.ref}' is disabled (enabled: false)"
        if (action.local and refusal is None and _timeout(dispatch, action) > LOCAL_MAX_TIMEOUT_SECONDS
                and workflow.patched(LOCAL_TIMEOUT_LIMIT)):
            refusal = (f"task '{dispatch.task}': timeout {_timeout(dispatch, action):g} s is over the "
                       f"{LOCAL_MAX_TIMEOUT_SECONDS} s a local action may run (it runs inside the "
                       "orchestrator, without heartbeats): give the task a shorter timeout")
        if action.ref == CORE_ASK and refusal is None:
            refusal = _ask_too_long(dispatch)
        depth = self.inp.depth + 1
        if action.workflow is not None and self.semantics.bounded_nesting and depth > self.inp.max_depth:
            refusal = (f"task '{dispatch.task}': nested workflow '{action.ref}' would run {depth} "
                       f"levels deep, over the limit of {self.inp.max_depth} (setting "
                       "ATTUNE_MAX_NESTING_DEPTH); does a workflow run itself?")
        child = refusal is None and (action.workflow is not None or dispatch.slice_inputs is not None)
        asks = refusal is None and action.ref == CORE_ASK and self.semantics.inquiries
        if child:  # a cancel reaches it under allow_finish too
            self.children.add(dispatch.key)
        if asks:
            self.asking.add(dispatch.key)
        runs_process = refusal is None and not child and not asks and action.runner is not None
        self.book.open(dispatch, action_ref=action.ref, parameters=redact(dispatch.input, action.secret_names()),
                       timeout_seconds=_timeout(dispatch, action),
                       starts_at_once=child or asks or action.local,
                       child_workflow_id=self._child_id(dispatch.key) if child else None,
                       asks=self._question(dispatch) if asks else None, now=workflow.now(),
                       record_id=self.ids.take() if runs_process else None)
        self.handles[dispatch.key] = asyncio.create_task(self._attempt(dispatch, action, refusal))

    async def _timer(self, command: StartTimer) -> None:
        try:
            await workflow.sleep(command.seconds, summary=_capped(_timer_summary(command)))
        except asyncio.CancelledError:
            self.deadlines.pop(command.key, None)
            return
        self.handles.pop(command.key, None)
        self.deadlines.pop(command.key, None)
        self.events.append(TimerFired(command.key))

    async def _attempt(self, dispatch: Dispatch, action: Action, refusal: str | None) -> None:
        """Run one attempt (or refuse it: the task fails with `refusal`) and report its end."""
        try:
            if refusal is not None:  # the same input would be refused again: no retry
                outcome = Outcome(status=TaskStatus.FAILED, result={"succeeded": False, "error": refusal},
                                  retryable=not workflow.patched(REFUSAL_NOT_RETRIED))
            elif dispatch.slice_inputs is not None:
                outcome = await self._slice(dispatch)
            elif action.workflow is not None:
                outcome = await self._nested(dispatch, action)
            elif action.ref == CORE_ASK and self.semantics.inquiries:
                outcome = await self._ask(dispatch)
            else:
                outcome = await self._activity(dispatch, action)
        except BaseException as exc:  # noqa: BLE001 - every ending must reach the conductor
            if self.status != ExecutionStatus.RUNNING or not workflow.in_workflow():
                return  # the run ended or is being evicted from the cache: nobody is listening
            outcome = _outcome_of_error(exc)
            if (outcome.status == TaskStatus.CANCELLED and isinstance(exc, ChildWorkflowError)
                    and workflow.patched(CHILD_CANCEL_RESULT)):
                outcome = Outcome(status=TaskStatus.CANCELLED,
                                  result={"error": "Workflow cancelled", "succeeded": False})
        self.handles.pop(dispatch.key, None)
        self.children.discard(dispatch.key)
        self.started.discard(dispatch.key)
        self.asking.discard(dispatch.key)
        self.book.settle(dispatch.key, outcome, workflow.now())
        self.events.append(AttemptEnded(dispatch.key, outcome))

    async def _activity(self, dispatch: Dispatch, action: Action) -> Outcome:
        timeout = _timeout(dispatch, action)
        assert action.runner is not None  # a script action (workflows run as children)
        request = ProcessRequest(
            execution_id=record_key(workflow.info().workflow_id, dispatch.key),
            action_ref=action.ref,
            pack_ref=action.pack_ref,
            pack_dir=action.pack_dir or "",
            runner=action.runner,
            entry_point=action.entry_point or "",
            parameters=dispatch.input,
            secret_names=sorted(action.secret_names()),
            secret_checks=_secret_checks(action, dispatch.input),
            parameter_delivery=action.parameter_delivery,
            parameter_format=action.parameter_format,
            output_format=action.output_format,
            timeout_seconds=timeout,
            api_url=self.inp.api_url,
            warm=action.warm_start,
            issue_token=self._issue_token(dispatch, action),
            claim_record=self.semantics.inquiries,
            record_id=self.book.records[dispatch.key].record_id,
            # The worker reads the action YAML with the script when the task starts: this copy
            # says which file, as it was when the run started (attune.packs.current).
            metadata_file=action.metadata_file,
            metadata_digest=action.metadata_digest,
            defaulted=action.defaulted(dispatch.input) if action.metadata_digest else [],
        )
        options: dict[str, Any] = dict(
            result_type=ProcessResult,
            activity_id=str(dispatch.key),
            # The worker ends the action at `timeout` itself; this backstop also leaves room for
            # building the pack's environment on first use (pip, npm), which runs before it.
            start_to_close_timeout=timedelta(seconds=timeout + 60 + (0 if action.local else BUILD_TIMEOUT_SECONDS)),
            retry_policy=INFRA_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary=_capped(_summary(dispatch)),
        )
        if action.local:
            result = await self.pacer.run(request, options)
        else:
            await self.pacer.room_for(_inline_bytes(request))
            result = await workflow.execute_activity(
                ACTIVITY_NAME, request, **options, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                task_queue=runtime_queue(action.runner, self.inp.queue_prefix))
        return Outcome(status=_outcome_status(result), result=result.as_task_result())

    async def _nested(self, dispatch: Dispatch, action: Action) -> Outcome:
        policy = self.conductor.definition.cancellation_policy if self.conductor else None
        result = await self._start_child(
            dispatch, WorkflowInput(action_ref=action.ref, parameters=dispatch.input,
                                    cancellation_policy=policy,
                                    depth=self.inp.depth + 1,
                                    **self._inherited(ids=action.script_attempts(self.inp.catalog))),
            summary=f"{action.ref} (task {_summary(dispatch)})",
            execution_timeout=timedelta(seconds=dispatch.timeout_seconds)
            if dispatch.timeout_seconds is not None else None)
        return Outcome(status=TaskStatus.SUCCEEDED, result=result)

    async def _slice(self, dispatch: Dispatch) -> Outcome:
        assert self.conductor is not None and dispatch.slice_inputs is not None
        assert dispatch.key.span is not None
        task = self.conductor.definition.task(dispatch.task)
        if dispatch.timeout_seconds is not None:
            task = task.model_copy(update={"timeout": dispatch.timeout_seconds})
        inp = WorkflowInput(
            action_ref=dispatch.action_ref,
            cancellation_policy=self.conductor.definition.cancellation_policy,
            slice=SliceInput(task=task, inputs=dispatch.slice_inputs,
                             first_index=dispatch.key.span[0],
                             parameters=self.conductor.parameters,
                             variables=self.conductor.variables),
            depth=self.inp.depth, **self._inherited(ids=min(len(dispatch.slice_inputs), BLOCK)))
        self.ids.expect_more()  # the next slice starts with ids too, not with a burst of claims
        result = await self._start_child(
            dispatch, inp, summary=f"{dispatch.task}{_again(dispatch.key)} items {dispatch.key.items[1:-1]} · "
                                   f"{dispatch.action_ref}")
        return Outcome(status=result["status"], result=result["results"])

    async def _ask(self, dispatch: Dispatch) -> Outcome:
        """core.ask: the records mirror creates the inquiry from this attempt's record and tells
        this run its id, then its answer; the task ends with the answer (or times out)."""
        asking = record_key(workflow.info().workflow_id, dispatch.key)
        timeout = self._ask_timeout(dispatch)
        try:
            await workflow.wait_condition(lambda: resolved(self.desk.by_key.get(asking)),
                                          timeout=timeout)
        except TimeoutError:
            known = self.desk.by_key.get(asking)
            return Outcome(status=TaskStatus.TIMED_OUT, result={
                "succeeded": False, "error": f"no answer within {timeout:g} s",
                "inquiry_id": known.id if known else None})
        state = self.desk.by_key[asking]
        if state.status != "responded":
            status = TaskStatus.TIMED_OUT if state.status == "timeout" else TaskStatus.FAILED
            return Outcome(status=status, result={"succeeded": False, "inquiry_id": state.id,
                                                  "error": f"inquiry {state.id} {state.status}"})
        response = state.response if isinstance(state.response, dict) else {"response": state.response}
        return Outcome(status=TaskStatus.SUCCEEDED, result={
            "succeeded": True, "inquiry_id": state.id, "response": state.response, "data": response})

    def _ask_timeout(self, dispatch: Dispatch) -> float | None:
        """How long a core.ask waits: its timeout_seconds, or the task's `timeout` if shorter."""
        given = dispatch.input.get("timeout_seconds")
        timeout = float(given) if isinstance(given, (int, float)) and given > 0 else None
        task = dispatch.timeout_seconds
        if task is not None and (timeout is None or task < timeout) and workflow.patched(ASK_TASK_TIMEOUT):
            return task
        return timeout

    def _question(self, dispatch: Dispatch) -> dict[str, Any]:
        """What a core.ask task asks (its parameters), for the inquiry the mirror creates: it
        expires when the task stops waiting."""
        question = {k: dispatch.input.get(k) for k in ("prompt", "response_schema", "assigned_to", "timeout_seconds")}
        if dispatch.timeout_seconds is not None:
            question["timeout_seconds"] = self._ask_timeout(dispatch)
        return question

    # ---- run control: signals from the API -----------------------------------------------------

    @workflow.signal(name=SIGNAL_PAUSE)
    def pause(self, control: int = 0) -> None:
        """Dispatch nothing new, here and in the nested runs; running attempts end as usual.
        `control`: the request's number in the records (0 from a parent telling its children)."""
        self.control = max(self.control, control)
        if not self.pause_requested:
            self.pause_requested = True
            self.events.append(PauseRequested())
            self._tell_children(SIGNAL_PAUSE)

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self, control: int = 0) -> None:
        self.control = max(self.control, control)
        if self.pause_requested:
            self.pause_requested = False
            self.events.append(ResumeRequested())
            self._tell_children(SIGNAL_RESUME)

    @workflow.signal(name=SIGNAL_INQUIRY)
    def inquiry(self, state: InquiryState) -> None:
        state = self.desk.learn(state)
        self._show_details()  # name the inquiry the run now knows it waits for
        wait = self.waits.get(state.id)
        if wait is None:
            return  # a core.ask attempt picks it up by key, or nobody waits (yet)
        if resolved(state):
            self._resolve(state)
        elif state.timeout_at is not None and state.id not in self.inquiry_timers:
            at = state.timeout_at
            if at.tzinfo is None:
                if not workflow.patched(INQUIRY_TIMER_UTC):
                    return
                at = at.replace(tzinfo=UTC)
            self.inquiry_timers.add(state.id)
            asyncio.create_task(self._inquiry_timeout(state.id, at))

    def _wait(self, command: WaitForInquiry) -> None:
        """A `wait_for` run: advertise the wait in the records (the API then tells this run the
        inquiry's state) and resolve it at once if the state is already known."""
        inquiry = _inquiry_id(command.inquiry)
        spec = self.conductor.definition.task(command.key.task) if self.conductor else None
        self.book.wait(command.key, action_ref=spec.action or "" if spec else "",
                       inquiry=command.inquiry, now=workflow.now())
        if inquiry is None:
            self.events.append(InquiryResolved(inquiry=command.inquiry, status="missing"))
            self._settle_wait(command.key, TaskStatus.FAILED,
                              f"wait_for: {command.inquiry!r} is not an inquiry id")
            return
        self.waits[inquiry] = (command.key, command.inquiry)
        known = self.desk.by_id.get(inquiry)
        if known is not None:
            self.inquiry(known)

    def _resolve(self, state: InquiryState) -> None:
        key, rendered = self.waits.pop(state.id)
        self.events.append(InquiryResolved(inquiry=rendered, status=state.status,
                                           response=state.response))
        if state.status == "timeout":
            self._settle_wait(key, TaskStatus.TIMED_OUT, f"inquiry {state.id} timed out")
        elif state.status != "responded":  # the task is dispatched, reopening its record
            self._settle_wait(key, TaskStatus.FAILED, f"inquiry {state.id} {state.status}")

    def _settle_wait(self, key: AttemptKey, status: TaskStatus, error: str) -> None:
        self.book.settle(key, Outcome(status=status, result={"succeeded": False, "error": error}),
                         workflow.now())

    async def _inquiry_timeout(self, inquiry: int, at: datetime) -> None:
        """The run decides an inquiry's timeout with a durable timer (the API refuses answers
        after the same moment)."""
        await workflow.sleep(max((at - workflow.now()).total_seconds(), 0),
                             summary=f"inquiry {inquiry} times out")
        if inquiry in self.waits and not resolved(self.desk.by_id.get(inquiry)):
            self.inquiry(self.desk.timed_out(inquiry, at))

    def _tell_children(self, signal: str) -> None:
        # A signal to a child whose start is still in flight found no workflow and was lost: the
        # child then ran on unpaused. Such a child is told as it starts (_start_child).
        started_only = self._patched(TELL_STARTED)
        for key in list(self.children):
            if started_only and key not in self.started:
                continue
            handle = workflow.get_external_workflow_handle(self._child_id(key))
            asyncio.create_task(_quietly(handle.signal(signal)))

    def _issue_token(self, dispatch: Dispatch, action: Action) -> bool:
        """Whether the process gets an execution token: when the task's permission sets (else
        the action's default ones) name any (spec §9: null, "" or [] give no token)."""
        refs = dispatch.permission_set_refs
        if refs is None:
            refs = action.default_execution_permission_set_refs
        return bool(refs) and self.semantics.inquiries

    async def _reserve(self, count: int) -> list[int]:
        # An activity on the orchestrators' own queue, not a local one: a local activity holds
        # the workflow task it is started in until the API answers, and a with_items that asked
        # stopped dispatching for that long (items1000 through REST: 7.1 -> 10.9 s).
        return await workflow.execute_activity(
            RESERVE_ACTIVITY, IdsRequest(api_url=self.inp.api_url, count=count,
                                         workflow_id=workflow.info().workflow_id),
            result_type=list[int], start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1), summary=f"reserve {count} execution ids")

    def _inherited(self, ids: int) -> dict[str, Any]:
        """What every child run takes from its parent, `ids` of its execution ids among it."""
        return dict(catalog=self.inp.catalog, pack_configs=self.inp.pack_configs,
                    api_url=self.inp.api_url, queue_prefix=self.inp.queue_prefix,
                    record_ids=self.ids.share(ids),
                    parent_key=None, max_depth=self.inp.max_depth, history_guard=self.inp.history_guard,
                    history_bytes_guard=self.inp.history_bytes_guard,
                    continue_after=self.inp.continue_after,
                    continue_after_bytes=self.inp.continue_after_bytes,
                    root_workflow_id=self.inp.root_workflow_id or workflow.info().workflow_id,
                    baseline=BASELINE_LEVEL)  # a new run: the current code, whatever its parent's

    def _child_id(self, key: AttemptKey) -> str:
        parent = workflow.info().workflow_id
        if not self.semantics.bounded_nesting:
            return record_key(parent, key)
        return child_workflow_id(parent, self.inp.root_workflow_id, key)

    async def _start_child(self, dispatch: Dispatch, inp: WorkflowInput, *, summary: str,
                           execution_timeout: timedelta | None = None) -> Any:
        inp = inp.model_copy(update={"parent_key": str(dispatch.key)})
        await self.pacer.room_for(_inline_bytes(inp))
        child_id = self._child_id(dispatch.key)
        starting = workflow.start_child_workflow(
            WORKFLOW_NAME, inp, id=child_id, task_queue=workflow.info().task_queue,
            static_summary=_capped(summary), execution_timeout=execution_timeout)
        cancelled_while_starting, early = False, None
        if self._patched_since(CANCEL_STARTING_CHILD):
            start = asyncio.ensure_future(starting)
            try:  # the start itself is never cancelled: the cancel goes to the started run
                handle = await asyncio.shield(start)
            except asyncio.CancelledError:
                cancelled_while_starting = True
                if workflow.patched(CANCEL_STARTING_AT_ONCE):
                    early = asyncio.create_task(_cancel_run(child_id))  # it may have started
                    handle = await _started(start)
                else:  # how runs from before replay: a second cancel reached the start
                    handle = await start
        else:
            handle = await starting
        if cancelled_while_starting:
            asyncio.create_task(_cancel_once_started(child_id, early))
        if self._patched(TELL_STARTED):
            self.started.add(dispatch.key)
            if self.pause_requested:  # paused while it was starting: it has not been told
                asyncio.create_task(_quietly(handle.signal(SIGNAL_PAUSE)))
        return await handle

    # ---- what readers see --------------------------------------------------------------------

    def _state(self) -> RunState:
        c = self.conductor
        states = c.task_states() if c else {}
        status = self.status
        if status == ExecutionStatus.RUNNING and c is not None and c.paused:
            # Paused once no process runs: nested runs pause themselves, and a core.ask waits
            # for a person whatever happens.
            busy = c.in_flight - len(self.children) - len(self.asking)
            status = ExecutionStatus.PAUSING if busy > 0 else ExecutionStatus.PAUSED
        return RunState(
            action_ref=self.action.ref,
            status=status,
            current_tasks=[t for t, s in states.items() if s in TASK_ACTIVE],
            waiting=[] if status in TERMINAL else _waits(self.deadlines, states),
            completed_tasks=[t for t, s in states.items() if s == TaskStatus.SUCCEEDED],
            failed_tasks=c.failed_tasks() if c else [],
            variables=c.variables if c else {},
            task_graph=c.graph.describe(c.definition) if c else {},
            error=self.error,
            result=self.result,
            control=self.control,
            held=self._held() if self.draining and status == ExecutionStatus.RUNNING else None,
        )

    def _held(self) -> str:
        """Why a draining run starts nothing: a loop that stops for a long task or a pending
        inquiry otherwise looked hung (running, its next task current, no record running)."""
        assert self.conductor is not None
        running, held = self.conductor.dispatched(), self.conductor.dispatched(held=True)
        workflow_id = workflow.info().workflow_id
        asked = [self.desk.by_key.get(record_key(workflow_id, key)) for key in self.asking]
        inquiries = sorted({*(str(known.id) for known in asked if known), *map(str, self.waits)})
        people = f" (inquiry {', '.join(inquiries)} waits for an answer)" if inquiries else ""
        return (f"Holding {', '.join(held) or 'its next tasks'} until "
                f"{', '.join(running) or 'the tasks still running'} "
                f"{'ends' if len(running) == 1 else 'end'}{people}: its "
                f"history passed {self.inp.continue_after:,} events (or "
                f"{self.inp.continue_after_bytes / 2**20:g} MiB), so it goes on in a fresh Temporal "
                "run under the same id (continue-as-new) once nothing runs.")

    @workflow.query
    def snapshot(self, since: int = 0) -> WorkflowSnapshot:
        return self.book.snapshot(since, self._state())

    def _publish_final(self) -> None:
        """Leave the final snapshot in the memo as the run closes (see RecordBook.final)."""
        if not self._patched(FINAL_MEMO):  # histories from before this change replay as they were
            return
        final = self.book.final(self._state())
        if final is not None:
            workflow.upsert_memo({FINAL_MEMO: final})

    @workflow.query
    def task_states(self) -> dict[str, str]:
        """Every task's latest state: pending, delayed, running, succeeded, failed, timed_out, cancelled."""
        return dict(self.conductor.task_states()) if self.conductor else {}


def _waits(deadlines: dict[str, datetime], states: dict[str, TaskStatus]) -> list[TaskWait]:
    """The current tasks that wait for a timer (a `delay`, a retry's delay), each with its
    earliest, from the pending timers' keys (workflows.keys: `delay:<run>`, `retry:<attempt>`)."""
    earliest: dict[str, TaskWait] = {}
    for key, until in deadlines.items():
        kind, _, rest = key.partition(":")
        if kind == "delay":
            wait = TaskWait(task=rest.rpartition(".")[0], reason="delay", until=until)
        elif kind == "retry":
            try:
                attempt = AttemptKey.parse(rest)
            except ValueError:
                continue
            wait = TaskWait(task=attempt.task, reason="retry", until=until, retry_count=attempt.attempt,
                            task_index=attempt.index)
        else:
            continue
        known = earliest.get(wait.task)
        if states.get(wait.task) in TASK_ACTIVE and (known is None or until < known.until):
            earliest[wait.task] = wait
    return sorted(earliest.values(), key=lambda w: (w.until, w.task))


async def _started(start: asyncio.Future[Any]) -> Any:
    """A nested run's start in flight, once its attempt has been cancelled: its handle, however
    often the attempt is cancelled again meanwhile (the run ending with it still in flight).
    A cancel that reached the start itself was the SDK's cancel of a start in flight: the
    attempt ended while the server still started the child, which then ran to its end."""
    while True:
        try:
            return await asyncio.shield(start)
        except asyncio.CancelledError:
            if start.done():  # cancelled itself (the run evicted from the cache): so be it
                return start.result()


async def _cancel_run(workflow_id: str) -> bool:
    """Ask a run to cancel; False if that could not be asked (no such run yet, or it ended)."""
    try:
        await workflow.get_external_workflow_handle(workflow_id).cancel()
    except Exception:  # noqa: BLE001 - the caller decides whether to ask again
        return False
    return True


async def _cancel_once_started(child_id: str, early: asyncio.Task[bool] | None) -> None:
    """Cancel a nested run that has started, unless the cancel sent while it was starting
    (CANCEL_STARTING_AT_ONCE) reached it already."""
    if early is None or not await early:
        await _cancel_run(child_id)


async def _cancel_came_with_start() -> bool:
    """Whether the run's cancel came with its start (a cancel sent at once, a parent's cancel
    reaching a nested run as it starts, or either under load). The SDK delivers such a cancel
    only once the run's first step has run, which dispatched the first tasks (and under
    allow_finish let them run to their end): one yield lets it in first. Nothing else is ready
    in a run's first activation, so a run without a cancel does just what it did."""
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        return True
    return False


def _inquiry_id(value: int | str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


async def _quietly(signal: Any) -> None:
    """Signal (or cancel) a child; it may have ended meanwhile, which is fine."""
    try:
        await signal
    except Exception:  # noqa: BLE001 - best effort: a child that ended needs no pause
        pass


def _secret_checks(action: Action, given: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema of each secret parameter given sealed, for the worker to check (here only the
    sealed token is seen); empty, and so not sent, for a task without one."""
    sealed = [name for name in action.secret_names() if is_sealed(given.get(name))]
    if not sealed:
        return {}
    schema = to_json_schema({name: action.parameters[name] for name in sealed})
    return {name: schema["properties"][name] for name in sealed}


def _timer_summary(command: StartTimer) -> str:
    """How a timer reads in the Web UI's event history ("Timer 3" said nothing)."""
    kind, _, key = command.key.partition(":")
    seconds = f"{command.seconds:g} s"
    if kind == "retry":
        return f"retry {key} in {seconds}"
    if kind == "delay":
        return f"delay of task run {key}: {seconds}"
    return f"{command.key}: {seconds}"


def _over_limit(value: Any, what: str) -> str | None:
    """A message when `value` is more than MAX_VALUE_BYTES of JSON, else None."""
    size = len(json.dumps(value, default=str))
    if size <= MAX_VALUE_BYTES:
        return None
    return (f"{what} is {_human(size)} of JSON, over the limit of {_human(MAX_VALUE_BYTES)} "
            "per value (pass references such as file paths instead)")


def _inline_bytes(payload: Any) -> int:
    """What a command's payload adds to its workflow task: 0 when it goes to the blob directory."""
    size = len(payload.model_dump_json())
    return size if size <= OFFLOAD_BYTES else 0


def _human(size: int) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _timeout(dispatch: Dispatch, action: Action) -> float:
    """The task's `timeout` (fractions allowed), else the action's timeout_seconds."""
    return dispatch.timeout_seconds if dispatch.timeout_seconds is not None else action.timeout_seconds


def _ask_too_long(dispatch: Dispatch) -> str | None:
    """Why a core.ask's timeout_seconds is refused: over MAX_DURATION_SECONDS, a wait its
    inquiry's timeout_at could not hold (asked of the run only then)."""
    given = dispatch.input.get("timeout_seconds")
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        return None
    problem = over_duration_limit(given, f"task '{dispatch.task}' input.timeout_seconds (core.ask)")
    return problem if problem is not None and workflow.patched(DURATION_LIMIT) else None


def _semantics(baseline: bool) -> Semantics:
    loop_joins = functools.partial(workflow.patched, RERUN_LOOP_JOINS)  # asked only when it matters
    durations = functools.partial(workflow.patched, DURATION_LIMIT)  # the same
    if baseline:
        return Semantics(rerun_loop_joins=loop_joins, bounded_durations=durations)
    semantics = Semantics(rerun_loop_joins=loop_joins) if workflow.patched(SEMANTICS_2) else LEGACY
    forms = workflow.patched(ATTUNE_FORMS)
    return dataclasses.replace(semantics, self_loop_starts=forms, null_parameters=forms,
                               bounded_durations=durations)


def _nested_defaults() -> bool:
    return workflow.patched(NESTED_DEFAULTS)


def _uuid() -> str:
    return str(workflow.uuid4())  # replay-safe: from the workflow's seeded random source


SUMMARY_BYTES = 400  # Temporal's default limit.userMetadataSummarySize


def _capped(summary: str) -> str:
    """A summary within SUMMARY_BYTES of UTF-8: a longer one (an 80-character task name of
    4-byte characters and two 200-character refs) could be refused by a server that applies
    the limit, which fails the workflow task. Cut at a character, marked with an ellipsis."""
    data = summary.encode()
    if len(data) <= SUMMARY_BYTES:
        return summary
    return data[:SUMMARY_BYTES - 3].decode(errors="ignore") + "…"


def _summary(dispatch: Dispatch) -> str:
    """`deploy [3] attempt 2 · ops.deploy`; a loop's later runs of a task numbered (`step #37`),
    as 500 runs of one read alike. Not part of the commands replay checks: it can change."""
    key = dispatch.key
    item = f" [{key.index}]" if key.index is not None else ""
    again = _again(key)
    attempt = f" attempt {key.attempt + 1}" if key.attempt else ""
    return f"{dispatch.task}{again}{item}{attempt} · {dispatch.action_ref}"


def _again(key: AttemptKey) -> str:
    return f" #{key.iteration}" if key.iteration > 1 else ""


def _outcome_status(result: ProcessResult) -> TaskStatus:
    if result.cancelled:
        return TaskStatus.CANCELLED
    if result.succeeded:
        return TaskStatus.SUCCEEDED
    return TaskStatus.TIMED_OUT if result.timed_out else TaskStatus.FAILED


def _lost_worker_fails() -> bool:
    return workflow.patched(LOST_WORKER_FAILS)


def _outcome_of_error(exc: BaseException, lost_worker_fails: Callable[[], bool] = _lost_worker_fails) -> Outcome:
    if is_cancelled_exception(exc) or isinstance(exc, asyncio.CancelledError):
        return Outcome(status=TaskStatus.CANCELLED, result={"succeeded": False, "error": "Cancelled"})
    if isinstance(exc, ChildWorkflowError) and isinstance(exc.cause, ApplicationError):
        details = exc.cause.details
        result = details[0] if details else {"error": exc.cause.message, "succeeded": False}
        timed_out = exc.cause.type == "ActionTimedOut"
        return Outcome(status=TaskStatus.TIMED_OUT if timed_out else TaskStatus.FAILED, result=result)
    if isinstance(exc, (ActivityError, ChildWorkflowError)):
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        status = TaskStatus.TIMED_OUT if "timeout" in type(cause).__name__.lower() else TaskStatus.FAILED
        if isinstance(cause, TemporalTimeoutError) and cause.type == TimeoutType.HEARTBEAT:
            message = (f"the worker running it stopped answering (no heartbeat for "
                       f"{HEARTBEAT_TIMEOUT.total_seconds():g} s): it died or lost the server")
            if isinstance(exc, ActivityError) and exc.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
                message += (f"; not run again, after {INFRA_RETRY.maximum_attempts} attempts (at most "
                            f"{INFRA_RETRY.maximum_attempts} when workers stop or die)")
            if lost_worker_fails():  # not the action's timeout: no timed_out()
                status = TaskStatus.FAILED
        elif (isinstance(exc, ActivityError) and isinstance(cause, TemporalTimeoutError)
              and cause.type == TimeoutType.START_TO_CLOSE):  # a nested run's timeout is its own
            # The worker ends an action at its own timeout: this backstop firing means the
            # worker neither finished nor reported (a hung environment build, a wedged worker).
            message = ("the worker did not report the attempt's end within its time limit (the "
                       "task's timeout plus 60 s, and on a runtime worker the time a pack's "
                       f"environment build may take, {BUILD_TIMEOUT_SECONDS} s): it is stuck or "
                       "lost the server")
            if lost_worker_fails():
                status = TaskStatus.FAILED
        return Outcome(status=status, result={"succeeded": False, "error": message})
    # An engine bug: fail this task visibly instead of losing the attempt in a background task.
    return Outcome(status=TaskStatus.FAILED, result={"succeeded": False, "error": f"internal error: {exc!r}"})
