"""Small public data sets bundled as fixtures (see ``data/README.md`` for sources and licences)."""

from __future__ import annotations

from importlib import resources

import pandas as pd


def load_cdnow_sample() -> pd.DataFrame:
    """The CDNOW 1/10 sample calibration summary: 2,357 customers, 39 weeks (time unit: weeks).

    Columns ``frequency`` (repeat purchases), ``recency`` and ``T`` (weeks), ``monetary_value`` (mean repeat
    purchase value in US$, 0 without repeats), indexed by ``customer_id``. The data behind the published BG/NBD,
    Pareto/NBD and Gamma-Gamma estimates that the tests reproduce.
    """
    path = resources.files("liuliang.models").joinpath("data", "cdnow_sample_summary.csv")
    with path.open("r") as fh:
        raw = pd.read_csv(fh)
    return pd.DataFrame(
        {
            "frequency": raw["x"].astype("int64").to_numpy(),
            "recency": raw["t_x"].astype(float).to_numpy(),
            "T": raw["T"].astype(float).to_numpy(),
            "monetary_value": raw["zbar"].astype(float).to_numpy(),
        },
        index=pd.Index(raw["ID"].to_numpy(), name="customer_id"),
    )
