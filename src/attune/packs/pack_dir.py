"""One pack directory -> Pack, with every problem found in it (spec §1).

Cross-pack checks (task actions that must exist somewhere) need all packs loaded first, so this
module also keeps each workflow's definition with its file's reporter for `loader.py` to check.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from attune.packs.models import Action, Pack
from attune.packs.problems import Problem, Reporter
from attune.packs.schema import (
    check_action_ref,
    check_action_yaml,
    check_pack_yaml,
    check_parameters,
    output_schema,
)
from attune.packs.workflow_file import build_definition, check_definition
from attune.packs.yaml_marks import YamlError
from attune.workflows.definition import WorkflowDefinition

WORKFLOW_SUFFIXES = (".workflow.yaml", ".workflow.yml")


@dataclass
class LoadedPack:
    """One pack directory's outcome: the pack when usable, and what the cross-pack check needs."""

    pack: Pack | None = None
    problems: list[Problem] = field(default_factory=list)
    # (reporter of the workflow file, definition) for the unknown-action check across packs.
    workflows: list[tuple[Reporter, WorkflowDefinition]] = field(default_factory=list)
    files: set[FsPath] = field(default_factory=set)  # every file read, resolved
    pack_rep: Reporter | None = None  # pack.yaml's, to place pack-level problems

    def read(self, path: FsPath) -> tuple[Any, Reporter] | None:
        """Parse one YAML file; None (with the problem recorded) when it isn't valid YAML."""
        self.files.add(path.resolve())
        return read_yaml(path, self.problems)


def read_yaml(path: FsPath, problems: list[Problem]) -> tuple[Any, Reporter] | None:
    try:
        content = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read file: {exc}"))
        return None
    return parse_yaml(path, content, problems)


def parse_yaml(path: FsPath, content: bytes, problems: list[Problem]) -> tuple[Any, Reporter] | None:
    """The YAML document in `content` (read from `path`); None, with the problem, when it isn't."""
    rep = Reporter(str(path), problems=problems)
    try:
        data = rep.load(content.decode("utf-8"))
    except YamlError as exc:
        problems.append(Problem(str(path), exc.line, exc.column, exc.message))
        return None
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), 1, 1, f"cannot read file: {exc}"))
        return None
    return data, rep


def digest_of(content: bytes) -> str:
    """What identifies an action YAML's content (Action.metadata_digest)."""
    return hashlib.sha256(content).hexdigest()


def given_path(path: str | os.PathLike[str]) -> FsPath:
    """`path` made absolute as given, its symlinks kept: a pack registered through a release
    symlink (`current -> releases/7`) keeps that path, which workers follow at each task, so
    re-pointing the link deploys the new release. A `..` is resolved (after a symlink it means
    the target's parent, as the kernel reads it); the parts after the last one stay."""
    given = FsPath(path)
    if not given.is_absolute():
        given = FsPath.cwd() / given
    parts = given.parts
    if ".." in parts:
        last = len(parts) - 1 - parts[::-1].index("..")
        given = FsPath(*parts[:last + 1]).resolve().joinpath(*parts[last + 1:])
    return given


def load_pack_dir(root: FsPath) -> LoadedPack:
    loaded = LoadedPack()
    if not (root / "pack.yaml").is_file():
        loaded.problems.append(Problem(str(root / "pack.yaml"), 1, 1, "pack.yaml not found"))
        return loaded
    parsed = loaded.read(root / "pack.yaml")
    if parsed is None:
        return loaded
    data, loaded.pack_rep = parsed
    if not isinstance(data, dict):
        loaded.pack_rep.at((), "pack.yaml must be a mapping with ref, label, version, ...")
        return loaded
    fields = check_pack_yaml(loaded.pack_rep, data)
    if fields is None:
        return loaded
    actions: dict[str, tuple[Action, Reporter]] = {}
    companions: set[FsPath] = set()
    for file in _yaml_files(root / "actions"):
        if _inside(loaded, root, file):
            _add(actions, _load_action(loaded, file, fields["ref"], root, companions))
    for file in _yaml_files(root / "actions" / "workflows", WORKFLOW_SUFFIXES):
        if file.resolve() not in companions and _inside(loaded, root, file):
            _add(actions, _load_standalone(loaded, file, fields["ref"], f"workflows/{file.name}"))
    # Attune's older standalone location: <pack>/workflows/<name>.yaml, each an action.
    for file in _yaml_files(root / "workflows"):
        if _inside(loaded, root, file):
            _add(actions, _load_standalone(loaded, file, fields["ref"], f"../workflows/{file.name}"))
    loaded.pack = Pack(**fields, path=str(given_path(root)),
                       actions={ref: action for ref, (action, _) in actions.items()})
    return loaded


