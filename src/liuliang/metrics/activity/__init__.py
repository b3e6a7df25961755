"""Activity: DAU / WAU / MAU and stickiness, frequency histograms, daily participation (one module each).

Every function takes the workspace, a small frozen spec and ``data_end`` ("now", default: the last event time), and
returns a frozen dataclass around a long Arrow table (``to_arrow()``, ``to_pandas()``, ``to_dict()``).
"""

from liuliang.metrics.activity.active_users import ActiveUsers, ActiveUsersSpec, active_users
from liuliang.metrics.activity.base import ActivitySpecError
from liuliang.metrics.activity.frequency import FrequencyHistogram, FrequencySpec, frequency
from liuliang.metrics.activity.participation import Participation, ParticipationSpec, participation

__all__ = [
    "ActiveUsers",
    "ActiveUsersSpec",
    "ActivitySpecError",
    "FrequencyHistogram",
    "FrequencySpec",
    "Participation",
    "ParticipationSpec",
    "active_users",
    "frequency",
    "participation",
]
