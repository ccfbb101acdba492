"""Warm starter: a pre-started interpreter that forks action processes on request.

Run by `warm.py` as `<python> -u _starter.py <control-fd>`. Imports only the stdlib below, so each
forked child starts with fresh module state, then behaves like `python -u <script>`.

Protocol (SOCK_SEQPACKET, one message per request): JSON {path, argv, cwd, env} with four fds
attached (stdin, stdout, stderr, reply socket). On the reply socket the starter sends
"pid N" once the child has its own session, then "exit N" (N < 0 = killed by signal -N).
"""

import atexit
import json
import os
import runpy
import select
import signal
import socket
import sys

MAX_MESSAGE = 1 << 20

if not sys.flags.safe_path:
    del sys.path[0]  # our own directory: the child gets the script's directory instead


def main() -> None:
    ctrl = socket.socket(fileno=int(sys.argv[1]))
    poller = select.poll()  # select.poll holds no fd, so forked children have nothing extra to close
    poller.register(ctrl, select.POLLIN)
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, reply socket)
    while True:
        for fd, _events in poller.poll():
            if fd != ctrl.fileno():
                pid, reply = children.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, status = os.waitpid(pid, 0)
                _send(reply, b"exit %d" % os.waitstatus_to_exitcode(status))
                reply.close()
                continue
            try:
                msg, fds, _flags, _addr = socket.recv_fds(ctrl, MAX_MESSAGE, 4)
            except OSError:
                return
            if not msg:
                return  # the worker closed the control socket (or died): stop; running children go on
            if len(fds) != 4:
                for extra in fds:
                    os.close(extra)
                continue
            pid, reply = _fork(json.loads(msg), fds, ctrl, children)
            pidfd = os.pidfd_open(pid)  # a zombie can still be opened, so no race with a fast exit
            children[pidfd] = (pid, reply)
            poller.register(pidfd, select.POLLIN)
            _send(reply, b"pid %d" % pid)


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.send(data)
    except OSError:
        pass  # the worker gave up on this run (cancelled); nothing to report to


def _fork(req: dict, fds: list[int], ctrl: socket.socket, children: dict) -> tuple[int, socket.socket]:
    stdin, stdout, stderr, reply_fd = fds
    reply = socket.socket(fileno=reply_fd)
    sync_r, sync_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(sync_r)
            ctrl.close()
            reply.close()
            for pidfd, (_pid, other) in children.items():
                os.close(pidfd)
                other.close()
            os.setsid()
            os.close(sync_w)  # tells the starter the process group exists: killpg(pid) now works
            for target, fd in enumerate((stdin, stdout, stderr)):
                os.dup2(fd, target)
            for fd in set((stdin, stdout, stderr)):
                os.close(fd)
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
        except BaseException as exc:  # nothing of the user's ran yet
            os.write(2, f"attune warm starter: {exc!r}\n".encode())
            os._exit(127)
        _run_script(req["path"], req["argv"])
    os.close(sync_w)
    for fd in (stdin, stdout, stderr):
        os.close(fd)
    os.read(sync_r, 1)  # EOF once the child called setsid (or died)
    os.close(sync_r)
    return pid, reply


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
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            code = 120  # what CPython exits with when flushing stdio fails
    if interrupted:  # CPython re-raises SIGINT so the parent sees "killed by SIGINT"
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
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
