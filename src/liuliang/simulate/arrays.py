"""NumPy → Arrow column builders: ids, nullable timestamps and floats, decoded categories.

Why: blocks are simulated as NumPy arrays and written as Arrow tables. These helpers convert whole arrays
in Arrow compute (never a Python loop per row) and share one null convention (:data:`NULL_TS`, NaN).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from liuliang.simulate.schemas import TIMESTAMP_UTC

#: Sentinel for a null timestamp in int64 microsecond arrays.
NULL_TS = np.iinfo(np.int64).min


def id_strings(prefix: str, first: int, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded integers ``first .. first+n-1``, built in Arrow (no Python loop)."""
    nums = pc.cast(pa.array(np.arange(first, first + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width=width, padding="0"), "")


def ts_array(us: np.ndarray) -> pa.Array:
    """int64 UTC microseconds (``NULL_TS`` for null) → Arrow ``timestamp[us, UTC]``."""
    us = np.asarray(us, dtype=np.int64)
    mask = us == NULL_TS
    return pa.array(us, type=pa.int64(), mask=mask if mask.any() else None).cast(TIMESTAMP_UTC)


def float_array(x: np.ndarray) -> pa.Array:
    """float64 with NaN → null."""
    x = np.asarray(x, dtype=np.float64)
    mask = np.isnan(x)
    return pa.array(x, type=pa.float64(), mask=mask if mask.any() else None)


def decode(names: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(names, type=pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))
    """Integer ``codes`` → their ``names`` (``names[code]``), as an Arrow string array."""
