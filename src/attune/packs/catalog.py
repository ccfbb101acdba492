"""All loaded actions across packs, looked up by ref."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from attune.packs.models import Action, Pack


class MissingAction(LookupError):
    """A workflow (transitively) refers to an action that does not exist."""

    def __init__(self, ref: str, referenced_by: str, task: str) -> None:
        super().__init__(f"action '{ref}' (task '{task}' of workflow '{referenced_by}') is not registered")
        self.ref, self.referenced_by, self.task = ref, referenced_by, task


def closure(ref: str, lookup: Callable[[str], Action | None]) -> dict[str, Action]:
    """`ref` plus every action reachable through workflow tasks, transitively, by ref: the
    self-contained catalog an engine needs to run it. Raises KeyError for an unknown `ref` and
    MissingAction for a task whose action does not exist."""
    root = lookup(ref)
    if root is None:
        raise KeyError(ref)
    found = {ref: root}
    queue = deque([root])
    while queue:
        action = queue.popleft()
        for task_name, target_ref in action.workflow.action_refs() if action.workflow else []:
            if target_ref in found:
                continue
            target = lookup(target_ref)
            if target is None:
                raise MissingAction(target_ref, action.ref, task_name)
            found[target_ref] = target
            queue.append(target)
    return found


@dataclass
class Catalog:
    packs: dict[str, Pack] = field(default_factory=dict)

    def action(self, ref: str) -> Action:
        if ref not in self:
            known = ", ".join(sorted(self.packs)) or "none"
            raise KeyError(f"unknown action '{ref}' (loaded packs: {known})")
        return self.packs[ref.split(".", 1)[0]].actions[ref]

    def __contains__(self, ref: object) -> bool:
        # An action ref is always "<pack>.<name>", so the pack part finds it directly.
        if not isinstance(ref, str):
            return False
        pack = self.packs.get(ref.split(".", 1)[0])
        return pack is not None and ref in pack.actions

    def actions(self) -> Iterator[Action]:
        for pack in self.packs.values():
            yield from pack.actions.values()

    def closure(self, ref: str) -> dict[str, Action]:
        """See `closure`; an unknown `ref` raises KeyError naming the loaded packs."""
        self.action(ref)
        return closure(ref, lambda r: self.action(r) if r in self else None)
