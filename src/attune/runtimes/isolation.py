"""Who an action process runs as, and the environment it gets (spec §7). One place for both.

A worker running as root (as in the containers) runs actions as an unprivileged user,
`ATTUNE_ACTION_USER` (default `attune-action`, created by the Dockerfile and `make install`), as
StackStorm runs them as `stanley`: they then cannot read the secret key file, the state
directory, the worker's environment or memory. `ATTUNE_ACTION_USER=root` keeps them root,
deliberately. A worker that is not root runs actions as its own user (see the README for what
holds then).

The environment is built from nothing: the documented `ATTUNE_*` variables, PATH, HOME, LANG,
LC_ALL and TZ, and the pack environment's variables (VIRTUAL_ENV and PATH of its virtualenv,
NODE_PATH of its node_modules), plus what the operator names in ATTUNE_ACTION_ENV (a proxy,
a CA bundle). Nothing else of the worker's (ATTUNE_SECRET_KEY, ATTUNE_DATABASE_URL,
ATTUNE_STATE_DIR, ...) reaches an action.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import re
import stat
from dataclasses import dataclass

log = logging.getLogger(__name__)

ACTION_USER_DEFAULT = "attune-action"
# Taken from the worker when set there: what a program needs to find commands and read text.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ")
# More of the worker's variables its actions get, named by the operator (Settings.action_env):
# e.g. a proxy (HTTPS_PROXY, NO_PROXY) or a CA bundle (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS). Read
# here, as the process pool reads ATTUNE_PROCESS_POOL: a worker's actions do not see Settings.
ACTION_ENV = "ATTUNE_ACTION_ENV"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class IsolationError(RuntimeError):
    """The action user is missing or unusable: every action fails with this message."""


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    home: str


def action_user() -> RunAs | None:
    """The user actions run as, or None to keep the worker's own (when it is not root, or when
    ATTUNE_ACTION_USER=root says so)."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("ATTUNE_ACTION_USER") or ACTION_USER_DEFAULT
    return None if name == "root" else _lookup(name)


@functools.lru_cache(maxsize=8)
def _lookup(name: str) -> RunAs:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise IsolationError(
            f"the action user {name!r} does not exist: this worker runs as root and runs actions "
            f"as an unprivileged user; create it (`useradd --system --create-home {name}`, or "
            "`make action-user`) or name another one in ATTUNE_ACTION_USER") from None
    if entry.pw_uid == 0:
        raise IsolationError(f"the action user {name!r} has uid 0; set ATTUNE_ACTION_USER=root "
                             "to run actions as root on purpose")
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def action_environment(documented: dict[str, str], pack_env: dict[str, str],
                       run_as: RunAs | None) -> dict[str, str]:
    """The whole environment of one action process."""
    env = {name: os.environ[name] for name in (*PASSED_THROUGH, *extra_names()) if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env["HOME"] = run_as.home if run_as else _own_home()
    env.update(pack_env)
    env.update(documented)
    if run_as is not None:
        env["PATH"] = _usable_path(env["PATH"], _own_home())
    return env


@functools.lru_cache(maxsize=32)
def _usable_path(path: str, worker_home: str) -> str:
    """PATH for an action run as another user: without the worker's home (root's pyenv shims,
    ~/.cargo/bin: that user cannot enter it) and without repeats."""
    home = os.path.normpath(worker_home)
    kept = [entry for entry in dict.fromkeys(path.split(os.pathsep))
            if entry and os.path.normpath(entry) != home and not os.path.normpath(entry).startswith(home + os.sep)]
    return os.pathsep.join(kept) or os.defpath


def extra_names() -> tuple[str, ...]:
    """The names in ATTUNE_ACTION_ENV (commas or spaces between them). Never an ATTUNE_ one: the
    worker's own settings (its secret key, its database) are not for actions, and the documented
    ones are set per task."""
    return _parse_names(os.environ.get(ACTION_ENV, ""))


@functools.lru_cache(maxsize=8)
def _parse_names(setting: str) -> tuple[str, ...]:
    names = []
    for name in setting.replace(",", " ").split():
        if not _NAME.fullmatch(name):
            log.warning("%s: %r is not an environment variable name; ignored", ACTION_ENV, name)
        elif name.upper().startswith("ATTUNE_"):
            log.warning("%s: %s is not passed to actions (no ATTUNE_ variable of the worker is)",
                        ACTION_ENV, name)
        else:
            names.append(name)
    return tuple(names)


def _own_home() -> str:
    return os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir


def hand_over(fd: int, run_as: RunAs | None) -> None:
    """Make a file or pipe the worker created (a parameter file, mode 0600; the stdio pipes)
    the action user's."""
    if run_as is not None:
        os.fchown(fd, run_as.uid, run_as.gid)


def blocked(path: str, run_as: RunAs, want: int = os.R_OK) -> str | None:
    """Why `run_as` (with its primary group only, as actions run) cannot use `path`: the first
    directory it cannot enter, or the file itself; None when it can. Judged by permission bits
    (an ACL granting more is not seen), to pick an interpreter and explain a refusal."""
    real = os.path.realpath(path)
    parts = real.split(os.sep)
    for i in range(1, len(parts)):
        directory = os.sep.join(parts[:i]) or os.sep
        if not _allowed(directory, run_as, os.X_OK):
            return f"{directory} cannot be entered by {run_as.name}"
    if not _allowed(real, run_as, want):
        return f"{real} is not {'executable' if want == os.X_OK else 'readable'} by {run_as.name}"
    return None


def _allowed(path: str, run_as: RunAs, want: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_uid == run_as.uid:
        shift = 6
    elif st.st_gid == run_as.gid:
        shift = 3
    else:
        shift = 0
    need = (stat.S_IXOTH if want == os.X_OK else stat.S_IROTH)
    return bool((st.st_mode >> shift) & need)
