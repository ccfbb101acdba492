"""Starter: a pre-started interpreter that starts action processes on request (Linux).

Run by `warm.py` as `<python> -u _starter.py <control-fd> <worker-pid>`. Imports only the stdlib
below, so each forked child starts with fresh module state, then behaves like `python -u <script>`;
or, for an `exec` request, the child execs a program (bash, node, a cold python) instead.

Every action process goes through here because this process, and only this one, is its parent:
- the child gets its own session, then drops to the action user (`user`: [uid, gid]) before it
  touches the pack, then asks for SIGKILL should the starter die (the parent-death signal; a
  program started by `_spawn` has none, and the worker ends its group should the starter die);
- when a child exits, its process group is killed before the child is reaped: background
  processes (`sleep 300 &`) end with the action, and the group id cannot have been reused;
- when the worker goes (control socket closed, or SIGTERM from the kernel since the worker asked
  for it with the parent-death signal), every running group is killed before the starter exits.

Protocol (SOCK_SEQPACKET, one message per request): JSON {path, argv, cwd, env, user?, exec?, wait?,
rehearse?}
with four fds attached (stdin, stdout, stderr, reply socket). On the reply socket the starter sends
"pid N" once the child has its own session, then "exit N" (N < 0 = killed by signal -N).
With `wait` the process is started ahead of need (runtimes/pool.py) and a fifth fd comes along,
the write end of a "ready" pipe. A Python child takes its session and user, writes "r" there, then
blocks until "<length>\n<json {path, argv, cwd, env}>" arrives on its stdin, and only then
enters cwd, takes the environment and runs the script. With `exec` in the first request, the
program gets the pipe as fd 3 and does the same (`_waiter.js`). A Python child keeps that pipe
and writes "exit N" there as it exits (`_tell_exit`), ahead of the starter's own report.
An `exec` request without `wait` (shell, cold Python, Node.js not pooled) is started by Popen's
C code (`_spawn`) where it can be; everything else is forked (`_fork`).
"""

import atexit
import ctypes
import json
import os
import pkgutil  # noqa: F401 - runpy.run_path imports it (and typing) lazily: once here, not per child
import runpy
import select
import signal
import socket
import sys

MAX_MESSAGE = 1 << 20
SETUP_FAILED = 127  # exit status of a child that could not start the action (as a shell's)
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork

if not sys.flags.safe_path:
    del sys.path[0]  # our own directory: the child gets the script's directory instead


def main() -> None:
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGTERM, _exit_on_signal)  # before asking for it as the death signal
    signal.signal(signal.SIGHUP, _exit_on_signal)
    _die_with_parent(signal.SIGTERM, int(sys.argv[2]))
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply socket)
    try:
        _serve(ctrl, children)
    finally:
        for _pidfd, (pid, _reply) in children.items():
            _end_group(pid)
        for _pidfd, (pid, _reply) in children.items():
            os.waitpid(pid, 0)


def _exit_on_signal(signum, _frame) -> None:
    raise SystemExit(128 + signum)


def _serve(ctrl: socket.socket, children: dict) -> None:
    poller = select.poll()  # select.poll holds no fd, so forked children have nothing extra to close
    poller.register(ctrl, select.POLLIN)
    while True:
        for fd, _events in poller.poll():
            if fd != ctrl.fileno():
                pid, reply = children.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _end_group(pid)  # the leader is a zombie until reaped below: its group id is ours
                _, status = os.waitpid(pid, 0)
                _send(reply, b"exit %d" % os.waitstatus_to_exitcode(status))
                reply.close()
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ctrl, MAX_MESSAGE, 5)
            except OSError:
                return
            if not msg:
                return  # the worker closed the control socket, or died
            req = json.loads(msg)
            if len(fds) != (5 if req.get("wait") else 4):
                for extra in fds:
                    os.close(extra)
                continue
            pid, reply = _spawn(req, fds) or _fork(req, fds, ctrl, children)
            pidfd = os.pidfd_open(pid)  # a zombie can still be opened, so no race with a fast exit
            children[pidfd] = (pid, reply)
            poller.register(pidfd, select.POLLIN)
            _send(reply, b"pid %d" % pid)


def _end_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass  # the group is empty: the leader was its last member


def _die_with_parent(sig: int, parent: int) -> None:
    _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before we asked
        os._exit(1)


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass  # the worker gave up on this run (cancelled); nothing to report to


