"""Peak memory and CPU time of a process and all its descendants, sampled from /proc
(Linux).

The local cloud runs in the benchmark's own process (moto, the Step Functions
executor, the pollers, the payment emulator) with the handlers in worker subprocesses,
so "the local cloud and the run together" is this process's tree. Two sums are kept:
RSS (resident set of each process, so shared pages such as the interpreter count once
per process: an upper bound) and PSS (shared pages split between their sharers: the
tree's real footprint), when ``/proc/<pid>/smaps_rollup`` is readable.

CPU time is the tree's user + system time spent inside the window (each process's
counters at its first and last sample; one born in the window counts from zero), and
the machine's own split (``/proc/stat``: busy, idle, and steal, the time a virtual
machine's host gave to others). On a shared host the same work takes more or fewer
CPU-seconds as the host's speed changes: the figures say how busy the machine was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command: ``fields[0]`` is the state (field 3)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return []
    # pid (comm) state ppid ...: comm may hold spaces and parentheses.
    return stat.rsplit(")", 1)[-1].split()


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else None


def cpu_ticks(pid: int) -> int | None:
    """User + system time of one process so far, in clock ticks (stat fields 14, 15)."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12]) if len(fields) > 12 else None


def machine_ticks() -> dict[str, int]:
    """The whole machine's CPU time so far by kind (``/proc/stat``), in clock ticks."""
    try:
        line = (PROC / "stat").read_text().splitlines()[0]
    except (OSError, IndexError):
        return {}
    values = [int(v) for v in line.split()[1:]]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    ticks = dict(zip(names, values, strict=False))
    return {
        "busy": sum(ticks.get(n, 0) for n in ("user", "nice", "system", "irq", "softirq")),
        "idle": ticks.get("idle", 0) + ticks.get("iowait", 0),
        "steal": ticks.get("steal", 0),
    }


def machine_share(before: dict[str, int], after: dict[str, int]) -> dict[str, float] | None:
    """Busy, idle and steal as percentages of the machine's time between two readings."""
    spent = {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after}
    total = sum(spent.values())
    if not before or total <= 0:
        return None
    return {f"{kind}_pct": round(100 * n / total, 1) for kind, n in spent.items()}


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant alive now."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        parent = _parent(int(entry.name))
        if parent is not None:
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _field_kb(path: Path, name: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_kb(pid: int) -> int:
    return _field_kb(PROC / str(pid) / "status", "VmRSS") or 0


def pss_kb(pid: int) -> int | None:
    return _field_kb(PROC / str(pid) / "smaps_rollup", "Pss")


@dataclass
class Sample:
    rss_kb: int
    pss_kb: int | None
    processes: int
    #: The root process alone (the local cloud: moto, the executor, pollers, emulator).
    root_rss_kb: int = 0
    #: User + system ticks of each process of the tree so far.
    cpu_ticks: dict[int, int] = field(default_factory=dict)


def sample(root: int) -> Sample:
    pids = process_tree(root)
    pss = [pss_kb(pid) for pid in pids]
    ticks = {pid: cpu_ticks(pid) for pid in pids}
    return Sample(
        rss_kb=sum(rss_kb(pid) for pid in pids),
        pss_kb=None if any(p is None for p in pss) else sum(p or 0 for p in pss),
        processes=len(pids),
        root_rss_kb=rss_kb(root),
        cpu_ticks={pid: n for pid, n in ticks.items() if n is not None},
    )


class PeakMemory:
    """Samples a process tree every ``interval_s`` in a thread; keeps the peaks, and the
    CPU time the tree and the machine spent between entering and leaving."""

    def __init__(self, root: int | None = None, interval_s: float = 0.5) -> None:
        self.root = root if root is not None else os.getpid()
        self.interval_s = interval_s
        self.available = (PROC / str(self.root) / "status").exists()
        self.peak_rss_kb = 0
        self.peak_pss_kb: int | None = None
        self.peak_processes = 0
        self.peak_root_rss_kb = 0
        self._cpu_first: dict[int, int] = {}
        self._cpu_last: dict[int, int] = {}
        self._machine_before: dict[str, int] = {}
        self._machine_after: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_once(self) -> None:
        if not self.available:
            return
        now = sample(self.root)
        with self._lock:
            first_sample = not self._cpu_last
            for pid, ticks in now.cpu_ticks.items():
                # A process first seen after the first sample was born in the window.
                self._cpu_first.setdefault(pid, ticks if first_sample else 0)
                self._cpu_last[pid] = ticks
        self.peak_rss_kb = max(self.peak_rss_kb, now.rss_kb)
        if now.pss_kb is not None:
            self.peak_pss_kb = max(self.peak_pss_kb or 0, now.pss_kb)
        self.peak_processes = max(self.peak_processes, now.processes)
        self.peak_root_rss_kb = max(self.peak_root_rss_kb, now.root_rss_kb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def __enter__(self) -> PeakMemory:
        self._machine_before = machine_ticks()
        self.sample_once()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample_once()
        self._machine_after = machine_ticks()

    @property
    def peak_rss_mb(self) -> float | None:
        return round(self.peak_rss_kb / 1024, 1) if self.available else None

    @property
    def peak_root_rss_mb(self) -> float | None:
        return round(self.peak_root_rss_kb / 1024, 1) if self.available else None

    @property
    def peak_pss_mb(self) -> float | None:
        return round(self.peak_pss_kb / 1024, 1) if self.peak_pss_kb is not None else None

    @property
    def cpu_s(self) -> float | None:
        """User + system seconds the tree spent in the window (a process that ended
        between two samples loses its time since the earlier one)."""
        if not self.available:
            return None
        with self._lock:
            ticks = sum(self._cpu_last[pid] - self._cpu_first[pid] for pid in self._cpu_last)
        return round(ticks / TICKS_PER_S, 2)

    def cpu_s_by(self, labels: Mapping[int, str]) -> dict[str, float]:
        """``cpu_s`` split by what each process is (``labels``: pid -> name; a process
        without a label counts as ``other``), most first."""
        by: dict[str, int] = {}
        with self._lock:
            for pid, last in self._cpu_last.items():
                label = labels.get(pid, "other")
                by[label] = by.get(label, 0) + last - self._cpu_first[pid]
        ordered = sorted(by.items(), key=lambda item: -item[1])
        return {label: round(ticks / TICKS_PER_S, 2) for label, ticks in ordered}

    @property
    def machine(self) -> dict[str, float] | None:
        """The machine's busy, idle and steal percentages over the window."""
        return machine_share(self._machine_before, self._machine_after)
