"""The action a task runs, as its pack's files say when the task starts.

A run keeps a copy of every action it can reach, taken when it started (the workflow graph, the
parameter schemas it validates task inputs with), but a script is read from disk when its task
starts. A pack upgraded in between (`step.yaml` now says `parameter_format: json` and `step.sh`
reads JSON) would run the new script with the old YAML's format. So the runtime worker reads
the action YAML together with the script: when the file's content differs from the run's copy
(`metadata_digest`), the task runs with the YAML as it is now (entry point, parameter format
and delivery, output format, warm start, the parameters' defaults and checks), or fails saying
what changed when it cannot (another runner, no longer this action, invalid, parameters that no
longer fit). An unchanged file costs one stat per task (`ActionFiles`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attune.commandline import command_line
from attune.packs.models import Action
from attune.packs.pack_dir import action_fields, digest_of
from attune.packs.parameters import to_json_schema, validate_parameters
from attune.problems import Problem
from attune.runtimes.models import ProcessRequest
from attune.secrets import is_sealed

# A file modified this recently is read again at each use: a second write within the
# timestamps' granularity that kept the size would otherwise go unseen.
RACY_SECONDS = 2.0
# The fields of a request the action YAML decides (timeout_seconds is not one: the workflow
# sized Temporal's deadline for the attempt, and the records show it, from the run's copy).
TAKEN = ("entry_point", "parameter_delivery", "parameter_format", "output_format", "warm")
RERUN = "re-run the execution (`attune execution rerun ID`) to run it as the pack is now"


class ActionChanged(Exception):
    """The action YAML changed since the run started in a way this task cannot run with: the
    task fails with this message (running it again would fail the same way)."""


class ActionFileGone(Exception):
    """The action YAML the run's copy came from is not on this worker (removed since the run
    started, or this worker's copy of the pack lacks it): the task is handed back, as for a
    missing script (runtimes.process.NotOnThisWorker)."""


@dataclass
class _Read:
    stamp: tuple[int, int, int, int]  # mtime_ns, size, inode, ctime_ns when read
    content: bytes
    digest: str
    action: tuple[Action | None, list[Problem]] | None = field(default=None)  # parsed on demand


class ActionFiles:
    """Action YAMLs as they are on disk, each read again only when its stat changes (a worker
    keeps one: every task of a script action asks it)."""

    def __init__(self, max_files: int = 10_000) -> None:
        self.max_files = max_files
        self._files: dict[str, _Read] = {}
        self.reads = 0  # files read (not answered from the cache), for tests and measurements

    def read(self, path: Path) -> _Read:
        """The file's content and digest (OSError, e.g. FileNotFoundError, when it cannot)."""
        key = str(path)
        info = os.stat(key)
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_ctime_ns)
        known = self._files.get(key)
        if known is not None and known.stamp == stamp:
            return known
        with open(key, "rb") as file:
            content = file.read()
        self.reads += 1
        found = _Read(stamp, content, digest_of(content))
        if time.time() - info.st_mtime_ns / 1e9 >= RACY_SECONDS:
            if len(self._files) >= self.max_files:
                self._files.clear()
            self._files[key] = found
        else:
            self._files.pop(key, None)
        return found

    def action(self, read: _Read, path: Path, root: Path, pack_ref: str) -> tuple[Action | None, list[Problem]]:
        """The action the file defines, checked as the pack loader checks it; None with the
        problems when it is not usable."""
        if read.action is None:
            read.action = _parse(read.content, path, root, pack_ref)
        return read.action


def _parse(content: bytes, path: Path, root: Path, pack_ref: str) -> tuple[Action | None, list[Problem]]:
    problems: list[Problem] = []
    if not path.resolve().is_relative_to(root.resolve()):
        return None, [Problem(str(path), 1, 1, f"{path.name} resolves outside the pack "
                                               f"(a symlink to {path.resolve()})")]
    found = action_fields(path, content, pack_ref, root, problems)
    if found is None or problems or not found[0].get("ref"):
        return None, problems or [Problem(str(path), 1, 1, "no usable action ref")]
    fields = found[0]
    fields["pack_dir"] = str(root)
    try:
        return Action(**fields), []
    except ValueError as exc:  # pydantic: what check_action_yaml let through
        return None, [Problem(str(path), 1, 1, str(exc))]


