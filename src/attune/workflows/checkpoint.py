"""A conductor's state as plain data, so a long run can go on in a fresh Temporal run
(continue-as-new) whose history starts empty.

Taken only when nothing is in flight: the host holds dispatching (`Conductor.hold`) and waits for
running attempts to end. The state is then the runs that are still active or still referenced
(each task's latest run, join barriers, pending timers and inquiry waits), the variables, the
latest results and the answered inquiries. Older runs are dropped, so a checkpoint has the size
of the definition, not of the run's past; their part in the causal chain that tells a loop's
back edge from a slower branch (see `_descends_from`) is kept as edges between the runs that
remain. No Temporal here: the host carries the data and the timers' remaining seconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from attune.statuses import TaskStatus
from attune.workflows.commands import Command, StartTimer
from attune.workflows.conductor import Conductor, Run, Unit


class SavedUnit(BaseModel):
    index: int | None
    item: Any = None
    attempt: int = 0
    status: TaskStatus
    result: Any = None
    span: tuple[int, int] | None = None


class SavedRun(BaseModel):
    task: str
    iteration: int
    seq: int
    triggered_by: str | None
    status: TaskStatus
    units: list[SavedUnit] = Field(default_factory=list)
    next_unit: int = 0
    ready: list[int] = Field(default_factory=list)  # positions in `units`
    waited: bool = False
    is_items: bool = False
    is_parallel: bool = False
    result: Any = None
    ended: int = 0
    items: list[Any] = Field(default_factory=list)
    parents: list[int] = Field(default_factory=list)  # seqs of the retained runs it descends from
    cancelled_alone: bool = False


class Checkpoint(BaseModel):
    """Everything a conductor needs to go on; `timers` are the pending timers' keys (the host
    knows how long each still has to run)."""

    seq: int
    runs: list[SavedRun]  # in activation order
    iterations: dict[str, int]
    active: list[int]
    variables: dict[str, Any]
    task_results: dict[str, Any]
    inquiries: dict[str, dict[str, Any]]
    unhandled: list[str]
    paused: bool
    barriers: dict[str, dict[str, int]]  # join target -> source task -> run seq
    delayed: dict[str, int]  # delay timer -> run seq
    retries: dict[str, tuple[int, int]]  # retry timer -> (run seq, unit position)
    waiting: list[tuple[int | str, list[int]]]  # inquiry -> run seqs waiting for it
    starved: list[int]

    @property
    def timers(self) -> list[str]:
        return [*self.delayed, *self.retries]


class NotQuiescent(RuntimeError):
    """A checkpoint was asked for while attempts were in flight (a host bug)."""


def save(conductor: Conductor) -> Checkpoint:
    c = conductor
    if c.in_flight or c.finished is not None or c.cancelling:
        raise NotQuiescent(f"cannot checkpoint: {c.in_flight} attempt(s) in flight, "
                           f"finished={c.finished is not None}, cancelling={c.cancelling}")
    referenced = [runs[-1] for runs in c.runs.values() if runs]
    referenced += c.active_runs()
    referenced += [run for arrived in c.barriers.values() for run in arrived.values()]
    kept = {run.seq: run for run in referenced}
    every = sorted((run for runs in c.runs.values() for run in runs), key=lambda r: r.seq)
    # What each run reaches among the kept ones through dropped runs (parents come first).
    reach: dict[int, frozenset[int]] = {}
    for run in every:
        reach[run.seq] = frozenset({run.seq}) if run.seq in kept else _union(run, reach)
    return Checkpoint(
        seq=c._seq,
        runs=[_save_run(run, _union(run, reach)) for run in every if run.seq in kept],
        iterations=dict(c.iterations),
        active=[run.seq for run in c.active_runs()],
        variables=c.variables,
        task_results=c.task_results,
        inquiries=c.inquiries,
        unhandled=list(c.unhandled),
        paused=c.paused,
        barriers={t: {src: run.seq for src, run in arrived.items()} for t, arrived in c.barriers.items()},
        delayed={key: run.seq for key, run in c._delayed.items()},
        retries={key: (run.seq, _position(run, unit)) for key, (run, unit) in c._retries.items()},
        waiting=[(inquiry, [run.seq for run in runs]) for inquiry, runs in c._waiting.items()],
        starved=list(c._starved),
    )


def restore(conductor: Conductor, saved: Checkpoint, remaining: dict[str, float]) -> list[Command]:
    """Load `saved` into a fresh conductor of the same definition and go on: restart the pending
    timers (`remaining` seconds each, from the host) and dispatch what the hold kept back."""
    c = conductor
    runs: dict[int, Run] = {}
    for item in saved.runs:  # parents before children: their seqs are lower
        run = _load_run(item, runs)
        runs[run.seq] = run
        c.runs.setdefault(run.task, []).append(run)
    c._seq = saved.seq
    c.iterations.update(saved.iterations)
    c._active = {seq: runs[seq] for seq in saved.active}
    c.variables.update(saved.variables)
    c.task_results.update(saved.task_results)
    c.inquiries.update(saved.inquiries)
    c.unhandled = list(saved.unhandled)
    c.paused = saved.paused
    c.barriers = {t: {src: runs[seq] for src, seq in arrived.items()} for t, arrived in saved.barriers.items()}
    c._delayed = {key: runs[seq] for key, seq in saved.delayed.items()}
    c._retries = {key: (runs[seq], runs[seq].units[pos]) for key, (seq, pos) in saved.retries.items()}
    c._waiting = {inquiry: [runs[seq] for seq in seqs] for inquiry, seqs in saved.waiting}
    c._starved = {seq: runs[seq] for seq in saved.starved}
    timers: list[Command] = [StartTimer(key=key, seconds=max(remaining.get(key, 0.0), 0.0))
                             for key in saved.timers]
    return timers + c.release()


def _union(run: Run, reach: dict[int, frozenset[int]]) -> frozenset[int]:
    out: frozenset[int] = frozenset()
    for parent in run.parents:
        out |= reach.get(parent.seq, frozenset())
    return out


def _position(run: Run, unit: Unit) -> int:
    return next(i for i, u in enumerate(run.units) if u is unit)


def _save_run(run: Run, parents: frozenset[int]) -> SavedRun:
    return SavedRun(
        task=run.task, iteration=run.iteration, seq=run.seq, triggered_by=run.triggered_by,
        status=run.status, next_unit=run.next_unit, waited=run.waited, is_items=run.is_items,
        is_parallel=run.is_parallel, result=run.result, ended=run.ended, items=run.items,
        cancelled_alone=run.cancelled_alone,
        units=[SavedUnit(index=u.index, item=u.item, attempt=u.attempt, status=u.status,
                         result=u.result, span=u.span) for u in run.units],
        ready=[_position(run, unit) for unit in run.ready],
        parents=sorted(parents),
    )


def _load_run(saved: SavedRun, known: dict[int, Run]) -> Run:
    units = [Unit(index=u.index, item=u.item, attempt=u.attempt, status=u.status, result=u.result,
                  span=u.span) for u in saved.units]
    return Run(
        task=saved.task, iteration=saved.iteration, seq=saved.seq, triggered_by=saved.triggered_by,
        status=saved.status, units=units, next_unit=saved.next_unit,
        ready=[units[i] for i in saved.ready], waited=saved.waited, is_items=saved.is_items,
        is_parallel=saved.is_parallel, result=saved.result, ended=saved.ended, items=saved.items,
        cancelled_alone=saved.cancelled_alone,
        parents=tuple(known[seq] for seq in saved.parents),
    )
