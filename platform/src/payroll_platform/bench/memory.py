"""Peak memory of a process and all its descendants, sampled from /proc (Linux).

The local cloud runs in the benchmark's own process (moto, the Step Functions
executor, the pollers, the payment emulator) with the handlers in worker subprocesses,
so "the local cloud and the run together" is this process's tree. Two sums are kept:
RSS (resident set of each process, so shared pages such as the interpreter count once
per process: an upper bound) and PSS (shared pages split between their sharers: the
tree's real footprint), when ``/proc/<pid>/smaps_rollup`` is readable.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _parent(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # pid (comm) state ppid ...: comm may hold spaces and parentheses.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


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


def sample(root: int) -> Sample:
    pids = process_tree(root)
    pss = [pss_kb(pid) for pid in pids]
    return Sample(
        rss_kb=sum(rss_kb(pid) for pid in pids),
        pss_kb=None if any(p is None for p in pss) else sum(p or 0 for p in pss),
        processes=len(pids),
        root_rss_kb=rss_kb(root),
    )


class PeakMemory:
    """Samples a process tree every ``interval_s`` in a thread; keeps the peaks."""

    def __init__(self, root: int | None = None, interval_s: float = 0.5) -> None:
        self.root = root if root is not None else os.getpid()
        self.interval_s = interval_s
        self.available = (PROC / str(self.root) / "status").exists()
        self.peak_rss_kb = 0
        self.peak_pss_kb: int | None = None
        self.peak_processes = 0
        self.peak_root_rss_kb = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_once(self) -> None:
        if not self.available:
            return
        now = sample(self.root)
        self.peak_rss_kb = max(self.peak_rss_kb, now.rss_kb)
        if now.pss_kb is not None:
            self.peak_pss_kb = max(self.peak_pss_kb or 0, now.pss_kb)
        self.peak_processes = max(self.peak_processes, now.processes)
        self.peak_root_rss_kb = max(self.peak_root_rss_kb, now.root_rss_kb)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def __enter__(self) -> PeakMemory:
        self.sample_once()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sample_once()

    @property
    def peak_rss_mb(self) -> float | None:
        return round(self.peak_rss_kb / 1024, 1) if self.available else None

    @property
    def peak_root_rss_mb(self) -> float | None:
        return round(self.peak_root_rss_kb / 1024, 1) if self.available else None

    @property
    def peak_pss_mb(self) -> float | None:
        return round(self.peak_pss_kb / 1024, 1) if self.peak_pss_kb is not None else None
