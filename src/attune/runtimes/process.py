"""Run one action process (spec §7): interpreter per runner, parameters on stdin or in a file,
capped output capture, timeout and cancellation that kill the whole process group, which also
ends when the action's main process exits (a background `sleep 300 &` does not outlive it)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from attune.runtimes import pool, warm
from attune.runtimes.environments import EnvironmentBuildError, prepare_environment
from attune.runtimes.isolation import IsolationError, RunAs, action_environment, action_user, hand_over
from attune.runtimes.lifecycle import preexec_die_with_parent, signal_group
from attune.runtimes.models import ProcessRequest, ProcessResult
from attune.runtimes.output import (
    OutputParseError,
    ParameterFormatError,
    encode_parameters,
    failure_line,
    logged_before,
    parse_output,
)
from attune.runtimes.safety import (
    DATA_CAP_BYTES,
    MAX_DATA_DEPTH,
    OutputLimitError,
    cap_error,
    cap_text,
    plain_data,
)

log = logging.getLogger(__name__)

OUTPUT_CAP_BYTES = 256 * 1024  # per stream; results stay far below Temporal's 2 MB payload limit
# stdout that is parsed (json, yaml, jsonl) is read whole up to this: the parsed data may be up to
# DATA_CAP_BYTES once encoded, and pretty-printed JSON or YAML takes more bytes than that. Once
# parsed, the text itself is not kept. (Cut at OUTPUT_CAP_BYTES, a 300 KiB JSON result could
# never parse, and failed as a syntax error.)
PARSED_CAP_BYTES = 4 * DATA_CAP_BYTES
KILL_GRACE_SECONDS = 5.0  # SIGTERM first; SIGKILL the group if it is still alive after this
# After the process exits, a background child that inherited stdout may keep the pipe open forever;
# read what arrives within this window, then stop waiting for EOF.
OUTPUT_DRAIN_SECONDS = 1.0
_PARAM_SUFFIX = {"json": ".json", "yaml": ".yaml", "dotenv": ".env"}


class _Rejected(Exception):
    """A request that cannot run; becomes a failed result, not an exception."""


class NotOnThisWorker(Exception):
    """This worker lacks the pack's files the request names, which were there when the pack
    was registered: a worker set up on another host, or with an older copy. Another worker of
    the pool may have them (engine/activities.py hands the task back to Temporal)."""


async def run_process(req: ProcessRequest, heartbeat: Callable[[], None] | None = None,
                      heartbeat_interval: float = 1.0) -> ProcessResult:
    started = time.monotonic()
    log.debug("running %s (execution %s) with %s", req.action_ref, req.execution_id, req.redacted_parameters())
    beat = asyncio.create_task(_heartbeat(heartbeat, heartbeat_interval)) if heartbeat else None
    try:
        return await _run(req, started)
    except _Rejected as err:
        return ProcessResult(succeeded=False, exit_code=None, duration_ms=_ms(started), error=str(err))
    finally:
        if beat:
            beat.cancel()


async def _heartbeat(callback: Callable[[], None], interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            callback()
        except Exception:  # a failing heartbeat must not abandon a running process
            log.warning("heartbeat callback failed", exc_info=True)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _entry_path(req: ProcessRequest) -> str:
    """<pack>/actions/<entry_point>, refusing anything that could point elsewhere (spec §1)."""
    if not req.pack_dir:  # a pack created through the API, never given its files
        raise _Rejected(f"pack '{req.pack_ref}' has no directory (it was created through the API): "
                        "register the pack's directory (POST /packs/register, `attune pack register`) "
                        "to run its script actions")
    if not os.path.isabs(req.pack_dir) or not os.path.isdir(req.pack_dir):
        raise NotOnThisWorker(f"pack directory not found: {req.pack_dir}")
    entry = req.entry_point
    if not entry or os.path.isabs(entry) or ".." in PurePosixPath(entry).parts:
        raise _Rejected(f"invalid entry_point {entry!r}: must be a relative path inside actions/ without '..'")
    # Resolved once: a pack registered through a symlink re-pointed meanwhile (a new release)
    # runs from one release, and the checks are against the pack itself, as registration's are.
    root = os.path.realpath(req.pack_dir)
    actions = os.path.realpath(os.path.join(root, "actions"))
    if os.path.commonpath([actions, root]) != root:  # actions/ itself a symlink out of the pack
        raise _Rejected(f"'entry_point' resolves outside the pack: {entry} (actions/ is a symlink "
                        f"to {actions})")
    path = os.path.normpath(os.path.join(root, "actions", entry))
    real = os.path.realpath(path)
    if os.path.commonpath([real, actions]) != actions:
        raise _Rejected(f"invalid entry_point {entry!r}: resolves outside {actions}")
    if not os.path.isfile(real):
        raise NotOnThisWorker(f"entry point not found: {path}")
    return path


async def _run(req: ProcessRequest, started: float) -> ProcessResult:
    path = _entry_path(req)
    try:
        run_as = action_user()
        envinfo = await prepare_environment(req.pack_dir, req.runner)
    except (IsolationError, EnvironmentBuildError) as err:
        raise _Rejected(str(err)) from None
    argv = [envinfo.interpreter, "-u", path] if req.runner == "python" else [envinfo.interpreter, path]
    documented = {
        # The execution id (spec §7), or empty when none could be had (no API, or it did not
        # answer: the worker's log says so): never the attempt key, which no route takes as an id.
        "ATTUNE_EXEC_ID": str(req.record_id or ""), "ATTUNE_ACTION": req.action_ref,
        "ATTUNE_PACK_REF": req.pack_ref,
        "ATTUNE_API_URL": req.api_url, "ATTUNE_PARAMETER_DELIVERY": req.parameter_delivery,
        "ATTUNE_PARAMETER_FORMAT": req.parameter_format, "ATTUNE_EXECUTION_KEY": req.execution_id,
    }
    if req.api_token:
        documented["ATTUNE_API_TOKEN"] = req.api_token
    try:
        payload = encode_parameters(req.parameters, req.parameter_format)
    except ParameterFormatError as err:
        raise _Rejected(str(err)) from None
    param_file = None
    if req.parameter_delivery == "file":
        fd, param_file = tempfile.mkstemp(prefix="attune-params-", suffix=_PARAM_SUFFIX[req.parameter_format])
        with os.fdopen(fd, "wb") as f:  # mkstemp: mode 0600, so only the action user may read it
            hand_over(f.fileno(), run_as)
            f.write(payload)
        documented["ATTUNE_PARAMETER_FILE"] = param_file
        payload = b""
    env = action_environment(documented, envinfo.extra_env, run_as)
    try:
        return await _execute(req, argv, env, payload, started, run_as)
    finally:
        if param_file:
            try:
                os.unlink(param_file)
            except FileNotFoundError:
                pass


class _Spawned:
    """A plain spawn (no starter: not Linux, or the starter failed)."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.pid = proc.pid
        self._proc = proc

    async def wait(self) -> int | None:
        code = await self._proc.wait()
        signal_group(self.pid, signal.SIGKILL)  # what the action left running in its group
        return code


