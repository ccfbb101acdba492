"""The task graph of a definition: inbound edges, start tasks, join thresholds (spec §3)."""

from __future__ import annotations

from dataclasses import dataclass

from attune.workflows.definition import Transition, WorkflowDefinition


@dataclass(frozen=True)
class TaskGraph:
    inbound: dict[str, frozenset[str]]  # task -> distinct tasks with a transition into it
    outbound: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, definition: WorkflowDefinition) -> TaskGraph:
        inbound: dict[str, set[str]] = {t.name: set() for t in definition.tasks}
        outbound: dict[str, list[str]] = {t.name: [] for t in definition.tasks}
        for task in definition.tasks:
            for transition in task.next:
                for target in transition.do:
                    inbound.setdefault(target, set()).add(task.name)
                    if target not in outbound[task.name]:
                        outbound[task.name].append(target)
        return cls(
            inbound={k: frozenset(v) for k, v in inbound.items()},
            outbound={k: tuple(v) for k, v in outbound.items()},
        )

    def start_tasks(self, definition: WorkflowDefinition, self_loops: bool = True) -> list[str]:
        """Tasks with no inbound edge; a task's own self-loop does not count (spec §3) unless
        `self_loops` is False (how runs recorded before that rule started)."""
        return [t.name for t in definition.tasks
                if not self.inbound.get(t.name, frozenset()) - ({t.name} if self_loops else set())]

    def reachable(self, starts: list[str], without: str | None = None) -> set[str]:
        """Tasks a run can reach from `starts`, never passing through `without`."""
        seen: set[str] = set()
        pending = [s for s in starts if s != without]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            pending.extend(t for t in self.outbound.get(name, ()) if t != without)
        return seen

    def in_cycle(self, task: str) -> bool:
        """Can `task` lead back to itself?"""
        return task in self.reachable(list(self.outbound.get(task, ())))

    def always_run(self, definition: WorkflowDefinition) -> list[str]:
        """Tasks that run in every run of the workflow: the start tasks and whatever they reach
        through transitions with no `when` (a join target is left out: it may wait forever).
        A target that names no task is skipped: validation says so, this must not crash first."""
        found = list(self.start_tasks(definition))
        names = {t.name for t in definition.tasks}
        for name in found:
            for transition in definition.task(name).next:
                unconditional = (transition.when is None and transition.on_status is None
                                 and not transition.otherwise)
                for target in transition.do if unconditional else ():
                    if target not in found and target in names and definition.task(target).join is None:
                        found.append(target)
        return found

    def join_threshold(self, definition: WorkflowDefinition, task: str) -> int | None:
        join = definition.task(task).join
        if join == "all":
            return len(self.inbound.get(task, ()))
        return join

    def describe(self, definition: WorkflowDefinition) -> dict[str, dict]:
        """JSON-friendly graph for records and the UI: each task's action, the tasks it leads to,
        its join, and its transitions with their conditions (so a run is drawn with the labels
        it ran with, after its workflow file changed)."""
        return {
            t.name: {"action": t.action, "next": list(self.outbound[t.name]), "join": t.join,
                     "transitions": [{"when": condition(tr), "do": list(tr.do)} for tr in t.next],
                     **({"parallel": {s.name: s.action for s in t.parallel}} if t.parallel else {})}
            for t in definition.tasks
        }


def condition(transition: Transition) -> str | None:
    """A transition's condition as one expression (None: always), the legacy forms included:
    `on_success: [{when: X}]` is `succeeded() and X`, a decision's default `otherwise`."""
    when = transition.when
    inner = when.strip().removeprefix("{{").removesuffix("}}").strip() if when else None
    if transition.on_status:
        inner = f"{transition.on_status}() and ({inner})" if inner else f"{transition.on_status}()"
    if transition.otherwise:
        inner = f"otherwise ({inner})" if inner else "otherwise"
    return f"{{{{ {inner} }}}}" if inner else None
