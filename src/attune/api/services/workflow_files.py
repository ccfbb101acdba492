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

import contextlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from attune import yaml_core
from attune.api.errors import ApiError
from attune.packs.models import Action
from attune.packs.pack_dir import digest_of


@dataclass(frozen=True)
class WorkflowFiles:
    action_path: Path
    workflow_path: Path


def planned(pack_dir: str | None, action: Action, *, existing_ref: str | None,
            others: Iterable[Action] = (), current_file: str | None = None) -> WorkflowFiles | None:
    """Where `action`'s files go; None when its pack has no directory.

    A new workflow (`existing_ref` None) must not overwrite files that are already there: they
    may be someone's unregistered work. A replaced one keeps the action YAML that declares it.
    Neither file may be one the pack uses otherwise (`others`: the pack's other actions as
    registered; `current_file`: the workflow file it has now), see `check_workflow_file`."""
    if not pack_dir or action.workflow_file is None:
        return None
    root = Path(pack_dir)
    if existing_ref is None:  # any file already there is a conflict, whoever uses it
        taken = [p for p in (check_workflow_file(root, action.workflow_file, {}),
                             _action_yaml_path(root, action, None, {})) if p.exists()]
        if taken:
            raise ApiError(409, f"cannot create '{action.ref}': {', '.join(map(str, taken))} already "
                                "exist(s) in the pack directory; register the pack or choose another name",
                           [{"path": "ref", "message": f"file exists: {p}"} for p in taken])
    uses = pack_uses(root, others, action.ref, current_file=current_file)
    workflow_path = check_workflow_file(root, action.workflow_file, uses)
    action_path = _action_yaml_path(root, action, existing_ref, uses)
    return WorkflowFiles(action_path, workflow_path)


def planned_action(pack_dir: str | None, action: Action, *, existing_ref: str | None,
                   others: Iterable[Action] = ()) -> Path | None:
    """Where a script action's YAML goes (as `planned`, for the one file); None: no directory."""
    if not pack_dir:
        return None
    root = Path(pack_dir)
    path = _action_yaml_path(root, action, existing_ref, pack_uses(root, others, action.ref))
    if existing_ref is None and path.exists():
        raise ApiError(409, f"cannot create '{action.ref}': {path} already exists in the pack "
                            "directory; register the pack or choose another name",
                       [{"path": "ref", "message": f"file exists: {path}"}])
    return path


def _action_yaml_path(root: Path, action: Action, existing_ref: str | None, uses: dict[Path, str]) -> Path:
    """The action YAML that declares `existing_ref`, else actions/<name>.yaml: never a file
    another action uses (a same-named YAML that declares another action, a symlink to a script)."""
    actions = root / "actions"
    path = (_declaring_file(actions, existing_ref) if existing_ref else None) \
        or _inside(root, actions / f"{action.name}.yaml", "ref")
    resolved = path.resolve()
    why = uses.get(resolved)
    if why is None and (resolved.parent != actions.resolve() or not resolved.name.endswith(YAML_SUFFIXES)):
        why = f"a symlink to {resolved}, not an action YAML in actions/"
    if why is not None:
        raise ApiError(409, f"cannot write the action YAML of '{action.ref}' to {path}: it is {why}",
                       [{"path": "ref", "message": f"{path.name} is {why}"}])
    return resolved


YAML_SUFFIXES = (".yaml", ".yml")


def check_workflow_file(root: Path, workflow_file: str, uses: dict[Path, str]) -> Path:
    """The file a workflow's graph may be written to (or deleted from): under `<pack>/actions/`
    but not directly in it (every YAML there is read as an action YAML), a .yaml/.yml file, and
    none the pack uses otherwise (pack.yaml, another action's YAML, entry_point or workflow
    file, a standalone workflow file): 422 naming `workflow_file` and why. Resolved."""
    actions = (root / "actions").resolve()
    given = root / "actions" / workflow_file
    try:
        resolved = given.resolve() if "\x00" not in workflow_file else None
    except (OSError, RuntimeError):
        resolved = None
    via = f"it resolves to {resolved}, which is " if resolved is not None and resolved != given else "it is "
    if resolved in uses:  # what it would clobber says most
        raise _refused(workflow_file, via + uses[resolved])
    check_workflow_file_name(workflow_file)
    assert resolved is not None
    if not resolved.is_relative_to(actions):
        raise _refused(workflow_file, f"it resolves outside the pack's actions/ folder ({resolved})")
    if not resolved.name.endswith(YAML_SUFFIXES):
        raise _refused(workflow_file, f"it resolves to {resolved.name}, not a .yaml or .yml file")
    if resolved.parent == actions:
        raise _refused(workflow_file, "a file directly in actions/ is read as an action YAML: put "
                                      "the workflow in a folder, e.g. workflows/<name>.workflow.yaml")
    if resolved.is_dir():
        raise _refused(workflow_file, "it is a directory")
    return resolved


def check_workflow_file_name(workflow_file: str) -> None:
    """The form of a workflow_file, as the pack loader takes it: relative to actions/, no '..'."""
    if not workflow_file or any(ord(ch) < 32 for ch in workflow_file):
        raise _refused(workflow_file, "it must be a path relative to actions/, without control characters")
    rel = PurePosixPath(workflow_file)
    if rel.is_absolute() or workflow_file.startswith("~") or "\\" in workflow_file:
        raise _refused(workflow_file, "it must be a path relative to actions/, not an absolute one")
    if ".." in rel.parts:
        raise _refused(workflow_file, "it must not contain '..': the API writes only under actions/ "
                                      "(give e.g. workflows/<name>.workflow.yaml)")
    if not workflow_file.endswith(YAML_SUFFIXES):
        raise _refused(workflow_file, "it must end in .yaml or .yml")


