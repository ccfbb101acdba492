"""All loaded actions across packs, looked up by ref."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from attune.packs.models import Action, Pack


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
        """`ref` plus every action reachable through workflow tasks, transitively: the
        self-contained catalog an engine needs to run it."""
        found: dict[str, Action] = {}
        pending = [ref]
        while pending:
            current = pending.pop()
            if current in found:
                continue
            action = found[current] = self.action(current)
            if action.workflow is not None:
                pending.extend(ref for _, ref in action.workflow.action_refs())
        return found