def as_on_disk(request: ProcessRequest, files: ActionFiles) -> ProcessRequest:
    """`request` with what its action YAML says now, when that differs from the run's copy (the
    request itself when it is the same, or when there is nothing to compare). Raises
    ActionChanged (fail the task) or ActionFileGone (hand it back)."""
    if request.metadata_file is None or request.metadata_digest is None:
        return request
    root = Path(request.pack_dir)
    path = root / request.metadata_file
    try:
        read = files.read(path)
    except FileNotFoundError:
        if not root.is_dir():  # no pack here at all: runtimes.process says so
            return request
        raise ActionFileGone(
            f"action YAML not found: {path}, which defined '{request.action_ref}' when the run "
            f"started (the action was removed since, or this worker's copy of pack "
            f"'{request.pack_ref}' lacks it; if it was removed, {RERUN})") from None
    except OSError as exc:
        raise ActionChanged(f"action '{request.action_ref}': cannot read {path}: {exc}") from None
    if read.digest == request.metadata_digest:
        return request
    changed = f"action '{request.action_ref}' changed since this run started ({path})"
    action, problems = files.action(read, path, root, request.pack_ref)
    if action is None:
        listed = "; ".join(map(str, problems))
        raise ActionChanged(f"{changed} and is not valid now: {listed}; fix it "
                            f"(`{command_line('attune', 'validate', path)}`), or {RERUN}")
    if action.ref != request.action_ref:
        raise ActionChanged(f"{changed}: the file defines '{action.ref}' now, not "
                            f"'{request.action_ref}'; {RERUN}")
    if action.runner is None:
        raise ActionChanged(f"{changed}: it is a workflow now (workflow_file: "
                            f"{action.workflow_file}), not a {request.runner} script; {RERUN}")
    if action.runner != request.runner:
        raise ActionChanged(f"{changed}: its runner is {action.runner} now, not {request.runner}, "
                            f"and this task was sent to the {request.runner} workers; {RERUN}")
    given = {k: v for k, v in request.parameters.items() if k not in request.defaulted}
    parameters, refused = validate_parameters(action, given, allow_unknown=True)
    if refused:
        listed = "; ".join(map(str, refused))
        raise ActionChanged(f"{changed}: the task's input does not fit its parameters now: "
                            f"{listed}; {RERUN} (with parameters that fit)")
    return request.model_copy(update={
        "entry_point": action.entry_point or "",
        "parameter_delivery": action.parameter_delivery,
        "parameter_format": action.parameter_format,
        "output_format": action.output_format,
        "warm": action.warm_start,
        "parameters": parameters,
        "secret_names": sorted(set(request.secret_names) | action.secret_names()),
        "secret_checks": _secret_checks(action, parameters),
        "metadata_digest": read.digest,
    })


def differences(before: ProcessRequest, after: ProcessRequest) -> dict[str, Any]:
    """What the current action YAML changed in a request, field -> new value (for the log)."""
    changed: dict[str, Any] = {name: getattr(after, name) for name in TAKEN
                               if getattr(before, name) != getattr(after, name)}
    added = sorted(set(after.parameters) - set(before.parameters))
    if added:
        changed["parameters added"] = added
    return changed


def _secret_checks(action: Action, parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The schema of each parameter that arrives sealed, for the worker to check once unsealed
    (validate_parameters could not: it saw only the token)."""
    sealed = [name for name in action.parameters if is_sealed(parameters.get(name))]
    if not sealed:
        return {}
    schema = to_json_schema({name: action.parameters[name] for name in sealed})
    return {name: schema["properties"][name] for name in sealed}
