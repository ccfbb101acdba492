"""Whether a re-run from failed tasks still fits its workflow (spec §9).

A re-run from failed tasks starts the *current* definition with the results of the tasks the
failed run kept, and runs only its failed tasks and what follows from them. If the workflow was
edited in between, the kept state may no longer fit it: a kept or failed task it no longer has
would be dropped without a word, and a new task that would have run before the failed ones (a
new or renamed start task, a task leading to a failed one, one after a kept task) would never
run, leaving what reads its result to fail later. `misfits` names each such task, so the caller
can refuse the re-run. Edits that keep the state valid (a failed task's input, a task added
after the failed ones) are not misfits. Pure: no Temporal, FastAPI or SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from attune.workflows.definition import WorkflowDefinition
from attune.workflows.graph import TaskGraph


@dataclass(frozen=True)
class Misfit:
    """A task the kept state and the current definition disagree on, and why."""

    task: str
    why: str


def misfits(definition: WorkflowDefinition, ran: Mapping[str, Any], kept: Iterable[str],
            rerun: Iterable[str]) -> list[Misfit]:
    """What stops `definition` from going on where a failed run stopped: `ran` is the task graph
    that run recorded (its tasks by name; empty if unknown), `kept` the tasks whose results the
    re-run keeps, `rerun` the failed tasks it runs again."""
    names = [t.name for t in definition.tasks]
    kept, rerun = list(dict.fromkeys(kept)), list(dict.fromkeys(rerun))
    found = [Misfit(name, "succeeded and would be kept, but the workflow no longer has a task "
                     "of that name")
             for name in kept if name not in names]
    found += [Misfit(name, "failed and would run again, but the workflow no longer has a task "
                      "of that name")
              for name in rerun if name not in names]
    if not ran:  # nothing to tell a new task from one the run did not reach
        return found
    graph = TaskGraph.of(definition)
    reached = graph.reachable([name for name in rerun if name in names])
    starts = set(graph.start_tasks(definition))
    leading = _leading_to(graph, {name for name in rerun if name in names})
    for name in names:
        if name in ran or name in kept or name in reached:
            continue
        # A new task (or a renamed one) that the re-run never starts, though a run of this
        # definition would have run it where the kept tasks ran.
        after = sorted(graph.inbound.get(name, frozenset()) & set(kept))
        if name in starts:
            why = "is a start task"
        elif name in leading:
            why = "leads to " + ", ".join(f"'{t}'" for t in rerun if t in graph.reachable([name]))
        elif after:
            why = "follows kept task " + ", ".join(f"'{t}'" for t in after)
        else:
            continue  # after tasks the run did not reach: no run of it would have got there
        found.append(Misfit(name, f"is new (the failed run's workflow had no task of that name) "
                                  f"and {why}: a re-run from the failed tasks would never run it"))
    return found


def _leading_to(graph: TaskGraph, targets: set[str]) -> set[str]:
    """Tasks from which some transition path reaches one of `targets`."""
    found: set[str] = set()
    pending = list(targets)
    while pending:
        for source in graph.inbound.get(pending.pop(), frozenset()):
            if source not in found:
                found.add(source)
                pending.append(source)
    return found