def _refused(workflow_file: str, why: str) -> ApiError:
    return ApiError(422, f"workflow_file {workflow_file!r} is refused: {why}",
                    [{"path": "workflow_file", "message": why}])


def pack_uses(root: Path, others: Iterable[Action], ref: str, *,
              current_file: str | None = None) -> dict[Path, str]:
    """Every file of the pack something other than action `ref` uses (resolved -> what it is):
    pack.yaml, the other actions' YAMLs, entry points and workflow files (as registered,
    `others`, and as the directory has them now), and standalone workflow files (a
    *.workflow.yaml no action YAML names is an action of its own) other than `current_file`."""
    actions = root / "actions"
    uses: dict[Path, str] = {}

    def add(rel: Any, what: str) -> None:
        if isinstance(rel, str) and rel and "\x00" not in rel:
            try:
                uses.setdefault((actions / rel).resolve(), what)
            except (OSError, ValueError, RuntimeError):
                pass

    uses[(root / "pack.yaml").resolve()] = "the pack's pack.yaml"
    for other in others:
        if other.ref != ref:
            add(other.entry_point, f"the entry_point of '{other.ref}'")
            add(other.workflow_file, f"the workflow file of '{other.ref}'")
    pack_ref = ref.split(".", 1)[0]
    named: set[Path] = set()
    for path, data in _action_yamls(actions):
        if isinstance(data.get("workflow_file"), str):
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                named.add((actions / data["workflow_file"]).resolve())
        if _declares(data, ref):
            continue
        declared = data.get("ref") if isinstance(data.get("ref"), str) else f"{pack_ref}.{data.get('name')}"
        uses.setdefault(path.resolve(), f"the action YAML of '{declared}' ({path.name})")
        add(data.get("entry_point"), f"the entry_point of '{declared}'")
        add(data.get("workflow_file"), f"the workflow file of '{declared}'")
    own = (actions / current_file).resolve() if current_file and "\x00" not in current_file else None
    folder = actions / "workflows"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            resolved = path.resolve()
            if path.name.endswith((".workflow.yaml", ".workflow.yml")) and resolved not in named \
                    and resolved != own:
                uses.setdefault(resolved, f"the standalone workflow {path.name} (an action of its own)")
    return uses


def _action_yamls(actions: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The YAMLs directly in actions/ (each an action YAML to the pack loader), parsed."""
    if not actions.is_dir():
        return []
    found = []
    for path in sorted([*actions.glob("*.yaml"), *actions.glob("*.yml")]):
        try:
            data = yaml_core.load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            found.append((path, data))
    return found


def _declares(data: dict[str, Any], ref: str) -> bool:
    name = ref.split(".", 1)[-1]
    return data.get("ref") == ref or ("ref" not in data and data.get("name") == name)


def write_action(path: Path, body: dict[str, Any], action: Action) -> str:
    """The action YAML from the request's keys (an action YAML as JSON), parameters as kept;
    returns the digest of what was written (Action.metadata_digest)."""
    data: dict[str, Any] = {"ref": action.ref, **body}
    data["parameters"] = _parameters(action)
    text = yaml.safe_dump({k: v for k, v in data.items() if v not in (None, {}, [])},
                          sort_keys=False, allow_unicode=True, width=100)
    _atomic_write(path, text)
    return digest_of(text.encode("utf-8"))


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


@dataclass(frozen=True)
class Removal:
    """What DELETE with remove_files did in the pack directory: the files removed, and those
    kept because something else in the pack uses them (path -> why)."""

    removed: list[Path]
    kept: dict[Path, str]


def remove(pack_dir: str | None, ref: str, workflow_file: str | None,
           others: Iterable[Action] = ()) -> Removal:
    """Delete an action's definition from its pack directory (DELETE with remove_files): the
    action YAML that declares `ref` and, for a workflow, its workflow file, each only when
    nothing else uses it (`others`: the pack's other actions; the rule `planned` writes by).
    Scripts stay (entry points may be shared)."""
    removal = Removal([], {})
    if not pack_dir:
        return removal
    root = Path(pack_dir)
    actions = root / "actions"
    uses = pack_uses(root, others, ref, current_file=workflow_file)
    declaring = _declaring_file(actions, ref)
    doomed: list[Path] = []
    if declaring is not None:
        resolved = declaring.resolve()
        if resolved in uses:
            removal.kept[declaring] = f"it is {uses[resolved]}"
        elif resolved.parent != actions.resolve() or not resolved.name.endswith(YAML_SUFFIXES):
            removal.kept[declaring] = f"it is a symlink to {resolved}"
        else:
            doomed.append(declaring)
    if workflow_file:
        try:
            path = check_workflow_file(root, workflow_file, uses)
        except ApiError as exc:
            removal.kept[actions / workflow_file] = exc.details[0]["message"]
        else:
            if path.is_file():
                doomed.append(path)
    for path in doomed:
        path.unlink(missing_ok=True)
        removal.removed.append(path)
    return removal


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
