"""Packs, actions and workflows: registration from disk and CRUD, with `ref` immutable."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attune.api import schemas
from attune.api.errors import ApiError, not_found
from attune.api.services import workflow_files
from attune.packs.loader import load_pack, parse_workflow_text
from attune.packs.models import Action, Pack, ParameterSpec
from attune.packs.pack_dir import given_path
from attune.packs.parameters import config_secrets
from attune.packs.problems import PackError, Problem, Reporter
from attune.packs.schema import ACTION_NAME, check_action_yaml, check_config
from attune.records import definitions as store
from attune.records.models import ActionRow, PackRow, WorkflowDefinitionRow
from attune.secrets import REDACTED, redact_at


# --- packs -----------------------------------------------------------------------------------------
def pack_out(row: PackRow) -> schemas.PackOut:
    fields = {name: getattr(row, name) for name in schemas.PackOut.model_fields if name != "actions"}
    fields["config"] = redact_at(row.config or {}, config_secrets(row.conf_schema))  # secret: true
    return schemas.PackOut(**fields, actions=sorted(a.ref for a in row.actions))


def problem_details(problems: list[Problem]) -> list[dict[str, Any]]:
    return [p.detail() for p in problems]


def register(s: Session, path: str, packs_dir: str | None = None) -> schemas.PackOut:
    """Load and validate a pack directory (sibling packs resolve cross-pack refs), then upsert.
    The pack's path is the one given, symlinks kept (pack_dir.given_path): a pack registered
    through a release symlink follows the link when it is re-pointed. A relative path is taken
    from `packs_dir` (the API's ATTUNE_PACKS_DIR), not from wherever the API was started."""
    if "\x00" in path:
        raise ApiError(422, "a pack path cannot contain a NUL character",
                       [{"path": "path", "message": "NUL character"}])
    path = os.path.expanduser(path)  # an unknown ~user stays as written
    if packs_dir and not os.path.isabs(path):
        path = os.path.join(os.path.abspath(packs_dir), path)
    given = given_path(path)
    folder = given.resolve()
    if not folder.is_dir():
        raise ApiError(404, f"pack directory not found on the API's machine: {given}. The API reads "
                            "packs from its own filesystem (in a container: its mounts): give the "
                            "path there, or a path relative to its packs directory"
                            + (f" ({os.path.abspath(packs_dir)}, ATTUNE_PACKS_DIR)" if packs_dir else ""),
                       [{"path": "path", "message": f"no such directory: {folder}"}])
    known = known_actions(s)
    versions = {r: v for r, v in s.execute(select(PackRow.ref, PackRow.version))}
    try:  # its tasks may use the actions of packs registered before it
        pack = load_pack(given, known_actions=known, known_versions=versions)
        registered = store.get_pack(s, pack.ref)
        gone = {a.ref for a in registered.actions} - set(pack.actions) if registered else set()
        if gone:  # its own workflows were checked against the actions it is about to drop
            pack = load_pack(given, known_actions={r: p for r, p in known.items() if r not in gone},
                             known_versions=versions)
    except PackError as exc:
        raise ApiError(422, f"pack at {given} has {len(exc.problems)} problem(s)",
                       problem_details(exc.problems)) from None
    if registered is not None:
        _same_ref_elsewhere(registered, given, folder)
        pack = _through_its_link(pack, registered, given, folder)
    _still_used(s, gone, pack.ref)
    return pack_out(store.upsert_pack(s, pack))


def _through_its_link(pack: Pack, registered: PackRow, given: Path, folder: Path) -> Pack:
    """A pack registered through a symlink, registered again by the directory the link leads
    to now (what a client that resolves paths sends after the link was re-pointed: a new
    release) keeps the link as its path, so it goes on following it."""
    old = Path(registered.path) if registered.path else None
    if old is None or old == given or given != folder or old.resolve() != folder:
        return pack
    return Pack(**{**dict(pack), "path": str(old)})  # the validator moves its actions too


def _same_ref_elsewhere(registered: PackRow, given: Path, folder: Path) -> None:
    """Two directories with one pack ref: the one registered last replaced the other, silently
    (`attune up` registered both, and the first one's actions were dropped). Moving a pack is
    fine: its old directory no longer holds it; so is a symlink re-pointed at a new release of
    it, the symlink being its registered path (`folder` is `given` resolved)."""
    old = Path(registered.path) if registered.path else None
    if old is None or old.resolve() == folder or not (old / "pack.yaml").is_file():
        return
    try:
        still = (yaml.safe_load((old / "pack.yaml").read_text(encoding="utf-8")) or {}).get("ref")
    except (OSError, yaml.YAMLError, AttributeError):
        return
    if still != registered.ref:
        return
    ref, where = registered.ref, _linked(old)
    message = (f"pack '{ref}' is registered from {where}, which still holds it: {_linked(given)} "
               f"has the same ref. Give one of them another ref, or delete the registered one "
               f"first (DELETE /packs/{ref}) to register it from here")
    if given != folder and old.resolve() == old:
        message += (f". If the symlink was re-pointed at a new release of the pack: the pack was "
                    f"registered from {old} itself, not through the symlink; delete it and register "
                    f"{given} once, and from then on re-pointing the symlink and registering it "
                    "again (or `attune up`) follows it")
    raise ApiError(409, message, [{"path": "path", "message": f"pack ref '{ref}' is already registered from {where}"}])


def _linked(path: Path) -> str:
    """A path, saying where it leads when a symlink is on the way."""
    if path.resolve() == path:
        return str(path)
    return f"{path} ({'a symlink to' if path.is_symlink() else 'through a symlink,'} {path.resolve()})"


def _still_used(s: Session, gone: set[str], pack_ref: str) -> None:
    """Actions a registration drops must not be run by another pack's registered workflows
    (they broke at their next run: 409 "not registered"); the pack's own were checked above."""
    if not gone:
        return
    users = []
    for row in s.scalars(select(ActionRow).where(ActionRow.is_workflow, ActionRow.pack_ref != pack_ref)):
        workflow = store.action_model(row).workflow
        for task in workflow.tasks if workflow else []:
            users += [f"{row.ref} task '{t.name}' uses {t.action}" for t in (task.parallel or [task])
                      if t.action in gone]
    if users:
        raise ApiError(422, f"registering this directory drops {len(gone)} action(s) of pack '{pack_ref}' "
                       f"that other workflows run: {'; '.join(users)}. Keep the actions, or change "
                       "those workflows first",
                       [{"path": "path", "message": user} for user in users])


def create_pack(s: Session, body: schemas.PackIn) -> schemas.PackOut:
    if store.get_pack(s, body.ref) is not None:
        raise ApiError(409, f"pack '{body.ref}' already exists")
    fields = body.model_dump()
    if body.conf_schema is not None:  # the same checks as a pack.yaml's, problems named by field
        rep = Reporter(None)
        fields["config"] = check_config(rep, body.config, body.conf_schema)
        if rep.problems:
            raise ApiError(422, f"{len(rep.problems)} problem(s) in pack '{body.ref}'",
                           problem_details(rep.problems))
    row = PackRow(ref=body.ref)
    store.write_pack_fields(row, fields)
    s.add(row)
    s.flush()
    return pack_out(row)


def pack_or_404(s: Session, ref: str) -> PackRow:
    row = store.get_pack(s, ref)
    if row is None:
        raise not_found("pack", ref)
    return row


# --- actions and workflows ---------------------------------------------------------------------------
def action_out(row: ActionRow) -> schemas.ActionOut:
    action = store.action_model(row)
    data = action.model_dump(exclude={"workflow", "pack_dir", "parameters"})
    return schemas.ActionOut(**data, parameters=_shown(action.parameters), id=row.id,
                             is_workflow=row.is_workflow, created=row.created, updated=row.updated)


def _shown(parameters: dict[str, ParameterSpec]) -> dict[str, ParameterSpec]:
    """A secret's default is as secret as its value (spec §7): shown as ********; sent back so
    in a PUT, it stays what it was (_kept_secrets)."""
    return {name: spec.model_copy(update={"default": REDACTED})
            if spec.secret and spec.default is not None else spec for name, spec in parameters.items()}


def _kept_secrets(action: Action, before: ActionRow) -> Action:
    old = store.action_model(before).parameters
    kept = {name: spec.model_copy(update={"default": old[name].default})
            if spec.secret and spec.default == REDACTED and name in old else spec
            for name, spec in action.parameters.items()}
    return action.model_copy(update={"parameters": kept})


def workflow_out(row: WorkflowDefinitionRow | None) -> schemas.WorkflowOut:
    assert row is not None, "a workflow action always has its definition row"
    action = store.action_model(row.action)
    return schemas.WorkflowOut(
        id=row.id, ref=row.ref, pack_ref=row.pack_ref, label=action.label,
        description=action.description, enabled=action.enabled, parameters=_shown(action.parameters),
        output=action.output, workflow_file=row.workflow_file, definition=row.definition,
        created=row.created, updated=row.updated,
    )


def action_or_404(s: Session, ref: str, *, workflow: bool | None = None) -> ActionRow:
    row = store.get_action(s, ref)
    if row is None or (workflow is not None and row.is_workflow != workflow):
        raise not_found("workflow" if workflow else "action", ref)
    return row


def check_immutable(current: ActionRow, body: schemas._ActionFields) -> None:
    """PUT may change anything but identity: a different ref or pack is a 409."""
    if body.ref is not None and body.ref != current.ref:
        raise ApiError(409, f"ref is immutable: cannot change '{current.ref}' to '{body.ref}'",
                       [{"path": "ref", "message": "ref cannot change after creation"}])
    if body.pack_ref is not None and body.pack_ref != current.pack_ref:
        raise ApiError(409, f"ref is immutable: cannot move '{current.ref}' from pack "
                            f"'{current.pack_ref}' to '{body.pack_ref}'",
                       [{"path": "pack_ref", "message": "pack cannot change after creation"}])


def _identity(s: Session, body: schemas._ActionFields, ref: str | None) -> tuple[str, PackRow]:
    ref = ref or body.ref
    if not ref:
        raise ApiError(422, "ref is required", [{"path": "ref", "message": "field required"}])
    pack_ref, _, name = ref.partition(".")
    if body.pack_ref is not None and body.pack_ref != pack_ref:
        raise ApiError(422, f"ref '{ref}' must start with its pack '{body.pack_ref}.'",
                       [{"path": "ref", "message": f"must be '{body.pack_ref}.<name>'"}])
    if not name or not ACTION_NAME.match(name):
        raise ApiError(422, f"ref '{ref}' must be '<pack>.<name>'",
                       [{"path": "ref", "message": "name: letters, digits, '_' or '-'"}])
    pack = store.get_pack(s, pack_ref)
    if pack is None:
        raise ApiError(404, f"pack '{pack_ref}' is not registered",
                       [{"path": "pack_ref", "message": f"unknown pack '{pack_ref}'"}])
    return ref, pack


def _common(body: schemas._ActionFields, ref: str, pack: PackRow) -> dict[str, Any]:
    data = body.model_dump(exclude_none=True, exclude={"ref", "pack_ref"})
    data.update(ref=ref, pack_ref=pack.ref, pack_dir=pack.path)
    return data


def _script_action(body: schemas.ActionIn, ref: str, pack: PackRow) -> Action:
    """The body is an action YAML as JSON: the pack loader's own rules check it (runner
    aliases, entry point, local, warm_start, ...), problems named by field."""
    data = body.model_dump(exclude_none=True, exclude={"ref", "pack_ref", "parameters"})
    data["ref"] = ref
    data["parameters"] = {name: spec.model_dump(exclude_defaults=True)
                          for name, spec in body.parameters.items()}
    rep = Reporter(None)
    fields = check_action_yaml(rep, data, pack.ref, Path(pack.path) if pack.path else None)
    if rep.problems:
        raise ApiError(422, f"{len(rep.problems)} problem(s) in action '{ref}'",
                       [p.detail() for p in rep.problems])
    return _model(fields | {"pack_dir": pack.path})


def _workflow_action(s: Session, body: schemas.WorkflowIn, ref: str, pack: PackRow) -> Action:
    if (body.definition is None) == (body.yaml is None):
        raise ApiError(422, "give exactly one of 'definition' (JSON) or 'yaml' (text)",
                       [{"path": "definition", "message": "definition or yaml is required"}])
    text = body.yaml if body.yaml is not None else yaml.safe_dump(body.definition, sort_keys=False)
    filename = body.workflow_file or f"{ref}.workflow.yaml"
    definition, problems = parse_workflow_text(text, filename, dict(body.parameters),
                                               known_actions=known_actions(s) | {ref: frozenset(body.parameters)})
    if definition is None:
        details, message = problem_details(problems), f"workflow '{ref}' has {len(problems)} problem(s)"
        if body.definition is not None:  # positions in a text made from the JSON point nowhere
            details = [{k: v for k, v in d.items() if k not in ("file", "line", "column")} for d in details]
            if _normalized(body.definition):
                message += ("; `definition` as a GET answer gives it is the normalized graph, for "
                            "reading: send the workflow as {\"yaml\": ...} (its text, as GET "
                            "/workflows/{ref}/files gives it) or as the file's own JSON")
        raise ApiError(422, message, details)
    data = _common(body, ref, pack)
    data.pop("definition", None)
    data.pop("yaml", None)
    data.setdefault("workflow_file", f"workflows/{ref.split('.', 1)[1]}.workflow.yaml")
    if not pack.path:  # nothing is written, but the form is the loader's (with a directory,
        workflow_files.check_workflow_file_name(data["workflow_file"])  # `planned` checks more)
    return _model(data | {"workflow": definition})


def _normalized(definition: dict[str, Any]) -> bool:
    """Whether this is a stored definition sent back (its tasks carry every key, defaults too)."""
    tasks = definition.get("tasks")
    return isinstance(tasks, list) and bool(tasks) and all(
        isinstance(t, dict) and {"join", "concurrency", "retry", "with_items"} <= t.keys() for t in tasks)


def _model(data: dict[str, Any]) -> Action:
    try:
        return Action(**data)
    except ValidationError as exc:
        details = [{"path": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise ApiError(422, "invalid action", details) from None


def _new_identity(s: Session, body: schemas.ActionIn | schemas.WorkflowIn) -> tuple[str, Any]:
    """ref and pack for a POST: a ref that exists already (action or workflow) is a 409."""
    ref, pack = _identity(s, body, None)
    if store.get_action(s, ref) is not None:
        raise ApiError(409, f"action '{ref}' already exists")
    return ref, pack


def create_action(s: Session, body: schemas.ActionIn) -> schemas.ActionOut:
    ref, pack = _new_identity(s, body)
    action = _script_action(body, ref, pack)
    path = workflow_files.planned_action(pack.path, action, existing_ref=None, others=_others(pack, ref))
    row = store.save_action(s, pack, action)
    s.flush()
    if path:  # last, so a refused row leaves no file behind
        row = _written(s, pack, action, row, path, workflow_files.write_action(path, _yaml_keys(body), action))
    return action_out(row)


def update_action(s: Session, ref: str, body: schemas.ActionIn) -> schemas.ActionOut:
    row = action_or_404(s, ref)
    check_immutable(row, body)
    if row.is_workflow:
        raise ApiError(409, f"'{ref}' is a workflow: update it with PUT /workflows/{ref}")
    action = _kept_secrets(_script_action(body, ref, row.pack), row)
    path = workflow_files.planned_action(row.pack.path, action, existing_ref=ref,
                                         others=_others(row.pack, ref))
    row = store.save_action(s, row.pack, action, row)
    s.flush()
    if path:
        row = _written(s, row.pack, action, row, path, workflow_files.write_action(path, _yaml_keys(body), action))
    return action_out(row)


def _written(s: Session, pack: PackRow, action: Action, row: ActionRow, path: Path, digest: str) -> ActionRow:
    """Where its YAML now is, as a registered pack's actions say: a worker then reads the file
    when a task starts and sees a later change (packs/current.py), as for a registered pack."""
    assert pack.path is not None  # a path was planned only in a pack's directory
    located = action.model_copy(update={"metadata_file": path.relative_to(pack.path).as_posix(),
                                        "metadata_digest": digest})
    return store.save_action(s, pack, located, row)


def _others(pack: PackRow, ref: str) -> list[Action]:
    """The pack's other registered actions: the files they use are not the API's to write."""
    return [store.action_model(r) for r in pack.actions if r.ref != ref]


def _yaml_keys(body: schemas.ActionIn) -> dict[str, Any]:
    """The body's keys as an action YAML has them: those given, without ref, pack_ref."""
    return body.model_dump(exclude_unset=True, exclude={"ref", "pack_ref", "parameters"})


def create_workflow(s: Session, body: schemas.WorkflowIn) -> schemas.WorkflowOut:
    ref, pack = _new_identity(s, body)
    action = _workflow_action(s, body, ref, pack)
    files = workflow_files.planned(pack.path, action, existing_ref=None, others=_others(pack, ref))
    row = store.save_action(s, pack, action)
    s.flush()
    if files:  # last, so a refused row leaves no files behind
        workflow_files.write(files, action, workflow_files.workflow_text(body.yaml, body.definition))
    return workflow_out(row.workflow)


def update_workflow(s: Session, ref: str, body: schemas.WorkflowIn) -> schemas.WorkflowOut:
    row = action_or_404(s, ref, workflow=True)
    check_immutable(row, body)
    if body.workflow_file is None:  # keep the file it was loaded from
        body = body.model_copy(update={"workflow_file": row.workflow and row.workflow.workflow_file})
    current_file = row.workflow.workflow_file if row.workflow else None
    action = _kept_secrets(_workflow_action(s, body, ref, row.pack), row)
    files = workflow_files.planned(row.pack.path, action, existing_ref=ref, others=_others(row.pack, ref),
                                   current_file=current_file)
    row = store.save_action(s, row.pack, action, row)
    s.flush()
    if files:
        workflow_files.write(files, action, workflow_files.workflow_text(body.yaml, body.definition))
    return workflow_out(row.workflow)


REMOVE_FILES_HELP = (
    "Registering a pack makes its actions those of its directory: a deleted action whose YAML is "
    "still there comes back at the next `attune pack register` or `attune up`. `remove_files=true` "
    "also deletes its action YAML (and a workflow's workflow file), never its scripts nor a file "
    "another action of the pack uses (its entry point, YAML or workflow file, pack.yaml): the "
    "action is deleted all the same, and the answer is then 200 with `removed` and `kept` (each "
    "file kept with why) instead of 204.")


def delete_action(s: Session, ref: str, *, workflow: bool | None,
                  remove_files: bool) -> workflow_files.Removal | None:
    """Drop the action (a workflow's companion takes its workflow along); with `remove_files`
    also its definition files, so the next registration of its pack does not bring it back.
    The files removed and kept (with remove_files), else None."""
    row = action_or_404(s, ref, workflow=workflow)
    pack_dir, workflow_file = row.pack.path, row.workflow.workflow_file if row.workflow else None
    others = _others(row.pack, ref)
    s.delete(row)
    s.flush()
    if remove_files:
        return workflow_files.remove(pack_dir, ref, workflow_file, others)
    return None


def deleted_response(removal: workflow_files.Removal | None) -> Response:
    """204, or 200 saying which files were kept (and why) when remove_files kept some."""
    if removal is None or not removal.kept:
        return Response(status_code=204)
    return JSONResponse({"data": {
        "removed": [str(p) for p in removal.removed],
        "kept": [{"path": str(p), "reason": why} for p, why in removal.kept.items()]}})


DELETED_RESPONSES: dict[int | str, dict[str, Any]] = {200: {
    "description": "Deleted; with remove_files, some files were kept because other actions use them",
    "content": {"application/json": {"example": {"data": {
        "removed": ["/packs/p/actions/x.yaml"],
        "kept": [{"path": "/packs/p/actions/workflows/shared.workflow.yaml",
                  "reason": "it is the workflow file of 'p.y'"}]}}}}}}


def list_rows(s: Session, model: Any, page: int, per_page: int, **where: Any) -> tuple[list[Any], int]:
    query = select(model)
    for column, value in where.items():
        if value is not None:
            query = query.where(getattr(model, column) == value)
    total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = s.scalars(query.order_by(model.ref).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def known_actions(s: Session) -> dict[str, frozenset[str] | None]:
    """What a workflow saved or checked through the API may run: the registered actions (as
    registering a pack checks its tasks against), with their parameters' names."""
    return {ref: frozenset((definition or {}).get("parameters") or {})
            for ref, definition in s.execute(select(ActionRow.ref, ActionRow.definition))}


def validate_workflow_text(s: Session, text: str) -> schemas.ValidateResult:
    _, problems = parse_workflow_text(text, "workflow.yaml", known_actions=known_actions(s))
    errors = [schemas.ErrorDetail(**p.detail()) for p in problems]
    return schemas.ValidateResult(valid=not errors, errors=errors)
