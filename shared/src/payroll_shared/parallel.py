"""A few independent calls in flight at once, for I/O a handler would otherwise wait on
one by one (conditional writes, payment requests).

boto3 clients and a ``requests`` session with a pool at least this large are safe to
share between the threads; each call must be independent of the others (its own item,
its own payment, its own idempotency key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Calls in flight at once: enough to hide a round trip, few enough for any pool.
WORKERS = 8


def map_ordered(function: Callable[[T], R], items: Iterable[T], workers: int = WORKERS) -> list[R]:
    """``function`` over ``items``, up to ``workers`` at once; results in item order.

    Every call runs to its end; the first exception (in item order) is then raised.
    """
    pending = list(items)
    if len(pending) <= 1 or workers <= 1:
        return [function(item) for item in pending]
    with ThreadPoolExecutor(max_workers=min(workers, len(pending))) as pool:
        futures = [pool.submit(function, item) for item in pending]
    return [future.result() for future in futures]