def _inside(loaded: LoadedPack, root: FsPath, file: FsPath) -> bool:
    """A file the pack loads must be the pack's own: a symlink out of it is refused, as an
    entry_point's or workflow_file's is."""
    if file.resolve().is_relative_to(root.resolve()):
        return True
    loaded.problems.append(Problem(str(file), 1, 1, f"{file.name} resolves outside the pack "
                                                     f"(a symlink to {file.resolve()})"))
    return False


def _yaml_files(folder: FsPath, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[FsPath]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.is_file() and f.name.endswith(suffixes))


def _add(actions: dict[str, tuple[Action, Reporter]], new: tuple[Action, Reporter] | None) -> None:
    if new is None:
        return
    action, rep = new
    if action.ref in actions:
        rep.at(("ref",), f"action ref '{action.ref}' is already defined in {actions[action.ref][1].file}")
    else:
        actions[action.ref] = new


def _load_action(loaded: LoadedPack, file: FsPath, pack_ref: str, root: FsPath,
                 companions: set[FsPath]) -> tuple[Action, Reporter] | None:
    loaded.files.add(file.resolve())
    try:
        content = file.read_bytes()
    except OSError as exc:
        loaded.problems.append(Problem(str(file), 1, 1, f"cannot read file: {exc}"))
        return None
    fields_rep = action_fields(file, content, pack_ref, root, loaded.problems)
    if fields_rep is None:
        return None
    fields, rep, data = fields_rep
    if "workflow_file" not in fields:
        return (Action(**fields), rep) if fields["ref"] else None
    wf_path = root / "actions" / fields["workflow_file"]
    companions.add(wf_path.resolve())
    wf = loaded.read(wf_path)
    if wf is None:
        return None
    wf_data, wf_rep = wf
    definition, synthetic = build_definition(wf_rep, wf_data)
    if isinstance(wf_data, dict):
        _check_companion(wf_rep, wf_data, data, fields["ref"])
    if definition is None or not fields["ref"]:
        return None
    check_definition(wf_rep, definition, synthetic, fields["parameters"])
    loaded.workflows.append((wf_rep, definition))
    return Action(**fields, workflow=definition), rep


def action_fields(file: FsPath, content: bytes, pack_ref: str, root: FsPath,
                  problems: list[Problem]) -> tuple[dict[str, Any], Reporter, dict[str, Any]] | None:
    """An action YAML's fields for models.Action (without `workflow`), by the pack loader's
    rules; a script action's also say where they came from: `metadata_file` (relative to the
    pack) and `metadata_digest` (of `content`), which a worker compares with the file when a
    task starts (packs/current.py). Also its reporter and data; None when it is no mapping."""
    parsed = parse_yaml(file, content, problems)
    if parsed is None:
        return None
    data, rep = parsed
    if not isinstance(data, dict):
        rep.at((), "an action YAML must be a mapping with ref, runner_type, ...")
        return None
    fields = check_action_yaml(rep, data, pack_ref, root)
    if "workflow_file" not in fields:  # a script action: its script is read when a task starts
        fields["metadata_file"] = file.relative_to(root).as_posix()
        fields["metadata_digest"] = digest_of(content)
    return fields, rep, data


def _check_companion(rep: Reporter, wf: dict[str, Any], action: dict[str, Any],
                     ref: str | None) -> None:
    """The action YAML owns ref, label, parameters and output (spec §1). Files written for the
    original often repeat them; that is fine as long as they agree, never silently different."""
    if "ref" in wf and ref is not None and wf["ref"] != ref:
        rep.at(("ref",), f"ref '{wf['ref']}' does not match the action's ref '{ref}'")
    for key in ("parameters", "output", "output_schema", "out_schema"):
        if key in wf and wf[key] != action.get(key):
            rep.at((key,), f"`{key}` differs from the action YAML, which owns it; remove it here",
                   key=True)


def _load_standalone(loaded: LoadedPack, file: FsPath, pack_ref: str,
                     workflow_file: str) -> tuple[Action, Reporter] | None:
    """A *.workflow.yaml that no action YAML points at is an action of its own; its ref defaults
    to <pack>.<file name without .workflow.yaml>."""
    parsed = loaded.read(file)
    if parsed is None:
        return None
    data, rep = parsed
    definition, synthetic = build_definition(rep, data)
    if not isinstance(data, dict):
        return None
    stem = file.name.removesuffix(".yaml").removesuffix(".yml").removesuffix(".workflow")
    named = {k: data[k] for k in ("ref", "name") if k in data} or {"name": stem}
    ref = check_action_ref(rep, named, pack_ref)
    params = check_parameters(rep, data.get("parameters"), ("parameters",))
    typed = rep.expect(data, (), "label", str, "a string")
    output = output_schema(rep, data)
    if definition is None or ref is None or not typed:
        return None
    check_definition(rep, definition, synthetic, params)
    loaded.workflows.append((rep, definition))
    action = Action(ref=ref, pack_ref=pack_ref, label=data.get("label"), output=output,
                    description=definition.description, parameters=params, tags=definition.tags,
                    workflow_file=workflow_file, workflow=definition)
    return action, rep
