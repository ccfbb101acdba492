"""The pure workflow state machine (spec §3–§5).

The host (the Temporal workflow, or a unit test) feeds it events — an attempt ended, a timer
fired, cancellation was requested — and carries out the commands it returns. It never runs an
action, sleeps or reads a clock, so the same events always give the same commands.

Vocabulary: a *task* is a definition entry; a *run* is one activation of a task (loops make
several); a *unit* is one item of a with_items run (a plain run has a single unit); an *attempt*
is one try of a unit (retries make several).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from attune.expressions import EvalContext, ExpressionError, evaluate_condition, render
from attune.expressions.values import type_of
from attune.problems import shown
from attune.statuses import TASK_FAILURES, ExecutionStatus, TaskStatus, aggregate
from attune.workflows.commands import (
    CancelAttempt,
    Command,
    Dispatch,
    Finish,
    Outcome,
    StartTimer,
    WaitForInquiry,
)
from attune.workflows.definition import TaskSpec, Transition, WorkflowDefinition, over_duration_limit
from attune.workflows.events import (
    AttemptEnded,
    CancelRequested,
    Event,
    InquiryResolved,
    PauseRequested,
    ResumeRequested,
    TimerFired,
)
from attune.workflows.graph import TaskGraph
from attune.workflows.keys import AttemptKey, delay_timer, retry_timer
from attune.workflows.results import visible_result

# Bounds that keep every Temporal history and pending-work count within its limits.
MAX_IN_FLIGHT = 1000  # attempts in flight per workflow run, below Temporal's 2,000
SLICE_SIZE = 500  # with_items longer than this run as child workflows of this many items


@dataclass(frozen=True)
class Semantics:
    """Behaviour that changed while runs were in flight: the host turns each on only for runs
    that started after the change (Temporal replays older histories with the old behaviour)."""

    # A retry waits for a free slot like any other unit (concurrency and the in-flight bound
    # always hold), instead of dispatching the moment its timer fires.
    strict_bounds: bool = True
    # A task that ends `cancelled` while its workflow is not being cancelled is a failure
    # unless a transition handles it (spec §3).
    cancelled_fails: bool = True
    # Cancelling with `allow_finish` reaches running nested workflows and slices, so nothing
    # new starts anywhere in the tree (spec §3).
    cancel_reaches_children: bool = True
    # Host checks: a task whose action is disabled fails instead of running; nested workflows
    # deeper than the depth limit fail their task; child ids do not grow with depth.
    refuse_disabled: bool = True
    bounded_nesting: bool = True
    # A task's self-loop does not count as an inbound edge when finding start tasks (spec §3).
    self_loop_starts: bool = True
    # A declared parameter that was not given and has no default is null in expressions (the
    # host prepares the parameters).
    null_parameters: bool = True
    # `wait_for: {inquiry}` waits for the inquiry (spec §9); before, such a run failed clearly.
    inquiries: bool = True
    # A re-run from failed tasks feeds a loop's join the kept tasks' arrivals even though the
    # join ran in an earlier iteration (it ran no further). A callable is asked only when that
    # case comes up (the host's patch check, so re-runs from before replay as they were).
    rerun_loop_joins: bool | Callable[[], bool] = True
    # A template's `delay` or `timeout` must be a number (true was taken as 1 s) within
    # MAX_DURATION_SECONDS (a larger one failed the run with OverflowError, "internal error").
    # A callable is asked only when a value breaks either rule.
    bounded_durations: bool | Callable[[], bool] = True


LEGACY = Semantics(strict_bounds=False, cancelled_fails=False, cancel_reaches_children=False,
                   rerun_loop_joins=False, bounded_durations=False,
                   refuse_disabled=False, bounded_nesting=False, self_loop_starts=False,
                   null_parameters=False, inquiries=False)


@dataclass(frozen=True)
class Resume:
    """Where a re-run from failed tasks starts (spec §9): the tasks that succeeded keep their
    results and the published variables; only `rerun` (and what follows from them) runs."""

    results: dict[str, Any]  # task -> the result of its latest (succeeded) run
    variables: dict[str, Any]
    rerun: list[str]


class WorkflowError(Exception):
    """A definition or expression problem found while running: fails the workflow. `task`: the
    task it is about, when that task could not run because of it (its input, items, timing)."""

    def __init__(self, message: str, task: str | None = None) -> None:
        super().__init__(message)
        self.task = task


@dataclass
class Unit:
    index: int | None  # item index, None for a plain task
    item: Any = None
    attempt: int = 0
    status: TaskStatus = TaskStatus.DELAYED  # waiting for dispatch or a retry timer
    result: Any = None
    in_flight: bool = False
    span: tuple[int, int] | None = None  # a slice of a large with_items: items [start, end)


@dataclass
class Run:
    task: str
    iteration: int
    seq: int  # order of activation; decides whether a trigger may re-run a task
    triggered_by: str | None
    status: TaskStatus = TaskStatus.DELAYED
    units: list[Unit] = field(default_factory=list)
    next_unit: int = 0
    ready: list[Unit] = field(default_factory=list)  # retries waiting for a free slot
    waited: bool = False  # its `wait_for` inquiry was answered
    is_items: bool = False
    is_parallel: bool = False  # `type: parallel`: unit i runs sub-task i
    result: Any = None
    in_flight: int = 0  # units dispatched and not yet ended
    ended: int = 0  # units with a final outcome
    items: list[Any] = field(default_factory=list)  # all items, when units are slices
    # The runs whose transitions activated this one (several for a join): the causal chain.
    parents: tuple[Run, ...] = ()
    # Ended `cancelled` while its workflow was not being cancelled: a failure unless handled
    # (spec §3), like a timeout: its cancelled() transitions fire, not failed().
    cancelled_alone: bool = False

    @property
    def key(self) -> str:
        return f"{self.task}.{self.iteration}"

    def attempt(self, unit: Unit) -> AttemptKey:
        return AttemptKey(task=self.task, iteration=self.iteration, attempt=unit.attempt,
                          index=unit.index, span=unit.span)


class Conductor:
    # Bounds that keep histories and pending work within Temporal's limits (tests lower them).
    max_in_flight = MAX_IN_FLIGHT
    slice_size = SLICE_SIZE

    def __init__(
        self,
        definition: WorkflowDefinition,
        parameters: dict[str, Any] | None = None,
        *,
        config: dict[str, Any] | None = None,
        system: dict[str, Any] | None = None,
        semantics: Semantics = Semantics(),
        clock: Callable[[], datetime] | None = None,
        uuid: Callable[[], str] | None = None,
    ) -> None:
        self.definition = definition
        self.semantics = semantics
        # now() / uuid() in expressions: the host's replay-safe sources (never the real clock).
        self.clock = clock
        self.uuid = uuid
        self.graph = TaskGraph.of(definition)
        self.parameters = dict(parameters or {})
        self.config = config or {}
        self.system = system or {}
        self.variables: dict[str, Any] = {}
        self.task_results: dict[str, Any] = {}  # latest result per task, as expressions see it
        # Runs per task in activation order. A run continued from a checkpoint keeps only the
        # runs still needed (attune.workflows.checkpoint); `iterations` counts them all.
        self.runs: dict[str, list[Run]] = {t.name: [] for t in definition.tasks}
        self.iterations: dict[str, int] = {t.name: 0 for t in definition.tasks}
        self.barriers: dict[str, dict[str, Run]] = {}  # join target -> arrived source runs
        self.unhandled: list[str] = []
        self.cancelling = False
        self._cancel_pending = False  # cancelling since before the start: not yet settled
        self.paused = False  # dispatch nothing new (spec §9 pause); running attempts go on
        self.held = False  # the same, asked by the host (to checkpoint the run), not by a user
        self.inquiries: dict[str, dict[str, Any]] = {}  # task -> its answered inquiry
        self.finished: Finish | None = None
        self._seq = 0
        self._commands: list[Command] = []
        self._attempts: dict[AttemptKey, tuple[Run, Unit]] = {}  # in flight, by attempt
        self._retries: dict[str, tuple[Run, Unit]] = {}  # retry timer key -> unit waiting
        self._delayed: dict[str, Run] = {}  # delay timer key -> run
        self._active: dict[int, Run] = {}  # seq -> run not yet complete (O(1) finish checks)
        self._in_flight = 0  # across runs: bounded by MAX_IN_FLIGHT
        self._starved: dict[int, Run] = {}  # runs with units held back by the global bound
        self._waiting: dict[int | str, list[Run]] = {}  # inquiry -> runs waiting for it

    # ---- events -------------------------------------------------------------------------------

    def start(self) -> list[Command]:
        def begin() -> None:
            ctx = self._context()
            for name, value in self.definition.vars.items():
                self.variables[name] = self._render(value, ctx, f"vars.{name}")
                ctx = self._context()
            starts = self.graph.start_tasks(self.definition, self_loops=self.semantics.self_loop_starts)
            if not starts:
                raise WorkflowError("no start task: every task has a transition into it")
            for name in starts:
                self._activate(name, source=None)

        return self._step(begin)

    def pause_before_start(self) -> None:
        """Paused before `start`/`resume`: they queue the first tasks without dispatching them,
        and the run waits for ResumeRequested. (Handling PauseRequested before start found
        nothing active and finished the run as completed with no task run.)"""
        self.paused = True

    def cancel_before_start(self) -> None:
        """Cancelled before `start`/`resume` (or a checkpoint's restore): they activate and
        dispatch nothing, so the run ends `cancelled` with no task run; what a restore brought
        back is settled by the CancelRequested handled after it. (Handled after `start`, the
        cancel let the first tasks start, and under allow_finish run to their end.)"""
        self.cancelling = True
        self._cancel_pending = True

    def resume(self, state: Resume) -> list[Command]:
        """Start where a failed run stopped: its succeeded tasks count as run (their results
        and the variables as they were), and the tasks in `state.rerun` start again."""
        def begin() -> None:
            self.variables.update(state.variables)
            kept = []
            for name, result in state.results.items():
                if name not in self.runs:
                    continue  # a task the definition no longer has
                self._seq += 1
                run = Run(task=name, iteration=1, seq=self._seq, triggered_by=None,
                          status=TaskStatus.SUCCEEDED, result=result)
                self.runs[name].append(run)
                self.iterations[name] = 1
                self.task_results[name] = visible_result(result)
                kept.append(run)
            self._seed_joins(kept, state.rerun)
            for name in state.rerun:
                if name in self.runs:
                    self._activate(name, source=None)
                    self._descend_from_feeders(name, kept)

        return self._step(begin)

    def _descend_from_feeders(self, name: str, kept: list[Run]) -> None:
        """A re-run task inside a loop comes after the kept runs of the tasks that lead to it
        (as its failed run did), so what it leads to that already ran in the loop runs again
        rather than counting as a sibling branch's arrival (spec §3 loops)."""
        runs = self.runs[name]
        feeders = tuple(run for run in kept
                        if any(name in tr.do for tr in self.definition.task(run.task).next))
        looped = any(self.runs[target] for tr in self.definition.task(name).next for target in tr.do)
        if runs and feeders and looped and self._rerun_loop_joins():
            runs[-1].parents = feeders

    def handle(self, event: Event) -> list[Command]:
        """One event from the host; returns what to do next."""
        if isinstance(event, AttemptEnded):
            return self._step(lambda: self._on_attempt_ended(event.key, event.outcome))
        if isinstance(event, TimerFired):
            return self._step(lambda: self._on_timer(event.key))
        if isinstance(event, CancelRequested):
            return self._step(self._on_cancel)
        if isinstance(event, PauseRequested):
            return self._step(self._on_pause)
        if isinstance(event, ResumeRequested):
            return self._step(self._on_resume)
        if isinstance(event, InquiryResolved):
            return self._step(lambda: self._on_inquiry(event))
        raise TypeError(f"unknown event {event!r}")

    def hold(self) -> list[Command]:
        """Dispatch nothing new until `release` (running attempts end as usual): the host
        checkpoints the run once nothing is in flight."""
        def hold() -> None:
            self.held = True

        return self._step(hold)

    def release(self) -> list[Command]:
        """Dispatch again what `hold` held back (unless the run is paused)."""
        def release() -> None:
            self.held = False
            self._fill_all()

        return self._step(release)

    def abort(self, error: str) -> list[Command]:
        """The host cannot go on (e.g. history near its limit): fail with `error`."""
        def fail() -> None:
            raise WorkflowError(error)

        return self._step(fail)

    # ---- queries ------------------------------------------------------------------------------

    def active_runs(self) -> list[Run]:
        return list(self._active.values())

    @property
    def in_flight(self) -> int:
        """Attempts dispatched and not yet ended (a paused run is `paused` once this is 0)."""
        return self._in_flight

    def failed_tasks(self) -> list[str]:
        """Tasks whose latest run failed, timed out or was cancelled on its own (spec §3)."""
        return [name for name, runs in self.runs.items()
                if runs and (runs[-1].status in TASK_FAILURES or runs[-1].cancelled_alone)]

    def task_states(self) -> dict[str, TaskStatus]:
        """Latest run status per task (pending when it never ran)."""
        return {name: (runs[-1].status if runs else TaskStatus.PENDING)
                for name, runs in self.runs.items()}

    def dispatched(self, *, held: bool = False) -> list[str]:
        """The tasks whose latest run has units dispatched and not ended, or (`held`) those
        activated with none dispatched: what a hold or a pause keeps back."""
        return sorted(name for name, runs in self.runs.items() if runs and (
            runs[-1].in_flight == 0 and runs[-1].status == TaskStatus.RUNNING if held
            else runs[-1].in_flight > 0))

    # ---- machinery ----------------------------------------------------------------------------

    def _step(self, action: Callable[[], None]) -> list[Command]:
        if self.finished is not None:
            return []
        self._commands = []
        try:
            action()
            self._maybe_finish()
        except WorkflowError as exc:
            self._fail(str(exc), exc.task)
        return self._commands

    def _emit(self, command: Command) -> None:
        self._commands.append(command)

    def _context(self, **extra: Any) -> EvalContext:
        return EvalContext(
            parameters=self.parameters,
            variables=self.variables,
            tasks=self.task_results,
            config=self.config,
            system=self.system,
            clock=self.clock,
            uuid=self.uuid,
            inquiries=self.inquiries,
            **extra,
        )

    def _render(self, value: Any, ctx: EvalContext, where: str, task: str | None = None) -> Any:
        try:
            return render(value, ctx)
        except ExpressionError as exc:
            where = f"{where}.{exc.field}" if exc.field else where  # task 't' input.v.x
            raise WorkflowError(f"{where}: {exc}", task) from None

    def _activate(self, name: str, source: Run | None) -> None:
        """A transition (or the start) wants `name` to run."""
        if self.cancelling:
            return
        runs = self.runs[name]
        if source is not None and runs and not _descends_from(source, runs[-1]):
            return  # a sibling branch, not a loop back to the target (spec §3 loops)
        parents: tuple[Run, ...] = (source,) if source else ()
        threshold = self.graph.join_threshold(self.definition, name)
        if threshold is not None and source is not None:
            arrived = self.barriers.setdefault(name, {})
            arrived[source.task] = source
            if len(arrived) < threshold:
                return
            parents = tuple(self.barriers.pop(name).values())
        if self.iterations[name] >= self.definition.max_iterations:
            raise WorkflowError(
                f"task '{name}' exceeded max_iterations ({self.definition.max_iterations}); "
                "raise the workflow's max_iterations or fix the loop's exit condition"
            )
        self._seq += 1
        self.iterations[name] += 1
        run = Run(task=name, iteration=self.iterations[name], seq=self._seq,
                  triggered_by=source.task if source else None, parents=parents)
        runs.append(run)
        self._active[run.seq] = run
        spec = self.definition.task(name)
        delay = self._seconds(spec, "delay", spec.delay) if spec.delay is not None else 0
        if delay > 0:
            self._delayed[delay_timer(run.key)] = run
            self._emit(StartTimer(key=delay_timer(run.key), seconds=delay))
        else:
            self._begin(run)

    def _seconds(self, spec: TaskSpec, field_name: str, value: Any) -> float:
        rendered = self._render(value, self._context(), f"task '{spec.name}' {field_name}", spec.name)
        expected = f"task '{spec.name}' {field_name}: expected a number of seconds, got {shown(rendered)}"
        if isinstance(rendered, bool) and self._bounded_durations():  # a literal true is refused at load
            raise WorkflowError(expected, spec.name)
        if isinstance(rendered, bool) or not isinstance(rendered, (int, float)):
            try:
                rendered = float(rendered)
            except (TypeError, ValueError):
                raise WorkflowError(expected, spec.name) from None
        if rendered < 0 or (field_name == "timeout" and rendered <= 0):
            bound = "greater than 0" if field_name == "timeout" else "at least 0"
            raise WorkflowError(f"task '{spec.name}' {field_name}: must be {bound} seconds, "
                                f"got {rendered}", spec.name)
        too_long = over_duration_limit(rendered, f"task '{spec.name}' {field_name}")
        if too_long is not None and self._bounded_durations():
            raise WorkflowError(too_long, spec.name)
        return rendered

    def _bounded_durations(self) -> bool:
        bounded = self.semantics.bounded_durations
        return bounded() if callable(bounded) else bounded

    def _begin(self, run: Run) -> None:
        spec = self.definition.task(run.task)
        if spec.wait_for is not None and not run.waited:
            self._wait(run, spec)
            return
        run.status = TaskStatus.RUNNING
        if spec.parallel:
            run.is_parallel = True
            run.units = [Unit(index=i) for i in range(len(spec.parallel))]
        elif spec.with_items is None:
            run.units = [Unit(index=None)]
        else:
            run.is_items = True
            items = self._items(spec)
            if len(items) > self.slice_size:
                # Each slice runs as a child workflow, so no single history grows past
                # Temporal's limits however long the list is.
                run.items = items
                run.units = [Unit(index=None, span=(i, min(i + self.slice_size, len(items))))
                             for i in range(0, len(items), self.slice_size)]
            else:
                run.units = self._item_units(items)
            if not run.units:
                self._complete(run)
                return
        self._fill(run)

    def _wait(self, run: Run, spec: TaskSpec) -> None:
        """`wait_for: {inquiry}`: not dispatched until the inquiry resolves (spec §9)."""
        assert spec.wait_for is not None
        if not self.semantics.inquiries:  # how runs from before inquiries existed behaved
            raise WorkflowError(f"task '{spec.name}' has `wait_for: {{inquiry}}`, which this "
                                "engine does not carry out yet: the task would not wait")
        where = f"task '{spec.name}' wait_for.inquiry"
        inquiry = self._render(spec.wait_for.inquiry, self._context(), where, spec.name)
        if isinstance(inquiry, bool) or not isinstance(inquiry, (int, str)) or inquiry in ("", None):
            raise WorkflowError(f"{where}: expected an inquiry id, got {shown(inquiry)}", spec.name)
        run.status = TaskStatus.WAITING
        self._waiting.setdefault(inquiry, []).append(run)
        self._emit(WaitForInquiry(key=AttemptKey(task=run.task, iteration=run.iteration),
                                  inquiry=inquiry))

    def _on_inquiry(self, event: InquiryResolved) -> None:
        for run in self._waiting.pop(event.inquiry, []):
            if run.status != TaskStatus.WAITING:
                continue  # cancelled meanwhile
            if event.status == "responded":
                run.waited = True
                self.inquiries[run.task] = {"id": event.inquiry, "status": event.status,
                                            "response": event.response}
                self._begin(run)
            else:  # timeout -> timed_out(); cancelled (or gone) -> failed() (spec §9)
                status = TaskStatus.TIMED_OUT if event.status == "timeout" else TaskStatus.FAILED
                error = f"inquiry {event.inquiry} {'timed out' if event.status == 'timeout' else event.status}"
                run.units = [Unit(index=None, status=status,
                                  result={"succeeded": False, "error": error})]
                run.ended = 1
                self._complete(run)

    def _on_pause(self) -> None:
        self.paused = True

    def _on_resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self._fill_all()

    def _fill_all(self) -> None:
        for run in self.active_runs():
            if run.units and run.status == TaskStatus.RUNNING:
                self._fill(run)

    def _seed_joins(self, kept: list[Run], rerun: list[str]) -> None:
        """A re-run keeps its succeeded tasks without running them again, but a join after them
        still needs their arrival: replay their transitions into joins of tasks not kept, and
        into joins the re-run tasks lead to (in a loop such a join already ran, in an earlier
        iteration, and waits again for this one's arrivals)."""
        fed = {target for name in rerun if name in self.runs
               for transition in self.definition.task(name).next for target in transition.do}
        for run in kept:
            for number, transition in enumerate(self.definition.task(run.task).next):
                joins = [t for t in transition.do if self.graph.join_threshold(self.definition, t) is not None
                         and (self.iterations[t] == 0 or (t in fed and self._rerun_loop_joins()))]
                if joins and self._fires(run, number, transition, set()):
                    for target in joins:
                        self.barriers.setdefault(target, {})[run.task] = run

    def _rerun_loop_joins(self) -> bool:
        feeds = self.semantics.rerun_loop_joins
        return feeds() if callable(feeds) else feeds

    def _item_units(self, items: list[Any]) -> list[Unit]:
        return [Unit(index=i, item=item) for i, item in enumerate(items)]

    def _items(self, spec: TaskSpec) -> list[Any]:
        items = self._render(spec.with_items, self._context(), f"task '{spec.name}' with_items", spec.name)
        if not isinstance(items, list):
            raise WorkflowError(
                f"task '{spec.name}' with_items: expected a list, got "
                + ("null" if items is None else f"{type_of(items)} {shown(items)}"),
                spec.name)
        if spec.batch_size:
            return [items[i:i + spec.batch_size] for i in range(0, len(items), spec.batch_size)]
        return items

    def _fill(self, run: Run) -> None:
        """Dispatch units until the task's concurrency bound (and the workflow's) is reached."""
        spec = self.definition.task(run.task)
        limit = spec.concurrency if run.is_items else len(run.units)
        if run.items:  # slices: each child runs `concurrency` items at once
            limit = max(1, spec.concurrency // self.slice_size)
        while not self.cancelling and not self.paused and not self.held and run.in_flight < limit and (
                run.ready or run.next_unit < len(run.units)):
            if self._in_flight >= self.max_in_flight:
                self._starved[run.seq] = run
                return
            if run.ready:
                self._dispatch(run, run.ready.pop(0))
            else:
                self._dispatch(run, run.units[run.next_unit])
                run.next_unit += 1
        self._starved.pop(run.seq, None)

    def _refill_starved(self) -> None:
        for run in list(self._starved.values()):
            if self._in_flight >= self.max_in_flight:
                return
            self._fill(run)

    def _unit_spec(self, run: Run, unit: Unit) -> TaskSpec:
        """What a unit runs: the task itself, or its sub-task for a `type: parallel` task."""
        spec = self.definition.task(run.task)
        if run.is_parallel and spec.parallel and unit.index is not None:
            return spec.parallel[unit.index]
        return spec

    def _dispatch(self, run: Run, unit: Unit) -> None:
        spec = self._unit_spec(run, unit)
        slice_inputs = None
        if unit.span is not None:
            rendered_input: dict[str, Any] = {}
            slice_inputs = [self._render_input(spec, run.items[i], i) for i in range(*unit.span)]
        elif run.is_parallel:
            rendered_input = self._render_input(spec, None, None, has_item=False)
        else:
            rendered_input = self._unit_input(spec, run, unit)
        timeout = self._seconds(spec, "timeout", spec.timeout) if spec.timeout is not None else None
        unit.in_flight = True
        unit.status = TaskStatus.RUNNING
        run.in_flight += 1
        self._in_flight += 1
        key = run.attempt(unit)
        self._attempts[key] = (run, unit)
        self._emit(Dispatch(
            key=key,
            action_ref=spec.action or "",
            input=rendered_input,
            timeout_seconds=float(timeout) if timeout is not None else None,
            triggered_by=run.triggered_by,
            slice_inputs=slice_inputs,
            permission_set_refs=self._permission_sets(spec),
        ))

    def _permission_sets(self, spec: TaskSpec) -> list[str] | None:
        refs = spec.permission_set_refs
        if isinstance(refs, str):
            refs = self._render(refs, self._context(), f"task '{spec.name}' permission_set_refs", spec.name)
        if refs is None:
            return None
        if isinstance(refs, str):
            return [refs] if refs.strip() else []
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            raise WorkflowError(f"task '{spec.name}' permission_set_refs: expected a ref or a list "
                                f"of refs, got {shown(refs)}", spec.name)
        return refs

    def _unit_input(self, spec: TaskSpec, run: Run, unit: Unit) -> dict[str, Any]:
        """The input of one unit, rendered now (at its first dispatch and at every retry)."""
        return self._render_input(spec, unit.item, unit.index, run.is_items)

    def _render_input(self, spec: TaskSpec, item: Any, index: int | None,
                      has_item: bool = True) -> dict[str, Any]:
        ctx = self._context(item=item, index=index, has_item=has_item)
        return self._render(spec.input, ctx, f"task '{spec.name}' input", spec.name)

    def _on_attempt_ended(self, key: AttemptKey, outcome: Outcome) -> None:
        run, unit = self._attempts.pop(key)
        unit.in_flight = False
        run.in_flight -= 1
        self._in_flight -= 1
        if self._should_retry(run, unit, outcome):
            unit.attempt += 1
            unit.status = TaskStatus.DELAYED
            retry = self._unit_spec(run, unit).retry
            delay = retry.delay_before(unit.attempt) if retry else 0
            if delay > 0:
                timer = retry_timer(run.attempt(unit))
                self._retries[timer] = (run, unit)
                self._emit(StartTimer(key=timer, seconds=delay))
                if self.semantics.strict_bounds:  # a waiting retry holds no slot
                    self._fill(run)
                    self._refill_starved()
            else:
                self._retry_now(run, unit)
            return
        unit.status = outcome.status
        unit.result = outcome.result
        run.ended += 1
        if (run.ready or run.next_unit < len(run.units)) and not self.cancelling:
            self._fill(run)
        if run.ended == len(run.units):
            self._complete(run)
        self._refill_starved()

    def _should_retry(self, run: Run, unit: Unit, outcome: Outcome) -> bool:
        retry = self._unit_spec(run, unit).retry
        if (self.cancelling or retry is None or unit.span is not None
                or outcome.status not in TASK_FAILURES or not outcome.retryable):
            return False
        if unit.attempt >= retry.count:
            return False
        if retry.on_error is None:
            return True
        ctx = self._context(result=visible_result(outcome.result), status=outcome.status,
                            item=unit.item, index=unit.index, has_item=run.is_items)
        try:
            return evaluate_condition(retry.on_error, ctx)
        except ExpressionError as exc:
            raise WorkflowError(f"task '{run.task}' retry.on_error: {exc}", run.task) from None

    def _on_timer(self, key: str) -> None:
        if self.cancelling:
            return
        if key in self._delayed:
            self._begin(self._delayed.pop(key))
        else:
            self._retry_now(*self._retries.pop(key))

    def _retry_now(self, run: Run, unit: Unit) -> None:
        """The unit's next attempt is due: it takes the first free slot."""
        if not self.semantics.strict_bounds:
            self._dispatch(run, unit)
            return
        run.ready.append(unit)
        self._fill(run)

    def _complete(self, run: Run) -> None:
        """All units ended: settle the run's status and result, then fire transitions."""
        run.status = aggregate([u.status for u in run.units])
        self._active.pop(run.seq, None)
        self._starved.pop(run.seq, None)
        if run.items:  # slices: each unit's result is its items' results
            run.result = [r for u in run.units for r in (u.result or [])]
        elif run.is_items:
            run.result = [u.result for u in run.units]
        elif run.is_parallel:  # {sub-task: result}; each is also visible as task.<sub-task>
            subs = self.definition.task(run.task).parallel or []
            run.result = {sub.name: u.result for sub, u in zip(subs, run.units, strict=True)}
        else:
            run.result = run.units[0].result
        if run.is_parallel:  # task.<task>.<sub-task>.<data key> reads as task.<sub-task>.<key>
            visible = {k: visible_result(v) for k, v in run.result.items()}
            self.task_results.update(visible)
            self.task_results[run.task] = visible
        else:
            self.task_results[run.task] = visible_result(run.result)
        if self.cancelling:
            return
        run.cancelled_alone = run.status == TaskStatus.CANCELLED and self.semantics.cancelled_fails
        handled = self._fire_transitions(run)
        if not handled and (run.status in TASK_FAILURES or run.cancelled_alone):
            self.unhandled.append(run.task)

    def _fire_transitions(self, run: Run) -> bool:
        spec = self.definition.task(run.task)
        handled = False
        fired: set[int] = set()
        for number, transition in enumerate(spec.next):
            if not self._fires(run, number, transition, fired):
                continue
            fired.add(number)
            for name, value in transition.publish:
                ctx = self._ended_context(run)
                self.variables[name] = self._render(
                    value, ctx, f"task '{run.task}' transition #{number} publish '{name}'"
                )
            for target in transition.do:
                self._activate(target, source=run)
            handled = handled or bool(transition.do)
        return handled

    def _ended_context(self, run: Run) -> EvalContext:
        """What a transition of an ended run sees: its result and status functions."""
        return self._context(result=self.task_results[run.task], status=run.status)

    def _fires(self, run: Run, number: int, transition: Transition, fired: set[int]) -> bool:
        if transition.otherwise:  # a decision's default: no other branch of it fired
            return fired.isdisjoint(transition.otherwise)
        if transition.on_status is not None and transition.on_status != run.status:
            return False
        ctx = self._ended_context(run)
        try:
            return evaluate_condition(transition.when, ctx)
        except ExpressionError as exc:
            raise WorkflowError(f"task '{run.task}' transition #{number} (when): {exc}") from None

    def _on_cancel(self) -> None:
        if self.cancelling and not self._cancel_pending:
            return
        self.cancelling, self._cancel_pending = True, False
        cancel_running = self.definition.cancellation_policy == "cancel_running"
        self._waiting.clear()
        for run in self.active_runs():
            run.ready.clear()  # retries waiting for a slot never start now (marked below)
            for unit in run.units:
                if unit.in_flight:
                    if cancel_running:
                        self._emit(CancelAttempt(key=run.attempt(unit)))
                    elif self.semantics.cancel_reaches_children:
                        self._emit(CancelAttempt(key=run.attempt(unit), let_finish=True))
                elif unit.status == TaskStatus.DELAYED:  # queued or between retries: never starts
                    unit.status = TaskStatus.CANCELLED
                    run.ended += 1
            if not run.units:  # still in its `delay`
                run.units = [Unit(index=None, status=TaskStatus.CANCELLED)]
                run.ended = 1
            if run.in_flight == 0:
                self._complete(run)

    def _maybe_finish(self) -> None:
        if self.finished is not None or self._active:
            return
        if self.cancelling:
            self._finish(ExecutionStatus.CANCELLED, "Workflow cancelled")
        elif self.unhandled:
            order = {task.name: i for i, task in enumerate(self.definition.tasks)}
            names = ", ".join(sorted(self.unhandled, key=order.__getitem__))  # file order, not end order
            self._finish(ExecutionStatus.FAILED,
                         f"Workflow failed: {len(self.unhandled)} task(s) failed: {names}")
        else:
            ctx = self._context(not_run_is_null=True)  # alternative branches map this way
            output = {
                name: self._render(value, ctx, f"output_map.{name}")
                for name, value in self.definition.output_map.items()
            }
            self._finish(ExecutionStatus.COMPLETED, None, {**output, "succeeded": True})

    def _fail(self, error: str, task: str | None = None) -> None:
        """The workflow fails now, without waiting for what is in flight (it is cancelled):
        afterwards no task reads as running or queued, and `task`, which could not run because
        of `error`, reads as failed."""
        for run in self.active_runs():
            for unit in run.units:
                if unit.in_flight:
                    self._emit(CancelAttempt(key=run.attempt(unit)))
            run.status = TaskStatus.FAILED if run.task == task else TaskStatus.CANCELLED
        self._finish(ExecutionStatus.FAILED, error)

    def _finish(self, status: ExecutionStatus, error: str | None, result: Any = None) -> None:
        if result is None:
            result = {"error": error, "succeeded": False}
        self.finished = Finish(status=status, result=result, error=error)
        self._emit(self.finished)


def _descends_from(source: Run, target: Run) -> bool:
    """Is `target` in the causal chain that led to `source`?

    This is how a loop's back edge is told from a slower sibling branch: spec §3 says a trigger
    from a run that started after the target's latest run re-runs it; a sibling that merely
    started later (a diamond with a longer branch) never passed through the target, so it does
    not. Ancestors always started earlier, so the walk stops below the target's seq.
    """
    stack, seen = [source], set()
    while stack:
        run = stack.pop()
        if run is target:
            return True
        if run.seq <= target.seq or id(run) in seen:
            continue
        seen.add(id(run))
        stack.extend(run.parents)
    return False
