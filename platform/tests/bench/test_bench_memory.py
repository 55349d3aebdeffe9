"""Peak memory of a process tree, from /proc."""

import os
import subprocess
import sys
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
