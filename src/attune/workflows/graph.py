"""The task graph of a definition: inbound edges, start tasks, join thresholds (spec §3)."""

from __future__ import annotations

from dataclasses import dataclass

from attune.workflows.definition import WorkflowDefinition


@dataclass(frozen=True)
class TaskGraph:
    inbound: dict[str, frozenset[str]]  # task -> distinct tasks with a transition into it
    outbound: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, definition: WorkflowDefinition) -> "TaskGraph":
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

    def start_tasks(self, definition: WorkflowDefinition) -> list[str]:
        return [t.name for t in definition.tasks if not self.inbound.get(t.name)]

    def always_run(self, definition: WorkflowDefinition) -> list[str]:
        """Tasks that run in every run of the workflow: the start tasks and whatever they reach
        through transitions with no `when` (a join target is left out: it may wait forever)."""
        found = list(self.start_tasks(definition))
        for name in found:
            for transition in definition.task(name).next:
                for target in transition.do if transition.when is None else ():
                    if target not in found and definition.task(target).join is None:
                        found.append(target)
        return found

    def join_threshold(self, definition: WorkflowDefinition, task: str) -> int | None:
        join = definition.task(task).join
        if join == "all":
            return len(self.inbound.get(task, ()))
        return join

    def describe(self, definition: WorkflowDefinition) -> dict[str, dict]:
        """JSON-friendly graph for records and the UI."""
        return {
            t.name: {"action": t.action, "next": list(self.outbound[t.name]), "join": t.join}
            for t in definition.tasks
        }
