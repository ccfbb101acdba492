"""Registered packs, actions and workflow definitions: storage and the catalog used at submission.

Actions are stored as the JSON of `packs.models.Action` (so the engine gets exactly what the loader
produced) plus indexed columns for filtering.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attune.packs.models import Action, Pack
from attune.records.models import ActionRow, PackRow, WorkflowDefinitionRow


class MissingAction(LookupError):
    """A workflow (transitively) refers to an action that is not registered."""

    def __init__(self, ref: str, referenced_by: str, task: str) -> None:
        super().__init__(f"action '{ref}' (task '{task}' of workflow '{referenced_by}') is not registered")
        self.ref, self.referenced_by, self.task = ref, referenced_by, task


def action_model(row: ActionRow) -> Action:
    return Action.model_validate(row.definition)


def get_pack(session: Session, ref: str) -> PackRow | None:
    return session.scalar(select(PackRow).where(PackRow.ref == ref))


def get_action(session: Session, ref: str) -> ActionRow | None:
    return session.scalar(select(ActionRow).where(ActionRow.ref == ref))


def get_workflow(session: Session, ref: str) -> WorkflowDefinitionRow | None:
    return session.scalar(select(WorkflowDefinitionRow).where(WorkflowDefinitionRow.ref == ref))


def write_pack_fields(row: PackRow, pack: Pack | dict[str, Any]) -> None:
    data = pack.model_dump(mode="json") if isinstance(pack, Pack) else pack
    for name in ("label", "description", "version", "path", "config", "conf_schema", "tags"):
        if name in data:
            setattr(row, name, data[name])
    row.version = row.version or "0.0.0"
    row.config = row.config or {}
    row.tags = row.tags or []


def save_action(session: Session, pack: PackRow, action: Action, row: ActionRow | None = None) -> ActionRow:
    """Insert or update one action row and, for a workflow, its companion definition row."""
    if row is None:
        row = ActionRow(ref=action.ref, pack=pack, pack_ref=pack.ref)
        session.add(row)
    row.runner = action.runner
    row.is_workflow = action.is_workflow
    row.enabled = action.enabled
    row.definition = action.model_dump(mode="json")
    if action.workflow is not None:
        wf = row.workflow or WorkflowDefinitionRow(ref=action.ref, pack_ref=pack.ref)
        wf.workflow_file = action.workflow_file
        wf.definition = action.workflow.model_dump(mode="json")
        row.workflow = wf
    elif row.workflow is not None:
        row.workflow = None  # delete-orphan removes the stale definition
    return row


def upsert_pack(session: Session, pack: Pack) -> PackRow:
    """Register a loaded pack: upsert the pack and its actions, drop actions no longer present."""
    row = get_pack(session, pack.ref)
    if row is None:
        row = PackRow(ref=pack.ref)
        session.add(row)
    write_pack_fields(row, pack)
    existing = {a.ref: a for a in row.actions}
    for ref, action in pack.actions.items():
        save_action(session, row, action, existing.pop(ref, None))
    for stale in existing.values():
        row.actions.remove(stale)  # delete-orphan deletes the row (and its workflow definition)
    session.flush()
    return row


def closure(session: Session, action_ref: str) -> dict[str, Action]:
    """The action plus every action its workflow (transitively) runs, by ref.

    Raises KeyError for an unknown `action_ref` and MissingAction for a dangling task reference.
    """
    root = get_action(session, action_ref)
    if root is None:
        raise KeyError(action_ref)
    found: dict[str, Action] = {action_ref: action_model(root)}
    queue = deque([found[action_ref]])
    while queue:
        action = queue.popleft()
        for task_name, ref in action.workflow.action_refs() if action.workflow else []:
            if ref in found:
                continue
            row = get_action(session, ref)
            if row is None:
                raise MissingAction(ref, action.ref, task_name)
            found[ref] = action_model(row)
            queue.append(found[ref])
    return found


def pack_configs(session: Session, pack_refs: set[str]) -> dict[str, dict[str, Any]]:
    """Each pack's `config` (the `config.*` expression namespace), by pack ref."""
    rows = session.scalars(select(PackRow).where(PackRow.ref.in_(pack_refs)))
    return {row.ref: row.config or {} for row in rows}
