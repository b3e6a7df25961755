"""Random streams: one independent NumPy generator per (seed, purpose, block).

Why: the content of every file must be a function of the config alone. Deriving each block's generator
from the seed and the block index (never from a shared generator) keeps a block's draws the same whatever
thread runs it and however blocks are grouped into files.
"""

from __future__ import annotations

import numpy as np

#: Purposes of the streams (the ``stream`` argument of :func:`block_rng`).
STREAM_SCHEDULE, STREAM_CONSUMERS, STREAM_COURIERS = 0, 1, 2


def block_rng(seed: int, stream: int, block: int) -> np.random.Generator:
    """Independent stream per (seed, purpose, block): the same users always get the same draws."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream, block)))
