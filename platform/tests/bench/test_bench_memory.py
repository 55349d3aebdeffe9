"""Peak memory of a process tree, from /proc."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from payroll_platform.bench.memory import PeakMemory, process_tree, sample

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def test_the_tree_holds_children_and_their_memory():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in process_tree(os.getpid())
        now = sample(os.getpid())
        assert now.processes >= 2
        assert now.rss_kb > now.root_rss_kb > 0
        with PeakMemory(interval_s=0.05) as memory:
            pass
        assert memory.peak_processes >= 2
        assert memory.peak_rss_mb and memory.peak_rss_mb > 1
        assert memory.peak_root_rss_mb and 1 < memory.peak_root_rss_mb < memory.peak_rss_mb
    finally:
        child.kill()
        child.wait()


def test_cpu_time_of_the_tree_and_the_machine_in_the_window():
    spin = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    with PeakMemory(interval_s=0.05) as meter:
        # Born in the window: all of its CPU time counts.
        subprocess.run([sys.executable, "-c", spin + "\ntime.sleep(0.3)"], check=False)
    # It ended in the window: counted up to its last sample (at most 0.05 s before the
    # 0.3 s sleep began), its time spinning included.
    assert meter.cpu_s is not None and meter.cpu_s >= 0.4
    share = meter.machine
    assert share is not None
    assert set(share) == {"busy_pct", "idle_pct", "steal_pct"}
    assert sum(share.values()) == pytest.approx(100, abs=0.5)
    assert share["busy_pct"] > 0


def test_cpu_time_split_by_what_each_process_is():
    spin = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass"
    with PeakMemory(interval_s=0.05) as meter:
        child = subprocess.Popen([sys.executable, "-c", spin + "\ntime.sleep(0.3)"])
        child.wait()
    by = meter.cpu_s_by({child.pid: "spinner"})
    assert by["spinner"] >= 0.4
    assert set(by) <= {"spinner", "other"}  # this process has no label: "other"
    assert next(iter(by)) == "spinner"  # most first
    assert sum(by.values()) == pytest.approx(meter.cpu_s, abs=0.02)


def test_cpu_time_before_the_window_does_not_count():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time\nend = time.process_time() + 0.5\n"
         "while time.process_time() < end: pass\ntime.sleep(30)"]
    )  # fmt: skip
    try:
        time.sleep(1.0)  # it spun before the window, and sleeps through it
        with PeakMemory(interval_s=0.05) as meter:
            time.sleep(0.2)
        assert meter.cpu_s is not None and meter.cpu_s < 0.2
    finally:
        child.kill()
        child.wait()
