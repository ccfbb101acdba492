"""Per-pack interpreter environments (spec §1, §7): a virtualenv for packs with requirements.txt,
node_modules for packs with package.json. Built once, reused; a marker file holds the hash of the
inputs so an edited requirements.txt rebuilds, and an fcntl lock stops two workers on one machine
from building the same environment at once.

A build runs the pack author's code (npm lifecycle scripts, a local package's setup.py), so it
runs as an action does: as the action user, with an action's environment, in a directory of its
own; what it built then becomes the worker's, read-only to actions. It ran as the worker (root,
with the operator token and the secret key file in reach)."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from attune.packs.python_deps import python_dependencies
from attune.runtimes.isolation import RunAs, action_environment, action_user, blocked
from attune.runtimes.models import EnvironmentInfo

READY_MARKER = ".attune-ready"
BUILD_TIMEOUT_SECONDS = 900  # pip/npm behind a slow mirror; a hung build must still end
STDERR_TAIL_CHARS = 2000


class EnvironmentBuildError(RuntimeError):
    pass


SHARED_ENV_ROOT = "/var/cache/attune/envs"


def env_root() -> Path:
    """Where virtualenvs and locks live: ATTUNE_ENV_DIR, default ~/.cache/attune/envs, or for a
    root worker /var/cache/attune/envs (its actions run as another user, who cannot enter
    /root; the environments stay root's, so no action can change what another one imports)."""
    if os.environ.get("ATTUNE_ENV_DIR"):
        return Path(os.environ["ATTUNE_ENV_DIR"])
    return Path(SHARED_ENV_ROOT) if os.geteuid() == 0 else Path.home() / ".cache" / "attune" / "envs"


_resolved_python: dict[str, str] = {}


def system_python() -> str:
    """The real interpreter behind `python3` (ATTUNE_PYTHON overrides). Resolved once: shims such as
    pyenv's add ~100 ms per spawn and would also give the warm starter a different identity.
    Actions running as another user (attune.runtimes.isolation) get the first `python3` on PATH
    that user can run: an interpreter installed under root's home (pyenv) is not one of them."""
    global _python_resolved
    run_as = action_user()
    explicit = os.environ.get("ATTUNE_PYTHON")
    candidates = [explicit] if explicit else _on_path("python3") or [sys.executable]
    refusals = []
    for candidate in candidates:
        if candidate not in _resolved_python:
            _resolved_python[candidate] = _real_interpreter(candidate)
        resolved = _resolved_python[candidate]
        why = blocked(resolved, run_as, os.X_OK) if run_as else None
        if why is None:
            _python_resolved = resolved
            return resolved
        refusals.append(f"{resolved}: {why}")
    raise EnvironmentBuildError(
        f"no python3 that the action user can run ({'; '.join(refusals)}): install one outside "
        "a private home directory, or name it in ATTUNE_PYTHON")


def _on_path(name: str) -> list[str]:
    found = []
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(directory or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK) and path not in found:
            found.append(path)
    return found


def _real_interpreter(candidate: str) -> str:
    try:
        out = subprocess.run([candidate, "-c", "import sys; print(sys.executable)"],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip() or candidate
    except (OSError, subprocess.SubprocessError):
        return candidate


_python_resolved: str | None = None


def _which(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise EnvironmentBuildError(f"`{name}` not found on PATH")
    return found


async def prepare_environment(pack_dir: str, runner: str) -> EnvironmentInfo:
    """Resolve (and on first use build) the interpreter environment of a pack. Idempotent and
    cheap once built: the fast path only reads the marker file."""
    pack = Path(pack_dir)
    if runner == "shell":
        return EnvironmentInfo(runner="shell", interpreter="/bin/bash")
    if runner == "python":
        # A subprocess on first use only; after that no thread hop on the per-action path.
        base = _python_resolved if _python_resolved is not None else await asyncio.to_thread(system_python)
        req = pack / "requirements.txt"
        extra = python_dependencies(pack)  # pack.yaml meta.python_dependencies join requirements.txt
        if not req.is_file() and not extra:
            return EnvironmentInfo(runner="python", interpreter=base)
        digest = _digest(b"python", base.encode(), *(_requirement_inputs(req) if req.is_file() else [b""]),
                         *([("\n".join(extra)).encode()] if extra else []))
        venv = env_root() / f"python-{digest[:16]}"
        built = False
        if not _ready(venv / READY_MARKER, digest):
            build = functools.partial(_build_venv, pack, base, req if req.is_file() else None, venv, extra)
            built = await asyncio.to_thread(_locked_build, venv.with_suffix(".lock"), venv / READY_MARKER,
                                            digest, build)
        bin_dir = venv / "bin"
        path = os.environ.get("PATH", "")
        return EnvironmentInfo(
            runner="python", interpreter=str(bin_dir / "python3"), env_dir=str(venv), built=built,
            # What `activate` does, so console scripts installed by requirements are found.
            extra_env={"VIRTUAL_ENV": str(venv), "PATH": f"{bin_dir}{os.pathsep}{path}" if path else str(bin_dir)},
        )
    if runner == "nodejs":
        node = _which("node")
        manifest = pack / "package.json"
        if not manifest.is_file():
            return EnvironmentInfo(runner="nodejs", interpreter=node)
        lock_file = pack / "package-lock.json"
        digest = _digest(b"nodejs", manifest.read_bytes(), lock_file.read_bytes() if lock_file.is_file() else b"")
        # In the pack itself (not a cache dir): ES modules ignore NODE_PATH and find packages only by
        # walking up from the script, so <pack>/node_modules is the one place both module kinds see.
        modules = pack / "node_modules"
        built = False
        if not _ready(modules / READY_MARKER, digest):
            if not os.access(pack, os.W_OK):  # a read-only mount (the workers' in docker-compose)
                modules, built = await _read_only_node_modules(pack, modules, digest, lock_file)
            else:
                lock = env_root() / "locks" / f"node-{_digest(str(pack.resolve()).encode())[:16]}.lock"
                built = await asyncio.to_thread(_locked_build, lock, modules / READY_MARKER, digest,
                                                functools.partial(_build_node_modules, pack, pack,
                                                                  lock_file.is_file()))
        return EnvironmentInfo(runner="nodejs", interpreter=node, env_dir=str(modules), built=built,
                               extra_env={"NODE_PATH": str(modules)})
    raise ValueError(f"unknown runner {runner!r}")


async def _read_only_node_modules(pack: Path, modules: Path, digest: str, lock_file: Path) -> tuple[Path, bool]:
    """A pack directory the worker cannot write: its own node_modules when it has one (installed
    where it was written, e.g. on the docker host: used as is), else one built under the
    environments directory from its package.json, which require() finds through NODE_PATH
    (an ES module's `import` does not look there: install into the pack for those)."""
    if modules.is_dir():
        return modules, False
    home = env_root() / f"node-{digest[:16]}"
    if _ready(home / READY_MARKER, digest):
        return home / "node_modules", False
    built = await asyncio.to_thread(_locked_build, home.with_suffix(".lock"), home / READY_MARKER, digest,
                                    functools.partial(_build_node_modules_apart, pack, home, lock_file))
    return home / "node_modules", built


def _build_node_modules_apart(pack: Path, home: Path, lock_file: Path) -> None:
    if home.exists():
        shutil.rmtree(home)  # leftovers of an interrupted build
    home.mkdir(parents=True)
    _build_node_modules(pack, home, lock_file.is_file())


_LOCAL_PACKAGE_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def _requirement_inputs(req: Path, seen: set[Path] | None = None) -> list[bytes]:
    """What a requirements file installs from, as bytes to hash: its text, the files it
    includes (`-r`, `-c`) and the build files of local packages it names (`./pkg`, `-e ./pkg`),
    so an edit to any of them rebuilds the virtualenv (only requirements.txt's own text did)."""
    seen = seen if seen is not None else set()
    req = req.resolve()
    if req in seen or len(seen) > 50 or not req.is_file():
        return []
    seen.add(req)
    parts = [req.read_bytes()]
    for line in req.read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] in ("-r", "--requirement", "-c", "--constraint"):
            parts += _requirement_inputs(req.parent / words[1], seen)
            continue
        target = words[-1] if words else ""
        if target.startswith(("./", "../", "/", "file:")):
            local = req.parent / target.removeprefix("file:")
            for name in _LOCAL_PACKAGE_FILES if local.is_dir() else ():
                if (local / name).is_file():
                    parts.append((local / name).read_bytes())
            if local.is_file():  # a wheel or an archive: its size and time stand for it
                parts.append(f"{local.stat().st_size}:{local.stat().st_mtime_ns}".encode())
    return parts


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()


def _ready(marker: Path, digest: str) -> bool:
    try:
        return marker.read_text().strip() == digest
    except OSError:
        return False


def _locked_build(lock_path: Path, marker: Path, digest: str, build) -> bool:
    """Build under an exclusive file lock; False when another process finished it meanwhile."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we crash
        if _ready(marker, digest):
            return False
        build()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(digest + "\n")  # last: a half-built environment never looks ready
        return True


def _build_venv(pack: Path, base: str, req: Path | None, venv: Path, extra: list[str]) -> None:
    if venv.exists():
        shutil.rmtree(venv)  # leftovers of an interrupted build
    run_as = action_user()
    _writable_by(venv, run_as)
    # -I: `-m` would put the pack's directory (the cwd) first on sys.path, and a `venv.py` or
    # `pip.py` there would run in place of the tool; nor do PYTHONPATH and user site-packages
    # belong in the build.
    _run(pack, "virtualenv", [base, "-I", "-m", "venv", str(venv)], cwd=pack, run_as=run_as)
    _run(pack, "pip install", [str(venv / "bin" / "python3"), "-I", "-m", "pip", "install",
                               "--disable-pip-version-check", "--no-input",
                               *(["-r", str(req)] if req else []), *extra], cwd=pack, run_as=run_as)
    _owned_by_worker(venv, run_as)


def _build_node_modules(pack: Path, where: Path, has_lock: bool) -> None:
    """npm install of the pack's package.json (and lock) in a scratch directory of the action
    user's, its node_modules then moved to `where` (the pack, or a home apart from it)."""
    run_as = action_user()
    scratch = env_root() / "builds" / f"node-{os.getpid()}-{_digest(str(where).encode())[:12]}"
    if scratch.exists():
        shutil.rmtree(scratch)
    _writable_by(scratch, run_as)
    shutil.copy2(pack / "package.json", scratch / "package.json")
    if has_lock:
        shutil.copy2(pack / "package-lock.json", scratch / "package-lock.json")
    cmd = [_which("npm"), "install", "--no-audit", "--no-fund"]
    if not has_lock:
        cmd.append("--no-package-lock")  # don't write a lock file
    try:
        _run(pack, "npm install", cmd, cwd=scratch, run_as=run_as)
        (scratch / "node_modules").mkdir(exist_ok=True)  # npm skips it when there are no dependencies
        _owned_by_worker(scratch, run_as)
        target = where / "node_modules"
        if target.exists():
            shutil.rmtree(target)  # an older build's
        shutil.move(str(scratch / "node_modules"), str(target))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _writable_by(directory: Path, run_as: RunAs | None) -> None:
    """A new, empty directory the build (run as `run_as`) writes into; only its user's."""
    directory.mkdir(parents=True, mode=0o700)
    if run_as is not None:
        os.chown(directory, run_as.uid, run_as.gid)


def _owned_by_worker(root: Path, run_as: RunAs | None) -> None:
    """What a build made becomes the worker's, readable by actions and writable by none of them:
    one pack's action must not change what another pack's actions import."""
    if run_as is None:
        return
    uid, gid = os.getuid(), os.getgid()
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, gid)
        if not path.is_symlink():
            mode = path.lstat().st_mode
            path.chmod((mode | 0o444 | (0o111 if mode & 0o100 else 0)) & ~0o022)


# The worker's settings for package managers (an index or wheel mirror, a proxy, a CA bundle)
# reach its builds; nothing else of its environment does (never an ATTUNE_ variable).
_BUILD_PREFIXES = ("PIP_", "UV_", "NPM_CONFIG_", "npm_config_")
_BUILD_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "no_proxy", "all_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS")


def _build_environment(run_as: RunAs | None) -> dict[str, str]:
    env = action_environment({}, {}, run_as)
    env.update({name: value for name, value in os.environ.items()
                if name.startswith(_BUILD_PREFIXES) or name in _BUILD_NAMES})
    return env


def _run(pack: Path, what: str, cmd: list[str], cwd: Path, run_as: RunAs | None) -> None:
    switch: dict[str, object] = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []} if run_as else {}
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL, env=_build_environment(run_as),
                              **switch)  # type: ignore[call-overload]
    except subprocess.TimeoutExpired:
        raise EnvironmentBuildError(f"pack {pack.name}: {what} timed out after {BUILD_TIMEOUT_SECONDS} s") from None
    except OSError as err:
        raise EnvironmentBuildError(f"pack {pack.name}: {what} could not start: {err}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-STDERR_TAIL_CHARS:]
        raise EnvironmentBuildError(f"pack {pack.name}: {what} failed (exit {proc.returncode}):\n{tail}")
