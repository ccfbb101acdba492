"""Memory and CPU of process trees, from /proc (no psutil).

A sampler thread walks /proc every `interval` seconds, sums VmRSS over each watched root and its
descendants (a worker pool = the worker plus the action processes and warm starter under it) and
keeps the peak per role, overall and per labelled phase. Short-lived action processes are seen
only when a sample lands while they run, so a pool's peak is a lower bound.

CPU accounting lets each result say how busy the machine was with other people's work: machine
busy time from /proc/stat minus the CPU time of our own trees.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat(pid: int) -> tuple[int, float] | None:
    """(ppid, cpu seconds incl. reaped children) of one process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17.
    ppid = int(fields[1])
    cpu = sum(int(x) for x in fields[11:15]) / CLK_TCK
    return ppid, cpu


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def status_kb(pid: int, key: str) -> int | None:
    """A VmXXX line of /proc/<pid>/status in kB (VmHWM = the process's own peak RSS)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def process_table() -> dict[int, tuple[int, float]]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                table[int(name)] = st
    return table


def descendants(root: int, table: dict[int, tuple[int, float]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            out.append(pid)
            stack.extend(children.get(pid, ()))
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds since boot, all cores."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # guest time is already inside user/nice
    return (total - idle) / CLK_TCK, total / CLK_TCK


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


@dataclass
class Sampler:
    interval: float = 0.5
    roots: dict[str, int] = field(default_factory=dict)  # role -> root pid
    alone: set[str] = field(default_factory=set)  # roles measured without their children
    peak_kb: dict[str, int] = field(default_factory=dict)
    phase_peak_kb: dict[str, dict[str, int]] = field(default_factory=dict)
    phase: str | None = None
    samples: int = 0
    sample_cost_s: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="procmon", daemon=True)

    def watch(self, role: str, pid: int, *, tree: bool = True) -> None:
        with self._lock:
            self.roots[role] = pid
            if not tree:
                self.alone.add(role)

    def unwatch(self, role: str) -> None:
        with self._lock:
            self.roots.pop(role, None)

    def set_phase(self, phase: str | None) -> None:
        with self._lock:
            self.phase = phase
            if phase is not None:
                self.phase_peak_kb.setdefault(phase, {})

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        began = time.perf_counter()
        table = process_table()
        with self._lock:
            roots, phase, alone = dict(self.roots), self.phase, set(self.alone)
        for role, root in roots.items():
            pids = [root] if role in alone else descendants(root, table)
            rss = sum(_rss_kb(pid) for pid in pids)
            with self._lock:
                self.peak_kb[role] = max(self.peak_kb.get(role, 0), rss)
                if phase is not None:
                    bucket = self.phase_peak_kb.setdefault(phase, {})
                    bucket[role] = max(bucket.get(role, 0), rss)
        self.samples += 1
        self.sample_cost_s += time.perf_counter() - began

    def cpu_by_role(self) -> dict[str, tuple[float, float]]:
        """role -> (CPU seconds of the root process alone, of its whole tree incl. reaped children)."""
        table = process_table()
        with self._lock:
            roots = dict(self.roots)
        out = {}
        for role, root in roots.items():
            if root in table:
                with open(f"/proc/{root}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                own = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
                out[role] = (own, sum(table[p][1] for p in descendants(root, table)))
        return out

    def our_cpu(self) -> float:
        """CPU seconds used so far by every watched tree (live processes plus reaped children)."""
        table = process_table()
        with self._lock:
            roots = list(self.roots.values())
        seen: set[int] = set()
        for root in roots:
            seen.update(descendants(root, table))
        seen.add(os.getpid())
        return sum(table[pid][1] for pid in seen if pid in table)


class LoadMeter:
    """Wall time, machine busy CPU and our CPU over one measured run."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def __enter__(self) -> LoadMeter:
        self.load_before = loadavg()
        self.busy0, self.total0 = machine_cpu()
        self.ours0 = self.sampler.our_cpu()
        self.roles0 = self.sampler.cpu_by_role()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        busy1, total1 = machine_cpu()
        ours1 = self.sampler.our_cpu()
        roles1 = self.sampler.cpu_by_role()
        # CPU seconds each process used during the run: [its own, its tree's]
        self.cpu_s = {role: [round(own - self.roles0[role][0], 3), round(tree - self.roles0[role][1], 3)]
                      for role, (own, tree) in roles1.items() if role in self.roles0
                      and tree - self.roles0[role][1] >= 0.01}
        self.load_after = loadavg()
        capacity = max(total1 - self.total0, 1e-9)  # CPU seconds available (wall x cores)
        self.busy = (busy1 - self.busy0) / capacity
        self.ours = max(0.0, ours1 - self.ours0) / capacity
        self.foreign = max(0.0, self.busy - self.ours)

    def summary(self) -> dict[str, float]:
        return {"load1_before": self.load_before, "load1_after": self.load_after,
                "cpu_busy": round(self.busy, 3), "cpu_ours": round(self.ours, 3),
                "cpu_foreign": round(self.foreign, 3), "cpu_s_by_process": self.cpu_s}
