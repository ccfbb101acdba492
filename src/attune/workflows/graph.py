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

    def closed_cycles(self, definition: WorkflowDefinition) -> list[list[str]]:
        """Cycles that no transition from outside leads into, each as a path from its first task
        (in file order) back to it: what leaves a workflow without a start task (spec §3)."""
        order = [t.name for t in definition.tasks]
        found = []
        for group in self._components(order):
            members = set(group)
            if len(group) < 2 or any(self.inbound.get(name, frozenset()) - members for name in group):
                continue
            entry = min(group, key=order.index)
            found.append(self._cycle_through(entry, members))
        return sorted(found, key=lambda cycle: order.index(cycle[0]))

    def _components(self, order: list[str]) -> list[list[str]]:
        """Strongly connected components (Tarjan's algorithm, without recursion)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[list[str]] = []
        for root in order:
            if root in index:
                continue
            work = [(root, iter(self.outbound.get(root, ())))]
            index[root] = low[root] = len(index)
            stack.append(root)
            on_stack.add(root)
            while work:
                name, targets = work[-1]
                target = next((t for t in targets if t in self.outbound), None)
                if target is None:
                    work.pop()
                    if work:
                        low[work[-1][0]] = min(low[work[-1][0]], low[name])
                    if low[name] == index[name]:
                        group = []
                        while True:
                            member = stack.pop()
                            on_stack.discard(member)
                            group.append(member)
                            if member == name:
                                break
                        groups.append(group)
                elif target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(self.outbound.get(target, ()))))
                elif target in on_stack:
                    low[name] = min(low[name], index[target])
        return groups

    def _cycle_through(self, entry: str, members: set[str]) -> list[str]:
        """The shortest path from `entry` back to itself inside `members` through another member:
        an entry's own retry loop (a -> a) is not what keeps the others from starting."""
        came_from: dict[str, str] = {}
        queue = [entry]
        for name in queue:
            for target in self.outbound.get(name, ()):
                if target == entry and name != entry:
                    path = [name]
                    while path[-1] != entry:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), entry]
                if target in members and target not in came_from:
                    came_from[target] = name
                    queue.append(target)
        return [entry, entry]

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
