"""Worker side of the starter (see `_starter.py`): one long-lived interpreter per (python, startup
environment) that forks action processes. A Python action forks from the starter of its own
interpreter, saving the ~60 ms interpreter start; any other action (`exec`) forks from the
worker's own and execs its program. Either way the starter is the action's parent, which lets it
end the action's process group when the action exits or the worker dies.
A starter also starts processes ahead of need for `pool.py` (`start_waiting`): Python children
forked before their task, and Node.js waiters exec'd before theirs.
Any failure here returns None and the caller spawns normally; a dead starter is replaced on the
next request."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from attune.runtimes.lifecycle import signal_group

log = logging.getLogger(__name__)

STARTER_SCRIPT = str(Path(__file__).with_name("_starter.py"))
SUPPORTED = sys.platform.startswith("linux") and hasattr(os, "pidfd_open")
# Variables read once at interpreter start (paths, flags, stdio encoding, time zone): a starter only
# serves requests whose values match the ones it started with.
_STARTUP_PREFIXES = ("PYTHON",)
_STARTUP_NAMES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")


class WarmProcess:
    """A process forked by a starter: its pid (= its process group) and its exit status."""

    def __init__(self, pid: int, reply: socket.socket):
        self.pid = pid
        self._reply = reply

    async def wait(self) -> int | None:
        """Exit code (-N for signal N); None when the starter died before reporting it. Then
        its group is ended here: a starter killed outright could not, and what it started
        with no parent-death signal (_starter._spawn), or left in the background, still runs."""
        try:
            data = await asyncio.get_running_loop().sock_recv(self._reply, 64)
        except OSError:
            data = b""
        finally:
            self._reply.close()
        if data.startswith(b"exit "):
            return int(data[5:])
        # The group id cannot have been reused while any process of the group lives.
        signal_group(self.pid, signal.SIGKILL)
        return None


class _Starter:
    def __init__(self, python: str, env: dict[str, str]):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Forked on the event loop's thread (the parent-death signal the starter asks for is
            # tied to the thread that forked it).
            self.proc = subprocess.Popen(
                [python, "-u", STARTER_SCRIPT, str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                start_new_session=True,  # a Ctrl-C meant for the worker must not kill it mid-fork
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self.ctrl = ours

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.ctrl.close()  # EOF: the starter ends its running actions' groups and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_starters: dict[tuple, _Starter] = {}


def _key(python: str, env: dict[str, str]) -> tuple:
    startup = sorted((k, v) for k, v in env.items() if k.startswith(_STARTUP_PREFIXES) or k in _STARTUP_NAMES)
    return (python, tuple(startup))


def _starter_for(python: str, env: dict[str, str]) -> _Starter:
    key = _key(python, env)
    starter = _starters.get(key)
    if starter is None or not starter.alive():
        if starter is not None:
            log.warning("warm starter for %s died (exit %s); restarting", python, starter.proc.returncode)
            starter.ctrl.close()
        # The starter's own environment only matters to its interpreter's start-up; each child
        # gets the environment of its request.
        own = {k: v for k, v in env.items() if not k.startswith("ATTUNE_")}
        starter = _starters[key] = _Starter(python, own)
    return starter


def prewarm(python: str, env: dict[str, str] | None = None) -> None:
    """Start the starter for `python` now, so the first action does not pay for it."""
    if SUPPORTED:
        _starter_for(python, dict(os.environ) if env is None else env)


_shutdown_hooks: list[Callable[[], None]] = []


def on_shutdown(hook: Callable[[], None]) -> None:
    """Call `hook` first in `shutdown` (the pool lets its waiting processes go)."""
    _shutdown_hooks.append(hook)


def shutdown() -> None:
    """Stop every starter (worker shutdown, tests)."""
    for hook in _shutdown_hooks:
        hook()
    while _starters:
        _starters.popitem()[1].close()


def _request(python: str, path: str, argv: list[str], cwd: str, env: dict[str, str],
             stdio: tuple[int, ...], user: tuple[int, int] | None, **flags: bool) -> socket.socket | None:
    """Send one request to the starter of `python`; the reply socket, or None when it cannot."""
    if not SUPPORTED:
        return None
    try:
        starter = _starter_for(python, env)
    except OSError as err:
        log.warning("could not start warm starter for %s: %s", python, err)
        return None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        message = json.dumps({"path": path, "argv": argv, "cwd": cwd, "env": env, "user": user,
                              **flags}).encode()
        # stdin, stdout, stderr, reply socket, then a waiting process's "ready" pipe
        socket.send_fds(starter.ctrl, [message], [*stdio[:3], theirs.fileno(), *stdio[3:]])
    except OSError as err:  # starter gone, its queue full, or the message too large
        log.warning("warm start of %s failed (%s); spawning instead", path, err)
        ours.close()
        return None
    finally:
        theirs.close()
    ours.setblocking(False)
    return ours


async def launch(python: str, path: str, argv: list[str], cwd: str, env: dict[str, str],
                 stdio: tuple[int, int, int], *, user: tuple[int, int] | None = None,
                 exec_program: bool = False) -> WarmProcess | None:
    """Start an action with the given stdio fds; None = use a plain spawn. By default fork
    `path` from the starter of `python`; with `exec_program`, exec `argv` (python is then the
    starter's own interpreter, any will do). `user` = (uid, gid) the action runs as."""
    ours = _request(python, path, argv, cwd, env, stdio, user, exec=exec_program)
    if ours is None:
        return None
    reply = asyncio.ensure_future(asyncio.get_running_loop().sock_recv(ours, 64))
    try:
        data = await asyncio.shield(reply)
    except asyncio.CancelledError:
        # The fork may be under way: kill what it started rather than leave it running unwatched.
        try:
            data = await asyncio.wait_for(reply, 2)
            if data.startswith(b"pid "):
                os.killpg(int(data[4:]), signal.SIGKILL)
        except (OSError, asyncio.CancelledError, TimeoutError):
            pass
        ours.close()
        raise
    except OSError:
        data = b""
    if not data.startswith(b"pid "):
        # Starter died before forking: nothing ran, so spawning now cannot run the action twice.
        log.warning("warm starter for %s did not fork %s; spawning instead", python, path)
        ours.close()
        return None
    return WarmProcess(int(data[4:]), ours)


class Pending:
    """A process the starter is starting ahead of need (`start_waiting`): forked, or about to be,
    and then blocked until its request arrives on its stdin."""

    def __init__(self, reply: socket.socket):
        self._reply = reply
        self.pid: int | None = None

    async def ready(self, timeout: float) -> WarmProcess | None:
        """The started process once the starter reports it (within `timeout`), if it is still
        alive; None otherwise (this Pending is then closed)."""
        if self.pid is None:
            try:
                if readable(self._reply):  # reported long ago, as a pool's waiters usually are
                    data = self._reply.recv(64)
                else:
                    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self._reply, 64),
                                                  timeout)
            except (OSError, TimeoutError):
                data = b""
            self.pid = int(data[4:]) if data.startswith(b"pid ") else None
        if self.pid is None or readable(self._reply):  # no pid, or its exit is already reported
            self.close()
            return None
        return WarmProcess(self.pid, self._reply)

    def close(self) -> None:
        """Let it go: the caller closes its stdin, upon which it exits; the starter reaps it."""
        self._reply.close()


def readable(source: socket.socket | int) -> bool:
    """Whether a read would not block now (data, EOF or an error waiting)."""
    poller = select.poll()
    poller.register(source, select.POLLIN)
    return bool(poller.poll(0))


def start_waiting(python: str, argv: list[str], env: dict[str, str], fds: tuple[int, int, int, int], *,
                  user: tuple[int, int] | None = None, exec_program: bool = False,
                  rehearse: bool = False) -> Pending | None:
    """Ask for a process that waits for its request on stdin (see `_starter.py`), without waiting
    for the fork: a Python child of the starter of `python`, or with `exec_program` the program
    `argv` (a Node.js waiter). `fds`: its stdin, stdout, stderr and the write end of its "ready"
    pipe. `rehearse`: a Python child runs an empty script before it says ready (see
    `_starter._rehearse`). None when there is no starter to ask."""
    ours = _request(python, "", argv, "/", env, fds, user, exec=exec_program, wait=True,
                    rehearse=rehearse)
    return None if ours is None else Pending(ours)