def _spawn(req: dict, fds: list[int]) -> tuple[int, socket.socket] | None:
    """Start a program now (an `exec` request not started ahead) with no Python in the child:
    Popen's C code takes the session, the user and the default signal handling between fork and
    exec, so the child writes none of our pages and its exec has less to tear down (about 1 ms
    and 2 ms of CPU less a task than `_fork`). None where `_fork` must do it, to say what went
    wrong as the action's stderr and exit status 127: a directory closed to the action user
    (Popen would enter it as us), a program that cannot start.
    It has no parent-death signal: should this starter be killed outright, the worker ends the
    group (warm.WarmProcess.wait)."""
    if not req.get("exec") or req.get("wait") or not _enterable(req["cwd"], req.get("user")):
        return None
    # Imported on the first such request, not at start: these come to the worker's own starter
    # (warm.launch), which Python actions fork from only if theirs is the same interpreter.
    import subprocess

    stdin, stdout, stderr, reply_fd = fds
    user = req.get("user")
    switch = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    try:
        proc = subprocess.Popen(req["argv"], executable=req["argv"][0], stdin=stdin, stdout=stdout,
                                stderr=stderr, cwd=req["cwd"], env=req["env"], close_fds=True,
                                start_new_session=True, **switch)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    proc.returncode = 0  # _serve reaps it by its pid: Popen's own clean-up must never try
    for fd in set((stdin, stdout, stderr)):
        os.close(fd)
    return proc.pid, socket.socket(fileno=reply_fd)


def _enterable(cwd: str, user) -> bool:
    """Whether `user` (uid, gid, no other group) may enter `cwd`: asked with those ids as the
    effective ones, and back (this process is single-threaded)."""
    if user is None:
        return os.path.isdir(cwd)
    groups = os.getgroups()
    try:
        os.setgroups([])
        os.setegid(user[1])
        os.seteuid(user[0])
    except OSError:  # not root: _fork's _become says so
        _restore_ids(groups)
        return False
    try:
        return os.path.isdir(cwd) and os.access(cwd, os.X_OK, effective_ids=True)
    finally:
        _restore_ids(groups)


def _restore_ids(groups: list[int]) -> None:
    os.seteuid(os.getuid())
    os.setegid(os.getgid())
    os.setgroups(groups)


def _fork(req: dict, fds: list[int], ctrl: socket.socket, children: dict) -> tuple[int, socket.socket]:
    stdin, stdout, stderr, reply_fd, *status = fds  # status: a waiting child's "ready" pipe
    reply = socket.socket(fileno=reply_fd)
    sync_r, sync_w = os.pipe()
    starter = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(sync_r)
            ctrl.close()
            reply.close()
            for pidfd, (_pid, other) in children.items():
                os.close(pidfd)
                other.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            os.setsid()
            os.close(sync_w)  # tells the starter the process group exists: killpg(pid) now works
            for target, fd in enumerate((stdin, stdout, stderr)):
                os.dup2(fd, target)
            for fd in set((stdin, stdout, stderr)):
                os.close(fd)
            if status and req.get("exec"):  # the program says "ready" on fd 3 itself
                if status[0] != 3:
                    os.dup2(status[0], 3)
                    os.close(status[0])
                os.set_inheritable(3, True)
            _become(req.get("user"))
            _die_with_parent(signal.SIGKILL, starter)  # after _become: a uid change clears it
            if req.get("wait") and not req.get("exec"):
                if req.get("rehearse"):
                    _rehearse()
                os.write(status[0], b"r")
                req.update(_read_request())
                _keep_for_exit(status[0])
            _enter(req["cwd"], req.get("user"))
            os.environ.clear()
            os.environ.update(req["env"])
        except BaseException as exc:  # noqa: BLE001 - nothing of the user's ran yet
            os.write(2, f"attune: could not start the action: {exc}\n".encode())
            os._exit(SETUP_FAILED)
        if req.get("exec"):
            _exec(req["argv"], req["env"])
        _run_script(req["path"], req["argv"])
    os.close(sync_w)
    for fd in (stdin, stdout, stderr, *status):
        os.close(fd)
    os.read(sync_r, 1)  # EOF once the child called setsid (or died)
    os.close(sync_r)
    return pid, reply


# A started-ahead child tells the worker its exit status on its "ready" pipe just before it exits:
# the starter learns it only once the kernel has torn the process down, ~1.5 ms later, which
# sat on every task's critical path. (fd, its identity, the pid that may write there)
_exit_pipe: tuple[int, tuple[int, int], int] | None = None


