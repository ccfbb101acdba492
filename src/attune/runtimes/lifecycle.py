"""Processes that end with their parent, and process groups signalled as a whole.

A child started with `preexec_die_with_parent` gets a signal when its parent exits, however it
exits (SIGKILL and the OOM killer included). On Linux this is prctl(PR_SET_PDEATHSIG), which is
tied to the *thread* that forked the child, not to the process: fork only from a thread that lives
as long as the parent (the event loop's), never from a short-lived executor thread. Elsewhere the
call does nothing and the caller's other means apply (the warm starter also watches its control
socket; the stack's own Python processes poll their parent with `watch_parent`; `attune down`
stops a recorded stack).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

SUPPORTED = sys.platform.startswith("linux")
PARENT_ENV = "ATTUNE_PARENT_PID"  # set by `attune up` for the processes it starts
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if SUPPORTED else None


def die_with_parent(sig: int, parent_pid: int) -> None:
    """In a child: receive `sig` when the parent exits; exit at once if it already has (it may
    have died between the fork and this call, and then no signal would ever come)."""
    if _prctl is None:
        return
    _prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def preexec_die_with_parent(sig: int) -> Callable[[], None] | None:
    """A `preexec_fn` for Popen that applies `die_with_parent` in the child. Runs after Popen's
    user/group change (which would clear the setting). Only a libc call runs in the child, so it
    is safe in a threaded parent."""
    if _prctl is None:
        return None
    parent = os.getpid()
    return lambda: die_with_parent(sig, parent)


def signal_group(pid: int, sig: int, *, leader: bool = False) -> None:
    """Signal the process group led by `pid` (every process we start leads its own). With
    `leader` (only while the leader has not been reaped, so its pid cannot have been reused),
    fall back to the leader alone when the group is gone, e.g. it never managed to set its own
    session."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        if leader:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
    except PermissionError:
        pass


def watch_parent(sig: int = signal.SIGTERM, interval: float = 1.0) -> threading.Thread | None:
    """In a process `attune up` started (PARENT_ENV names it): signal ourselves `sig` once the
    parent is gone, i.e. once we were re-parented. The portable half of `die_with_parent`, for
    systems without prctl (macOS); on Linux it backs up the death signal at one wake-up a second.
    `sig` goes through the process's own handler, so a worker or the API stops as on Ctrl-C."""
    raw = os.environ.get(PARENT_ENV, "")
    if not raw.isdigit():
        return None
    parent = int(raw)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), sig)

    thread = threading.Thread(target=watch, name="attune-parent-watch", daemon=True)
    thread.start()
    return thread