async def _launch(req: ProcessRequest, argv: list[str], env: dict[str, str], stdio: tuple[int, int, int],
                  run_as: RunAs | None):
    user = (run_as.uid, run_as.gid) if run_as else None
    if req.runner == "python" and req.warm:
        proc = await warm.launch(argv[0], argv[-1], argv[2:], req.pack_dir, env, stdio, user=user)
    else:
        proc = await warm.launch(sys.executable, argv[0], argv, req.pack_dir, env, stdio, user=user,
                                 exec_program=True)
    if proc is not None:
        return proc
    switch: dict[str, Any] = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []} if run_as else {}
    try:
        return _Spawned(await asyncio.create_subprocess_exec(
            *argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], cwd=req.pack_dir, env=env,
            start_new_session=True, preexec_fn=preexec_die_with_parent(signal.SIGKILL), **switch))
    except OSError as err:
        raise _Rejected(f"could not start {argv[0]}: {err}") from None


async def _start(req: ProcessRequest, argv: list[str], env: dict[str, str],
                 run_as: RunAs | None) -> tuple[Any, int, int, int]:
    """Start the process now (no waiting one to take): its handle and our ends of its stdio."""
    (in_r, in_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
    for fd in (in_r, out_w, err_w):  # the action's: re-opening /dev/stdin or /dev/stdout must work
        hand_over(fd, run_as)
    try:
        proc = await _launch(req, argv, env, (in_r, out_w, err_w), run_as)
    except BaseException:
        for fd in (in_w, out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):  # the child has its copies; ours would hide EOF
            os.close(fd)
    return proc, in_w, out_r, err_r


async def _execute(req: ProcessRequest, argv: list[str], env: dict[str, str], payload: bytes,
                   started: float, run_as: RunAs | None) -> ProcessResult:
    taken = await pool.take(req.runner, argv, req.pack_dir, env, run_as, req.warm)
    if taken is not None:  # started ahead of need: it reads its request, then the parameters
        proc, in_w, out_r, err_r = taken.proc, taken.stdin, taken.stdout, taken.stderr
        payload = taken.header + payload
    else:
        proc, in_w, out_r, err_r = await _start(req, argv, env, run_as)
    # File objects rather than bare fds: should a task be cancelled before it starts, the garbage
    # collector still closes its pipe.
    stdin = os.fdopen(in_w, "wb", buffering=0)
    stdout, stderr = os.fdopen(out_r, "rb", buffering=0), os.fdopen(err_r, "rb", buffering=0)
    out = _Capture(OUTPUT_CAP_BYTES if req.output_format == "text" else PARSED_CAP_BYTES)
    err = _Capture(OUTPUT_CAP_BYTES, tail=True)
    tasks = [asyncio.create_task(_feed(stdin, payload)), asyncio.create_task(out.read(stdout)),
             asyncio.create_task(err.read(stderr))]
    waiter = asyncio.ensure_future(proc.wait())
    timed_out = False
    try:
        try:
            exit_code = await asyncio.wait_for(asyncio.shield(waiter), req.timeout_seconds)
        except TimeoutError:
            timed_out = True
            exit_code = await _terminate(proc.pid, waiter)
        await asyncio.wait(tasks[1:], timeout=OUTPUT_DRAIN_SECONDS)
    except asyncio.CancelledError:
        killer = asyncio.ensure_future(_terminate(proc.pid, waiter))
        try:
            exit_code = await asyncio.shield(killer)
            await asyncio.wait(tasks[1:], timeout=OUTPUT_DRAIN_SECONDS)
        except asyncio.CancelledError:  # cancelled again: the kill goes on alone
            raise
        # What it printed before and while it was stopped (its TERM handler's cleanup, its exit
        # code) goes with the cancellation: nothing it wrote is lost.
        raise ProcessCancelled(_result(req, started, exit_code, False, out, err, cancelled=True)) from None
    finally:
        for task in tasks:
            task.cancel()
        if taken is not None:  # after the result is on its way, not before it
            asyncio.get_running_loop().call_soon(taken.refill)
    if exit_code is None and not timed_out:
        raise ProcessLost(_result(req, started, exit_code, timed_out, out, err))
    return _result(req, started, exit_code, timed_out, out, err)


async def _terminate(pid: int, waiter: asyncio.Future) -> int | None:
    signal_group(pid, signal.SIGTERM, leader=not waiter.done())
    try:
        code = await asyncio.wait_for(asyncio.shield(waiter), KILL_GRACE_SECONDS)
    except TimeoutError:
        signal_group(pid, signal.SIGKILL, leader=True)
        code = await waiter
    signal_group(pid, signal.SIGKILL)  # members that outlived the leader (ignored TERM, or slower)
    return code


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _feed(pipe: BinaryIO, data: bytes) -> None:
    """Write the parameters to stdin without blocking the loop, then close it (EOF)."""
    loop = asyncio.get_running_loop()
    view, fd = memoryview(data), pipe.fileno()
    try:
        os.set_blocking(fd, False)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(fd, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(fd)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the process exited or closed stdin without reading everything: its choice
    finally:
        pipe.close()


class _Capture:
    """Reads a pipe to EOF, keeping `cap` bytes of it: the first ones, or with `tail` the last
    ones (stderr: a failure's reason is its last line, after whatever noise came first);
    draining the rest keeps the writer from blocking on a full pipe."""

    def __init__(self, cap: int, *, tail: bool = False) -> None:
        self.cap = cap
        self.tail = tail
        self.data = bytearray()
        self.truncated = False
        self.total = 0  # bytes read, kept or not

    async def read(self, pipe: BinaryIO) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        try:
            while chunk := await reader.read(65536):
                self.total += len(chunk)
                room = self.cap - len(self.data)
                if len(chunk) > room:
                    self.truncated = True
                if self.tail:
                    self.data += chunk
                    del self.data[:max(len(self.data) - self.cap, 0)]
                elif room > 0:
                    self.data += chunk[:room]
        finally:
            transport.close()

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class ProcessLost(Exception):
    """The process launcher died before it could report how the process ended (killed, out of
    memory): an infrastructure failure, not the action's. `result`: what it printed."""

    def __init__(self, result: ProcessResult) -> None:
        super().__init__("the process launcher died before reporting how the action ended")
        self.result = result


class ProcessCancelled(asyncio.CancelledError):
    """The task was cancelled; its process was stopped. `result`: what it printed, its exit."""

    def __init__(self, result: ProcessResult) -> None:
        super().__init__("Cancelled")
        self.result = result


def _result(req: ProcessRequest, started: float, exit_code: int | None, timed_out: bool,
            out: _Capture, err: _Capture, cancelled: bool = False) -> ProcessResult:
    """The result, made safe to leave the worker (attune.runtimes.safety): caps counted on the
    JSON-encoded text, invalid text replaced, parsed data plain and bounded."""
    (stdout_text, out_cut), (stderr, err_cut) = cap_text(out.text()), cap_text(err.text(), tail=True)
    stdout: str | None = stdout_text
    data, error, unparsed = None, None, None
    succeeded = exit_code == 0 and not timed_out
    if cancelled:
        succeeded, error = False, "Cancelled"
    elif timed_out:
        error = f"Timed out after {req.timeout_seconds:g} s"
    elif exit_code is None:
        error = "the process launcher died before reporting how the action ended"
    elif exit_code != 0:
        error = failure_line(stderr, req.runner) or f"Command exited with code {exit_code}"
    elif req.output_format != "text" and out.truncated:
        succeeded = False
        error = (f"stdout is over {out.cap:,} bytes, more than is read to parse it as "
                 f"{req.output_format}; the parsed output may be at most {DATA_CAP_BYTES:,} bytes "
                 "(pass large data by reference: a file path or a URL)")
    elif req.output_format != "text":
        try:
            data = plain_data(parse_output(out.text(), req.output_format), req.output_format)
            # Only the data is kept, unless the result was the last line after a log: the log
            # is kept as stdout (capped as text), as StackStorm keeps it beside the result.
            logged = logged_before(out.text(), req.output_format)
            stdout, out_cut = cap_text(logged) if logged else (None, False)
        except OutputParseError as parse_err:  # exit 0 is success: the text stays as stdout
            unparsed = None if not out.text().strip() else cap_error(str(parse_err))
        except OutputLimitError as limit:
            succeeded, error = False, str(limit)
        except RecursionError:  # the parsers recurse per nesting level
            succeeded, error = False, f"the output is nested too deeply to parse (limit {MAX_DATA_DEPTH} levels)"
    log.debug("%s (execution %s) exit %s in %d ms", req.action_ref, req.execution_id, exit_code, _ms(started))
    out_short, err_short = stdout is not None and (out.truncated or out_cut), err.truncated or err_cut
    return ProcessResult(
        succeeded=succeeded, exit_code=exit_code, duration_ms=_ms(started), stdout=stdout, stderr=stderr,
        data=data, error=cap_error(error), parse_error=unparsed,
        stdout_truncated=out_short, stderr_truncated=err_short, timed_out=timed_out, cancelled=cancelled,
        stdout_bytes=out.total if out_short else None, stderr_bytes=err.total if err_short else None,
    )
