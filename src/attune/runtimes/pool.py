"""Processes started ahead of need (issue 13): per runtime and startup environment, a few
interpreter processes that are already started but not yet used, each blocked until a task hands
it its script, argv, cwd, environment and stdin. A Python one is a child forked by the warm starter
(`_starter.py`, `wait`); a Node.js one is `node _waiter.js` exec'd by a starter. Shell actions are
not pooled: a waiting child would be a forked Python that execs bash once its task arrives, and
that exec, with the refill, cost more (~2 ms of CPU a task, as much time) than the starter
spawning bash at once from C (`_starter._spawn`). Either way it was
started with the stdio pipes it will use (kept here until a task takes it), leads its own process
group as the action user, and has the starter as parent; so a task that takes one gets the same
process as a plain start: own pid, fresh module state, own exit code, killed as a group, gone with
the worker (spec §7). The task writes "<length>\\n<json request>" and then its parameters on stdin.

The replacement of a taken process starts when the task's process has ended (a starting Node.js
takes ~25 ms of CPU, which would otherwise compete with the task itself on a small machine),
without waiting for it. A task that finds the pool empty (its first use, a burst larger than the
pool) has one started for itself, as a plain start would. Anything that does not work out (no
starter, a pool whose processes die before use) makes `take` return None, and the task starts
its process the plain way.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attune.runtimes import warm
from attune.runtimes.isolation import RunAs, blocked, hand_over

log = logging.getLogger(__name__)

WAITER_JS = str(Path(__file__).with_name("_waiter.js"))
MAX_SIZE = 4  # idle interpreters cost memory (a node ~40 MB); a few cover a machine's cores
READY_TIMEOUT = 0.5  # the starter reports a fork within ms; a longer silence means it is stuck
BOOT_TIMEOUT = 10.0  # a node boots in ~50 ms, seconds on a loaded machine; never means it is stuck
MAX_POOLS = 8  # environments with processes waiting; the least recently used one goes first
MAX_STRIKES = 3  # takes in a row that found every waiter dead: the pool gives up on that environment


class SelfReporting:
    """A started-ahead Python or Node.js process, whose exit status comes from whichever says it
    first: the process itself, on its "ready" pipe as it exits (having closed its stdio), or the
    starter once it has reaped it. The kernel's teardown of the exited process (~1.2 ms for a
    forked Python, ~3 ms for a node) lies between the two, and used to lie on every task's
    critical path. The starter still ends the process group as the leader goes, as for any
    action (background processes do not outlive it). Where the process cannot tell (killed by a
    signal, its own os._exit, an uncaught Node.js exception), the starter's report decides."""

    def __init__(self, proc: warm.WarmProcess, status: int):
        self.pid = proc.pid
        self._proc = proc
        self._status = status

    async def wait(self) -> int | None:
        loop = asyncio.get_running_loop()
        told: asyncio.Future[None] = loop.create_future()
        loop.add_reader(self._status, _wake, told)
        starter = asyncio.ensure_future(self._proc.wait())
        try:
            try:
                either: list[asyncio.Future[Any]] = [starter, told]
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                loop.remove_reader(self._status)
            if not starter.done():
                data = os.read(self._status, 64)  # "exit N", or EOF: it died without a word
                if data.startswith(b"exit "):
                    return int(data[5:])
            return await starter
        finally:
            starter.cancel()  # its reply socket closes; the starter's late report is moot
            os.close(self._status)


@dataclass
class Taken:
    """A started process for one task: its handle and our ends of its stdin, stdout, stderr."""
    proc: warm.WarmProcess | SelfReporting
    stdin: int
    stdout: int
    stderr: int
    header: bytes  # to write on its stdin before the parameters
    refill: Callable[[], None]  # call when the task's process has ended


