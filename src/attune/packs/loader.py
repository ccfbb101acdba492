"""Load pack directories into models, reporting every problem at file:line:column (spec §1, §2).

Public entry points: `load_pack`, `load_packs`, `validate_path`, `parse_workflow_text`. A load
never stops at the first problem; loaders raise PackError with all of them.
"""

from __future__ import annotations

import functools
from collections.abc import Container, Iterable, Mapping
from pathlib import Path as FsPath
from typing import Any, TypeAlias

from attune.packs.catalog import Catalog
from attune.packs.interpreters import version_satisfies
from attune.packs.models import LOCAL_MAX_TIMEOUT_SECONDS, Pack, ParameterSpec
from attune.packs.pack_dir import LoadedPack, load_pack_dir, read_yaml
from attune.packs.problems import PackError, Problem, Reporter, sort_problems
from attune.packs.schema import check_parameters
from attune.packs.workflow_file import build_definition, check_definition
from attune.packs.yaml_marks import YamlError
from attune.workflows.definition import WorkflowDefinition
from attune.workflows.graph import TaskGraph
from attune.workflows.validate import did_you_mean

# Action refs a workflow's tasks may run, each with its parameters' names when they are known
# here (None: only the ref is, e.g. an action registered elsewhere).
KnownActions: TypeAlias = Mapping[str, frozenset[str] | None]
Known: TypeAlias = KnownActions | Iterable[str]


def known_of(refs: Known) -> dict[str, frozenset[str] | None]:
    if isinstance(refs, OtherPacksUnknown):
        return refs
    return dict(refs) if isinstance(refs, Mapping) else dict.fromkeys(refs)


class OtherPacksUnknown(dict[str, frozenset[str] | None]):
    """Known actions when the installed packs are not (`attune validate` with no packs
    directory): an action of a pack none of whose actions is known (`core.noop`) cannot be
    checked, so it passes, unchecked; a typo in a known pack's ref (`mypack.tpyo`) is still an
    error. It stays so when merged with the packs being loaded."""

    def __contains__(self, ref: object) -> bool:
        if dict.__contains__(self, ref):
            return True
        pack = str(ref).rpartition(".")[0]
        return not any(known.rpartition(".")[0] == pack for known in self)

    def __or__(self, other: Mapping[str, frozenset[str] | None]) -> OtherPacksUnknown:  # type: ignore[override]
        return OtherPacksUnknown({**self, **other})

    def __ror__(self, other: Mapping[str, frozenset[str] | None]) -> OtherPacksUnknown:  # type: ignore[override]
        return OtherPacksUnknown({**other, **self})


def load_pack(path: str | FsPath, *, known_actions: Known = (),
              known_versions: Mapping[str, str] | None = None) -> Pack:
    """One pack directory. Workflow tasks may use actions of this pack, of sibling packs (other
    directories with a pack.yaml next to it, e.g. `core`) and `known_actions` (e.g. the actions a
    server already has registered); its `dependencies` are checked against the loaded packs'
    versions and `known_versions` (pack ref -> version of the packs known_actions come from)."""
    loaded, _ = _load_with_siblings(FsPath(path), known_actions, known_versions)
    if loaded.problems or loaded.pack is None:
        raise PackError(loaded.problems)
    return loaded.pack


def _load_with_siblings(root: FsPath, extra: Known = (),
                        extra_versions: Mapping[str, str] | None = None) -> tuple[LoadedPack, KnownActions]:
    """The pack at `root`, checked against its own and its siblings' actions (returned)."""
    loaded = load_pack_dir(root)
    siblings = [load_pack_dir(d) for d in pack_dirs(root.resolve().parent) if d != root.resolve()]
    extra = known_of(extra)
    known = extra | _refs([*siblings, loaded])  # its own actions win a clash
    _check_actions_exist(loaded.workflows, known, _workflow_refs([loaded, *siblings]),
                         _local_refs([loaded, *siblings]))
    versions = _extra_versions(extra, extra_versions) | _versions([loaded, *siblings])
    _check_dependencies([loaded], versions)
    _check_endless_nesting([loaded, *siblings], only=loaded)
    return loaded, known


