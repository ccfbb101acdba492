"""Registered packs, actions and workflow definitions: storage and the catalog used at submission.

Actions are stored as the JSON of `packs.models.Action` (so the engine gets exactly what the loader
produced) plus indexed columns for filtering.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attune.packs.catalog import closure as action_closure
from attune.packs.models import Action, Pack
from attune.packs.parameters import config_secrets
from attune.records.models import ActionRow, PackRow, WorkflowDefinitionRow


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
    """The registered action plus every action its workflow (transitively) runs, by ref
    (see attune.packs.catalog.closure for what it raises)."""
    def lookup(ref: str) -> Action | None:
        row = get_action(session, ref)
        return action_model(row) if row is not None else None

    return action_closure(action_ref, lookup)


def pack_configs(session: Session, pack_refs: set[str]) -> tuple[dict[str, dict[str, Any]],
                                                                dict[str, set[tuple[str, ...]]]]:
    """Each pack's `config` (the `config.*` expression namespace), and the keys of it that its
    `conf_schema` marks secret, by pack ref."""
    rows = list(session.scalars(select(PackRow).where(PackRow.ref.in_(pack_refs))))
    return ({row.ref: row.config or {} for row in rows},
            {row.ref: config_secrets(row.conf_schema) for row in rows})