@dataclass
class _Waiter:
    pending: warm.Pending
    stdin: int
    stdout: int
    stderr: int
    ready: int  # read end of its "ready" pipe: "r" once it waits for its request; EOF if it died

    def close(self) -> None:
        self.pending.close()
        os.close(self.ready)
        for fd in (self.stdin, self.stdout, self.stderr):  # EOF on its stdin: it exits unused
            os.close(fd)

    async def alive(self) -> warm.WarmProcess | None:
        """Its handle once it is ready for a request (a Node.js one may still be booting: that
        is waited for); None when it died or never got that far."""
        if not await _said_ready(self.ready, BOOT_TIMEOUT):
            return None
        return await self.pending.ready(READY_TIMEOUT)  # None too if its exit is already reported


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _said_ready(fd: int, timeout: float) -> bool:
    if warm.readable(fd):  # the usual case, a waiter started well ahead: no round through the loop
        return os.read(fd, 1) == b"r"
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _wake, readable)
    try:
        await asyncio.wait_for(readable, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
    return os.read(fd, 1) == b"r"


class _Pool:
    def __init__(self, runner: str, interpreter: str, env: dict[str, str], run_as: RunAs | None):
        self.runner, self.interpreter, self.env, self.run_as = runner, interpreter, env, run_as
        self.waiters: list[_Waiter] = []
        self.strikes = 0
        self.disabled = False
        self.closed = False

    async def take(self) -> tuple[_Waiter, warm.WarmProcess] | None:
        if not self.waiters and not self.disabled and not self.closed:
            self._start()  # first use, or a burst larger than the pool: one for this task alone
        found_dead = False
        while self.waiters:
            waiter = self.waiters.pop(0)  # the oldest: the most likely to have finished starting
            try:
                proc = await waiter.alive()
            except asyncio.CancelledError:
                waiter.close()
                raise
            if proc is None:
                waiter.close()
                found_dead = True
                continue
            self.strikes = 0
            return waiter, proc
        if found_dead:
            self.strikes += 1
            if self.strikes >= MAX_STRIKES:
                log.warning("processes started ahead for %s (%s) die before use; starting them per task",
                            self.runner, self.interpreter)
                self.disabled = True
        return None

    def fill(self) -> None:
        if self.disabled or self.closed:  # closed: evicted or shut down while its task ran
            return
        while len(self.waiters) < size() and self._start():
            pass

    def _start(self) -> bool:
        (in_r, in_w), (out_r, out_w), (err_r, err_w), (ready_r, ready_w) = (os.pipe() for _ in range(4))
        theirs = (in_r, out_w, err_w, ready_w)
        user = (self.run_as.uid, self.run_as.gid) if self.run_as else None
        try:
            for fd in theirs:  # the action's: re-opening /dev/stdin, /dev/stdout (or fd 3) must work
                hand_over(fd, self.run_as)
            if self.runner == "python":
                pending = warm.start_waiting(self.interpreter, [], self.env, theirs, user=user,
                                             rehearse=True)
            else:
                pending = warm.start_waiting(sys.executable, [self.interpreter, WAITER_JS], self.env, theirs,
                                             user=user, exec_program=True)
        finally:
            for fd in theirs:  # the child has its copies; ours would hide EOF
                os.close(fd)
        if pending is None:
            for fd in (in_w, out_r, err_r, ready_r):
                os.close(fd)
            return False
        self.waiters.append(_Waiter(pending, in_w, out_r, err_r, ready_r))
        return True

    def close(self) -> None:
        self.closed = True
        while self.waiters:
            self.waiters.pop().close()


_pools: OrderedDict[tuple, _Pool] = OrderedDict()  # least recently used first
_concurrency = 100


def configure(concurrency: int) -> None:
    """Size pools from the worker's concurrency (at most MAX_SIZE each)."""
    global _concurrency
    _concurrency = max(1, concurrency)


def size() -> int:
    """ATTUNE_PROCESS_POOL when set (0 turns pools off), else min(concurrency, MAX_SIZE)."""
    setting = os.environ.get("ATTUNE_PROCESS_POOL", "").strip()
    if setting:
        try:
            return max(0, int(setting))
        except ValueError:
            log.warning("ATTUNE_PROCESS_POOL=%r is not a number; process pools are off", setting)
            return 0
    return min(_concurrency, MAX_SIZE)


async def take(runner: str, argv: list[str], cwd: str, env: dict[str, str], run_as: RunAs | None,
         warm_start: bool) -> Taken | None:
    """A waiting process for this action (argv as a plain start would run it), or None: then
    start one the plain way. Shell actions and Python actions with `warm_start: false` never pool."""
    if not _poolable(runner, warm_start, run_as) or size() == 0:
        return None
    startup = {k: v for k, v in env.items() if not k.startswith("ATTUNE_")}  # what varies per task
    key = (runner, argv[0], tuple(sorted(startup.items())), run_as)
    pool = _pools.get(key)
    if pool is None:
        pool = _pools[key] = _Pool(runner, argv[0], startup, run_as)
        if len(_pools) > MAX_POOLS:  # many pack environments: idle processes for the recent ones only
            _pools.popitem(last=False)[1].close()
    _pools.move_to_end(key)
    taken = await pool.take()
    if taken is None:
        return None
    waiter, started = taken
    # It says "exit N" on its ready pipe as it exits (`_starter._tell_exit`, `_waiter.js`).
    proc = SelfReporting(started, waiter.ready)
    # As a plain start runs it: `python -u <path>` (argv [path]) or `node <path>`.
    request = {"path": argv[-1], "argv": argv[2:] if runner == "python" else argv, "cwd": cwd, "env": env}
    body = json.dumps(request).encode()
    return Taken(proc, waiter.stdin, waiter.stdout, waiter.stderr, b"%d\n" % len(body) + body, pool.fill)


def _poolable(runner: str, warm_start: bool, run_as: RunAs | None) -> bool:
    if not warm.SUPPORTED or runner == "shell" or (runner == "python" and not warm_start):
        return False
    return runner != "nodejs" or run_as is None or _waiter_readable(run_as)


@functools.lru_cache(maxsize=4)
def _waiter_readable(run_as: RunAs) -> bool:
    why = blocked(WAITER_JS, run_as)  # e.g. installed under /root: the action user cannot read it
    if why:
        log.warning("Node.js processes are not started ahead: %s", why)
    return why is None


def shutdown() -> None:
    """Let every waiting process go (worker shutdown, tests; warm.shutdown() calls this)."""
    while _pools:
        _pools.popitem()[1].close()


warm.on_shutdown(shutdown)
