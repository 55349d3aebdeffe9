"""map_ordered: calls in flight at once, answers in item order, every call finished."""

import threading
import time

import pytest

from payroll_shared import parallel


def test_results_come_back_in_item_order_with_calls_overlapping():
    running = []
    peak = []
    lock = threading.Lock()

    def slow(n: int) -> int:
        with lock:
            running.append(n)
            peak.append(len(running))
        time.sleep(0.02 * (5 - n % 5))
        with lock:
            running.remove(n)
        return n * n

    assert parallel.map_ordered(slow, range(10), workers=4) == [n * n for n in range(10)]
    assert 1 < max(peak) <= 4


def test_every_call_runs_to_its_end_before_the_first_error_is_raised():
    done = []

    def work(n: int) -> int:
        if n == 2:
            raise ValueError("item 2")
        time.sleep(0.01)
        done.append(n)
        return n

    with pytest.raises(ValueError, match="item 2"):
        parallel.map_ordered(work, range(6), workers=3)
    assert sorted(done) == [0, 1, 3, 4, 5]


def test_one_item_or_one_worker_runs_in_the_calling_thread():
    caller = threading.get_ident()
    assert parallel.map_ordered(lambda _: threading.get_ident(), [1]) == [caller]
    assert parallel.map_ordered(lambda _: threading.get_ident(), [1, 2], workers=1) == [caller] * 2
    assert parallel.map_ordered(lambda n: n, []) == []