def load_packs(root: str | FsPath, *, known_actions: Known = (),
               known_versions: Mapping[str, str] | None = None) -> Catalog:
    """Every directory under `root` that has a pack.yaml; their tasks may also use
    `known_actions` (e.g. the installed packs' actions, of packs at `known_versions`)."""
    root = FsPath(root)
    if not root.is_dir():
        raise PackError([Problem(str(root), 1, 1, "packs directory not found")])
    loads = [load_pack_dir(d) for d in pack_dirs(root)]
    packs: dict[str, Pack] = {}
    for loaded in loads:
        if loaded.pack is None:
            continue
        if loaded.pack.ref in packs and loaded.pack_rep is not None:
            loaded.pack_rep.at(("ref",), f"pack ref '{loaded.pack.ref}' is already used by "
                               f"{packs[loaded.pack.ref].path}")
        packs.setdefault(loaded.pack.ref, loaded.pack)
    extra = known_of(known_actions)
    _check_actions_exist([w for loaded in loads for w in loaded.workflows], extra | _refs(loads),
                         _workflow_refs(loads), _local_refs(loads))
    _check_dependencies(loads, _extra_versions(extra, known_versions) | _versions(loads))
    _check_endless_nesting(loads)
    problems = [p for loaded in loads for p in loaded.problems]
    if problems:
        raise PackError(problems)
    return Catalog(packs)


def installed_packs(packs_dir: str | FsPath) -> tuple[KnownActions, dict[str, str]]:
    """The actions and versions of the packs under `packs_dir` (those that load at all): what a
    pack kept elsewhere may use, e.g. `core.*`, and depend on."""
    root = FsPath(packs_dir)
    loads = [load_pack_dir(d) for d in pack_dirs(root)] if root.is_dir() else []
    return _refs(loads), _versions(loads)


def validate_path(path: str | FsPath, known_actions: Known = (),
                  known_versions: Mapping[str, str] | None = None) -> list[Problem]:
    """Problems in a pack directory, a directory of packs, an action YAML or a workflow file.
    `known_actions`: refs that exist besides the pack's own and its siblings' (installed packs)."""
    target = FsPath(path)
    if target.is_dir():
        if (target / "pack.yaml").is_file():
            return _problems(functools.partial(load_pack, known_actions=known_actions,
                                               known_versions=known_versions), target)
        if pack_dirs(target):
            return _problems(functools.partial(load_packs, known_actions=known_actions,
                                               known_versions=known_versions), target)
        misnamed = " (its pack.yml must be named pack.yaml)" if (target / "pack.yml").is_file() else ""
        return [Problem(str(target), 1, 1, f"not a pack directory (no pack.yaml) and no packs in it{misnamed}")]
    if not target.is_file():
        return [Problem(str(target), 1, 1, "no such file or directory")]
    if not target.name.endswith((".yaml", ".yml")):
        return [Problem(str(target), 1, 1, "not a pack directory, action YAML or workflow file")]
    pack_dir = _owning_pack(target)
    if pack_dir is None:  # a loose workflow file: its actions are checked against the known ones
        return _validate_alone(target, known_of(known_actions) or None)
    loaded, known = _load_with_siblings(pack_dir, known_actions, known_versions)
    if loaded.pack is None:  # pack.yaml stopped the load: that is the problem to fix first
        return sort_problems(loaded.problems)
    if target.resolve() not in loaded.files:  # not a file the pack loader reads: check it alone
        return _validate_alone(target, known)
    # Only this file's problems, and its workflow file's for an action YAML.
    relevant = {target.resolve()}
    parsed = read_yaml(target, [])
    if parsed and isinstance(parsed[0], dict) and isinstance(parsed[0].get("workflow_file"), str):
        relevant.add((pack_dir / "actions" / parsed[0]["workflow_file"]).resolve())
    return sort_problems([p for p in loaded.problems if p.file and FsPath(p.file).resolve() in relevant])


def _validate_alone(target: FsPath, known_actions: KnownActions | None) -> list[Problem]:
    """A YAML file outside any pack's layout: only a workflow file can be checked on its own."""
    problems: list[Problem] = []
    parsed = read_yaml(target, problems)
    if parsed is not None:
        data, rep = parsed
        looks_like_action = {"runner_type", "entry_point", "workflow_file"} & set(data or ())
        if isinstance(data, dict) and "tasks" not in data and looks_like_action:
            rep.at((), "an action YAML is checked as part of its pack: put it in <pack>/actions/")
        else:
            _check_workflow(rep, data, None, known_actions)
    return sort_problems(problems)


def _owning_pack(file: FsPath) -> FsPath | None:
    """pack.yaml, actions/<x>.yaml and actions/workflows/<x> belong to the pack 1-3 levels up."""
    for parents in (list(file.parents), list(file.absolute().parents)):
        for folder in parents[:3]:
            if (folder / "pack.yaml").is_file():
                return folder
    return None


