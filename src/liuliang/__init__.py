"""liuliang (留量): did the subsidy buy habits, or only visits?

The pipeline runs one way — sources → :mod:`~liuliang.ingest` → :mod:`~liuliang.warehouse` (with its user-day
rollups) → :mod:`~liuliang.metrics` → reports and the :mod:`~liuliang.cli`; :mod:`~liuliang.simulate` generates
festival worlds with planted ground truth for demos, tests and benchmarks.
"""

from liuliang.errors import LiuliangError
from liuliang.warehouse import Workspace

__version__ = "0.1.0"
__all__ = ["LiuliangError", "Workspace", "__version__"]
