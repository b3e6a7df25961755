"""Work in fixed-size blocks: the blocks' index ranges, and an ordered, bounded map over a thread pool.

Why: memory is bounded by a block whatever the world's size, and files are written in block order so
their content never depends on scheduling.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def block_ranges(n: int, size: int) -> Iterator[tuple[int, int, int]]:
    """``(block, first, stop)`` of each block of ``size`` items out of ``n``; the last block may be short."""
    for b in range(math.ceil(n / size)):
        yield b, b * size, min((b + 1) * size, n)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], pool: ThreadPoolExecutor, ahead: int) -> Iterator[R]:
    """``map(fn, items)`` on a thread pool, results in input order, at most ``ahead`` blocks in flight.

    Why threads: NumPy and Arrow release the GIL for the heavy work, so the next block is simulated while
    the current one is encoded to Parquet. Why ordered and bounded: files are written in block order
    (determinism) and memory stays at a few blocks.
    """
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