def parse_workflow_text(text: str, filename: str = "<workflow>", parameters: dict | None = None,
                        *, known_actions: Known | None = None,
                        ) -> tuple[WorkflowDefinition | None, list[Problem]]:
    """A workflow file's text on its own (POST /workflows/validate). `parameters`: the owning
    action's parameter schema (names are enough); without it, a `parameters` block in the text is
    used, and with neither, `parameters.x` references are not checked. `known_actions`: refs that
    task actions may use (not checked when None). The definition is returned only when clean."""
    problems: list[Problem] = []
    rep = Reporter(filename, problems=problems)
    try:
        data = rep.load(text)
    except YamlError as exc:
        return None, [Problem(filename, exc.line, exc.column, exc.message)]
    definition = _check_workflow(rep, data, parameters,
                                 known_of(known_actions) if known_actions is not None else None)
    return (definition if not problems else None), sort_problems(problems)


def _check_workflow(rep: Reporter, data: Any, parameters: dict | None,
                    known_actions: KnownActions | None) -> WorkflowDefinition | None:
    definition, synthetic = build_definition(rep, data)
    if parameters is None and isinstance(data, dict) and data.get("parameters") is not None:
        parameters = check_parameters(rep, data["parameters"], ("parameters",))
    if definition is not None:
        typed = parameters is not None and all(isinstance(v, ParameterSpec) for v in parameters.values())
        check_definition(rep, definition, synthetic,
                         parameters if typed else (set(parameters) if parameters is not None else None))
        if known_actions is not None:
            _check_actions_exist([(rep, definition)], known_actions)
    return definition


def _problems(loader: Any, path: FsPath) -> list[Problem]:
    try:
        loader(path)
    except PackError as exc:
        return exc.problems
    return []


def pack_dirs(root: FsPath) -> list[FsPath]:
    """The packs in a packs directory: its folders with a pack.yaml."""
    return sorted(d for d in root.iterdir() if (d / "pack.yaml").is_file()) if root.is_dir() else []


def skipped_dirs(root: FsPath) -> list[tuple[FsPath, str]]:
    """Folders of a packs directory that are not packs, with why: a pack whose pack.yaml is
    misnamed was skipped without a word. Hidden folders (.git) and caches are not named."""
    if not root.is_dir():
        return []
    skipped = []
    for d in sorted(root.iterdir()):
        if not d.is_dir() or d.name.startswith((".", "_")) or (d / "pack.yaml").is_file():
            continue
        near = next((n for n in ("pack.yml", "Pack.yaml", "pack.yaml.txt") if (d / n).is_file()), None)
        skipped.append((d, f"has {near}, not pack.yaml" if near else "no pack.yaml"))
    return skipped


def _extra_versions(extra: Known, versions: Mapping[str, str] | None) -> dict[str, str]:
    """Packs known from outside the load: their versions where given ("" = unknown, which
    meets any constraint: a registry that cannot say must not refuse)."""
    return {ref.split(".", 1)[0]: "" for ref in extra} | dict(versions or {})


def _versions(loads: list[LoadedPack]) -> dict[str, str]:
    return {loaded.pack.ref: loaded.pack.version for loaded in loads if loaded.pack}


def _refs(loads: list[LoadedPack]) -> dict[str, frozenset[str] | None]:
    return {ref: frozenset(action.parameters) for loaded in loads if loaded.pack
            for ref, action in loaded.pack.actions.items()}


def _check_endless_nesting(loads: list[LoadedPack], only: LoadedPack | None = None) -> None:
    """A workflow that, in every run, runs itself (directly or through other workflows) would
    nest until the engine's limits stop it: a validation error at the task that closes the loop
    (a conditional call is fine; the nesting depth limit bounds it at run time)."""
    workflows: dict[str, WorkflowDefinition] = {}
    for loaded in ([only] if only else []) + loads:  # the pack being checked wins a ref clash
        for ref, action in (loaded.pack.actions.items() if loaded.pack else ()):
            if action.workflow is not None:
                workflows.setdefault(ref, action.workflow)
    reporters = {id(d): rep for loaded in loads for rep, d in loaded.workflows}
    calls: dict[str, list[tuple[str, str]]] = {}
    for ref, definition in workflows.items():
        always = TaskGraph.of(definition).always_run(definition)
        calls[ref] = [(name, unit.action) for name in always
                      for unit in definition.task(name).parallel or [definition.task(name)]
                      if unit.action in workflows]
    for ref, definition in workflows.items():
        rep = reporters.get(id(definition))
        if rep is None or (only is not None and not any(d is definition for _, d in only.workflows)):
            continue
        for name, target in calls[ref]:
            path = _always_calls(target, ref, calls)
            if path is not None:
                chain = " -> ".join([ref, *path])
                index = next(i for i, t in enumerate(definition.tasks) if t.name == name)
                rep.at(("tasks", index, "action"), f"task '{name}' always runs '{target}', which "
                       f"always leads back here ({chain}): the nesting would never end; make "
                       "the call conditional (a `when` on the transition into it)")


