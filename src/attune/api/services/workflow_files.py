"""Actions and workflows saved through the API, written into their pack's directory.

A workflow created or replaced through `POST/PUT /workflows` in a pack that was registered from a
directory lands on disk as `actions/<name>.yaml` (the action: ref, label, parameters, ...) and
`actions/<workflow_file>` (the graph, written verbatim when it came as YAML so comments and
`__chart_meta__` survive); a script action (`POST/PUT /actions`) as its `actions/<name>.yaml`. So
the next `attune pack register` or `attune up`, which makes the pack's actions those of its
directory, loads the same ones instead of dropping them. Packs created through the API have no
directory: nothing is written for them.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attune import yaml_core
from attune.api.errors import ApiError
from attune.packs.models import Action


@dataclass(frozen=True)
class WorkflowFiles:
    action_path: Path
    workflow_path: Path


def planned(pack_dir: str | None, action: Action, *, existing_ref: str | None) -> WorkflowFiles | None:
    """Where `action`'s files go; None when its pack has no directory.

    A new workflow (`existing_ref` None) must not overwrite files that are already there: they
    may be someone's unregistered work. A replaced one keeps the action YAML that declares it."""
    if not pack_dir or action.workflow_file is None:
        return None
    root = Path(pack_dir)
    actions = root / "actions"
    workflow_path = _inside(root, actions / action.workflow_file, "workflow_file")
    action_path = (_declaring_file(actions, existing_ref) if existing_ref else None) \
        or _inside(root, actions / f"{action.name}.yaml", "ref")
    if existing_ref is None:
        taken = [p for p in (action_path, workflow_path) if p.exists()]
        if taken:
            raise ApiError(409, f"cannot create '{action.ref}': {', '.join(map(str, taken))} already "
                                "exist(s) in the pack directory; register the pack or choose another name",
                           [{"path": "ref", "message": f"file exists: {p}"} for p in taken])
    return WorkflowFiles(action_path, workflow_path)


def planned_action(pack_dir: str | None, action: Action, *, existing_ref: str | None) -> Path | None:
    """Where a script action's YAML goes (as `planned`, for the one file); None: no directory."""
    if not pack_dir:
        return None
    root = Path(pack_dir)
    actions = root / "actions"
    path = (_declaring_file(actions, existing_ref) if existing_ref else None) \
        or _inside(root, actions / f"{action.name}.yaml", "ref")
    if existing_ref is None and path.exists():
        raise ApiError(409, f"cannot create '{action.ref}': {path} already exists in the pack "
                            "directory; register the pack or choose another name",
                       [{"path": "ref", "message": f"file exists: {path}"}])
    return path


def write_action(path: Path, body: dict[str, Any], action: Action) -> None:
    """The action YAML from the request's keys (an action YAML as JSON), parameters as kept."""
    data: dict[str, Any] = {"ref": action.ref, **body}
    data["parameters"] = _parameters(action)
    _atomic_write(path, yaml.safe_dump({k: v for k, v in data.items() if v not in (None, {}, [])},
                                       sort_keys=False, allow_unicode=True, width=100))


def write(files: WorkflowFiles, action: Action, workflow_text: str) -> None:
    """Both files, each replaced atomically (a reader never sees half a file)."""
    ending = "" if workflow_text.endswith("\n") else "\n"
    _atomic_write(files.workflow_path, workflow_text + ending)
    _atomic_write(files.action_path, action_yaml(action))


def action_yaml(action: Action) -> str:
    """The action YAML of a workflow, in the key order of the packs shipped here."""
    data: dict[str, Any] = {"ref": action.ref}
    if action.label:
        data["label"] = action.label
    if action.description:
        data["description"] = action.description
    if not action.enabled:
        data["enabled"] = False
    data["workflow_file"] = action.workflow_file
    if action.parameters:
        data["parameters"] = _parameters(action)
    if action.output:
        data["output"] = action.output
    if action.tags:
        data["tags"] = list(action.tags)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _parameters(action: Action) -> dict[str, Any]:
    return {name: {"type": spec.type} | spec.model_dump(exclude_defaults=True)
            for name, spec in action.parameters.items()}


def workflow_text(body_yaml: str | None, definition: dict[str, Any] | None) -> str:
    return body_yaml if body_yaml is not None else yaml.safe_dump(definition, sort_keys=False,
                                                                  allow_unicode=True, width=100)


def read(pack_dir: str | None, action: Action) -> dict[str, Any] | None:
    """The texts of a workflow's files as they are on disk; None when it has none there."""
    if not pack_dir or action.workflow_file is None:
        return None
    root = Path(pack_dir)
    workflow_path = _inside(root, root / "actions" / action.workflow_file, "workflow_file")
    if not workflow_path.is_file():
        return None
    action_path = _declaring_file(root / "actions", action.ref)
    return {
        "workflow_path": str(workflow_path),
        "workflow_yaml": workflow_path.read_text(encoding="utf-8"),
        "action_path": str(action_path) if action_path else None,
        "action_yaml": action_path.read_text(encoding="utf-8") if action_path else None,
    }


def remove(pack_dir: str | None, ref: str, workflow_file: str | None) -> list[Path]:
    """Delete an action's definition from its pack directory (DELETE with remove_files): the
    action YAML that declares `ref` and, for a workflow, its workflow file unless another
    action YAML still names it. Scripts stay (entry points may be shared). The paths removed."""
    if not pack_dir:
        return []
    root = Path(pack_dir)
    actions = root / "actions"
    removed = []
    declaring = _declaring_file(actions, ref)
    if declaring is not None:
        declaring.unlink()
        removed.append(declaring)
    if workflow_file:
        path = _inside(root, actions / workflow_file, "workflow_file")
        if path.is_file() and not _named_elsewhere(actions, workflow_file):
            path.unlink()
            removed.append(path)
    return removed


def _named_elsewhere(actions: Path, workflow_file: str) -> bool:
    for path in [*actions.glob("*.yaml"), *actions.glob("*.yml")]:
        try:
            data = yaml_core.load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("workflow_file") == workflow_file:
            return True
    return False


def _declaring_file(actions: Path, ref: str) -> Path | None:
    """The action YAML under `actions/` whose ref (or older `name`) is `ref`."""
    if not actions.is_dir():
        return None
    name = ref.split(".", 1)[-1]
    candidates = sorted(actions.glob("*.yaml")) + sorted(actions.glob("*.yml"))
    for path in sorted(candidates, key=lambda p: p.stem != name):  # the likely one first
        try:
            data = yaml_core.load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and (data.get("ref") == ref or
                                       ("ref" not in data and data.get("name") == name)):
            return path
    return None


def _inside(root: Path, path: Path, field: str) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ApiError(422, f"{field} resolves outside the pack directory: {path}",
                       [{"path": field, "message": "must stay inside the pack directory"}])
    return resolved


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _atomic_write(path: Path, text: str) -> None:
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        # mkstemp's file is 0600: a pack file must stay readable by whoever reads the pack (the
        # action user, a worker under another account). The file's own mode if it had one, else
        # what a new file gets here.
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise ApiError(500, f"could not write {path}: {exc.strerror or exc}",
                       code="write_failed") from exc
