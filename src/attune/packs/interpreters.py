"""The interpreters behind each runtime, as far as loading a pack needs them (spec §1):
`runtime_deps` (is the runtime there?) and `runtime_version` (does its version meet the
constraint?). Checked on the machine that loads the pack (the CLI or the API); the bundled
deployments run the API and the workers from one image, so what holds there holds for the workers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from attune.packs.models import RUNNER_ALIASES, Runner

PROBE_TIMEOUT_SECONDS = 10


class RuntimeCheckError(ValueError):
    pass


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # e.g. "3.11.2"


def _python() -> str | None:
    """The python3 a worker here runs actions with: the first one the action user can run
    (a root worker skips one installed under root's home, e.g. pyenv's), so `runtime_version`
    is checked against the interpreter the actions get, and a refusal names that one."""
    from attune.runtimes.environments import EnvironmentBuildError, system_python

    try:
        return system_python()
    except EnvironmentBuildError:
        return None


_PROBES: dict[Runner, tuple[str, list[str]]] = {
    # runner: (what to call it in messages, version-printing arguments)
    # The real interpreter behind shims such as pyenv's (what the worker resolves too).
    "python": ("python3", ["-c", "import sys; print(sys.executable, '%d.%d.%d' % sys.version_info[:3])"]),
    "nodejs": ("node", ["--version"]),
    "shell": ("bash", ["-c", "echo $BASH_VERSION"]),
}


@cache
def interpreter(runner: Runner) -> Interpreter | None:
    """The interpreter a worker on this machine would run `runner` actions with, or None."""
    name, args = _PROBES[runner]
    path = {"python": _python(), "nodejs": shutil.which("node"), "shell": "/bin/bash"}[runner]
    if path is None or not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run([path, *args], capture_output=True, text=True, check=True,
                             timeout=PROBE_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if runner == "python" and " " in out.strip():
        path, out = out.strip().rsplit(" ", 1)
    match = re.search(r"\d+(\.\d+)*", out)
    return Interpreter(path, match.group(0)) if match else None


def runner_of(name: str) -> Runner:
    runner = RUNNER_ALIASES.get(name.lower())
    if runner is None:
        raise RuntimeCheckError(f"runtime '{name}' is not available here: this engine runs shell, "
                                "python and nodejs actions")
    return runner


def check_runtime(name: str) -> Interpreter:
    """`runtime_deps` entry: a runtime this engine runs, with its interpreter installed."""
    runner = runner_of(name)
    found = interpreter(runner)
    if found is None:
        raise RuntimeCheckError(f"runtime '{name}' needs {_PROBES[runner][0]}, which is not "
                                "installed here (not on PATH)")
    return found


def check_runtime_version(runner: Runner, constraint: str) -> Interpreter:
    """`runtime_version` such as ">=3.9" or "3.11" (= 3.11.*) against the runner's interpreter."""
    spec = _specifier(constraint)
    found = interpreter(runner)
    what = _PROBES[runner][0]
    if found is None:
        raise RuntimeCheckError(f"runtime_version {constraint!r} cannot be checked: {what} is not "
                                "installed here (not on PATH)")
    if Version(found.version) not in spec:
        raise RuntimeCheckError(f"runtime_version {constraint!r} is not met: {what} here is "
                                f"{found.version} ({found.path})")
    return found


def _specifier(constraint: str) -> SpecifierSet:
    text = constraint.strip()
    if re.fullmatch(r"\d+(\.\d+)*", text):  # a bare version: that release line
        text = f"=={text}.*"
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise RuntimeCheckError(f"runtime_version {constraint!r} is not a version constraint "
                                "such as \">=3.9\" or \">=3.9,<4\"") from None


def version_satisfies(version: str, constraint: str) -> bool | None:
    """A pack `dependencies` constraint against a pack version; None when either is unreadable."""
    try:
        return Version(version) in _specifier(constraint)
    except (RuntimeCheckError, InvalidVersion):
        return None