def _keep_for_exit(fd: int) -> None:
    global _exit_pipe
    os.set_inheritable(fd, False)  # a program the script runs must not hold it
    info = os.fstat(fd)
    _exit_pipe = (fd, (info.st_dev, info.st_ino), os.getpid())


def _tell_exit(code: int) -> None:
    """Say "exit N" on the ready pipe, having closed our stdio (so the worker sees EOF now, not
    after the teardown). Only the action's own process (not a fork the script made and let run
    to its end) and only while the fd is still that pipe (a script may have closed it, and
    the number been reused)."""
    if _exit_pipe is None:
        return
    fd, identity, pid = _exit_pipe
    try:
        info = os.fstat(fd)
        if os.getpid() != pid or (info.st_dev, info.st_ino) != identity:
            return
    except OSError:
        return  # closed by the script: the worker learns it from the starter
    for std in (0, 1, 2):
        try:
            os.close(std)
        except OSError:
            pass  # the script closed it already (sys.stdin.close())
    try:
        os.write(fd, b"exit %d" % code)
    except OSError:
        pass  # the worker still learns it from the starter


def _rehearse() -> None:
    """Run an empty script (and the json calls most actions make) while waiting for a task: a
    forked child's first pass through runpy, the compiler and json copies the pages it writes
    (copy-on-write), ~3 ms that would otherwise sit between the task's request and its script.
    The real run gets a fresh __main__ all the same (runpy restores sys.modules and sys.argv)."""
    try:
        runpy.run_path(os.devnull, run_name="__main__")
        json.loads(json.dumps({"a": [1, "b"]}))
    except Exception:  # noqa: BLE001 - a rehearsal; the task runs anyway
        pass


def _read_exact(length: int) -> bytes:
    data = b""
    while len(data) < length:
        chunk = os.read(0, length - len(data))
        if not chunk:
            os._exit(0)  # the worker let this waiting child go unused
        data += chunk
    return data


def _read_request() -> dict:
    """A waiting child's request, "<length>\n<json>" on its stdin, read byte by byte up to the
    length so that the action's own stdin stays in the pipe (sys.stdin has buffered nothing)."""
    line = b""
    while not line.endswith(b"\n"):
        line += _read_exact(1)
    return json.loads(_read_exact(int(line)))


def _become(user) -> None:
    if user is not None:
        uid, gid = user
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)


def _enter(cwd: str, user) -> None:
    """chdir as the action user; when refused, name the directory that stops it."""
    try:
        os.chdir(cwd)
    except PermissionError:
        raise PermissionError(_denied(cwd, user)) from None


def _denied(path: str, user) -> str:
    who = f"uid {user[0]}" if user else "this user"
    parts = os.path.abspath(path).split(os.sep)
    for i in range(2, len(parts) + 1):
        ancestor = os.sep.join(parts[:i]) or os.sep
        if not os.access(ancestor, os.X_OK):
            return f"{ancestor} is not accessible to {who} (the action user), so {path} cannot be entered"
    return f"{path} is not accessible to {who} (the action user)"


# Python ignores these at start, and an exec keeps what is ignored: a program started from here
# would see them ignored where a shell would start it with the defaults (`yes | head -1` would
# print "Broken pipe"; a writer that does not check for errors would never stop).
_RESTORED_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


def _exec(argv: list[str], env: dict) -> None:
    for signum in _RESTORED_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        os.write(2, f"attune: could not start {argv[0]}: {exc.strerror}\n".encode())
        os._exit(SETUP_FAILED)


def _run_script(path: str, argv: list[str]) -> None:
    """Run the script as `python -u path` would, then exit the child with the same status."""
    sys.argv = list(argv)
    if not sys.flags.safe_path:
        sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    code, interrupted = 0, False
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = _exit_status(exc)
    except BaseException as exc:  # noqa: BLE001 - the interpreter's top level
        _print_exception(exc, path)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    # Interpreter shutdown order: join non-daemon threads, atexit, flush stdio.
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):
            continue  # as CPython: a stream the script closed is not flushed (nor an error)
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            code = 120  # what CPython exits with when flushing stdio fails
    if interrupted:  # CPython re-raises SIGINT so the parent sees "killed by SIGINT"
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    _tell_exit(code)
    os._exit(code)


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _print_exception(exc: BaseException, path: str) -> None:
    # Drop runpy's and our frames so the traceback starts at the script, as with `python script`.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)  # the hook prints exc.__traceback__


if __name__ == "__main__":
    main()