def _always_calls(start: str, goal: str, calls: dict[str, list[tuple[str, str]]]) -> list[str] | None:
    """The chain of workflows from `start` that always reaches `goal`, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        ref, path = stack.pop()
        if ref == goal:
            return path
        if ref in seen:
            continue
        seen.add(ref)
        stack.extend((target, [*path, target]) for _, target in calls.get(ref, []))
    return None


def _local_refs(loads: list[LoadedPack]) -> set[str]:
    return {ref for loaded in loads if loaded.pack
            for ref, action in loaded.pack.actions.items() if action.local}


def _workflow_refs(loads: list[LoadedPack]) -> set[str]:
    return {ref for loaded in loads if loaded.pack
            for ref, action in loaded.pack.actions.items() if action.is_workflow}


def _check_actions_exist(workflows: list[tuple[Reporter, WorkflowDefinition]],
                         known: KnownActions, workflow_refs: Container[str] = (),
                         local: Container[str] = ()) -> None:
    """Every task action exists and declares every name the task's `input` gives (a direct run
    refuses an unknown parameter: a typo in a workflow must not reach the action unseen);
    `wait_for` sits on a task that runs an action, not a nested workflow (whose own tasks would
    have to wait); a task that runs a local action has no `timeout` over what it may run."""
    for rep, definition in workflows:
        for i, task in enumerate(definition.tasks):
            if task.wait_for is not None and task.action in workflow_refs:
                rep.at(("tasks", i, "wait_for"), f"`wait_for` needs an action task: '{task.name}' "
                       f"runs the workflow '{task.action}'", key=True)
            subs = [(("tasks", i, "tasks", j), sub) for j, sub in enumerate(task.parallel or [])]
            for at, unit in [(("tasks", i), task), *subs]:
                # Malformed refs were reported when the task was read (and left as "?").
                if unit.action not in (None, "?") and unit.action not in known:
                    rep.at(at + ("action",), f"unknown action '{unit.action}'"
                           + did_you_mean(unit.action, known))
                elif unit.action is not None and known.get(unit.action) is not None:
                    _check_input_names(rep, at, unit.action, unit.input, known[unit.action] or frozenset())
                if (unit.action in local and isinstance(unit.timeout, (int, float))
                        and unit.timeout > LOCAL_MAX_TIMEOUT_SECONDS):
                    rep.at(at + ("timeout",), f"'{unit.action}' is a local action, which may run at "
                           f"most {LOCAL_MAX_TIMEOUT_SECONDS} s (inside the orchestrator, without "
                           f"heartbeats): this timeout is {unit.timeout:g} s")


def _check_input_names(rep: Reporter, at: tuple, action: str, given: dict[str, Any],
                       declared: frozenset[str]) -> None:
    for name in given:
        if name not in declared:
            takes = (f"its parameters: {', '.join(sorted(declared))}" if declared
                     else "it takes no parameters")
            hint = did_you_mean(name, declared)
            rep.at(at + ("input", name), f"'{action}' has no parameter '{name}'"
                   + (hint if hint else f" ({takes})"), key=True)


def _check_dependencies(loads: list[LoadedPack], known: dict[str, str]) -> None:
    """pack.yaml `dependencies`: every pack named is loaded (or registered), at a version that
    meets the constraint. `known`: pack ref -> version."""
    for loaded in loads:
        if loaded.pack is None or loaded.pack_rep is None:
            continue
        for ref, constraint in loaded.pack.dependencies.items():
            at = ("dependencies", ref) if ("dependencies", ref) in loaded.pack_rep.marks.keys else (
                "dependencies",)
            if ref not in known:
                loaded.pack_rep.at(at, f"pack '{loaded.pack.ref}' depends on pack '{ref}', which is "
                                   f"not loaded (known packs: {', '.join(sorted(known)) or 'none'})")
            elif constraint is not None and version_satisfies(known[ref], constraint) is False:
                loaded.pack_rep.at(at, f"pack '{loaded.pack.ref}' needs {ref} {constraint}, found "
                                   f"{ref} {known[ref]}")


