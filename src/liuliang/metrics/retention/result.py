"""The result of a retention query: a long Arrow table plus the spec that made it.

One row per (breakdown, cohort, period_offset) cell. ``cohort`` is the integer period number (see
:mod:`liuliang.warehouse.periods`); :meth:`RetentionTable.cohort_start` turns it into a local date or hour.
Pivoting happens only for display (``_repr_html_``, ``plot``).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from liuliang.errors import LiuliangError
from liuliang.warehouse import periods

if TYPE_CHECKING:
    from liuliang.metrics.retention.spec import RetentionSpec

RESULT_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("cohort", pa.int64()),
        ("period_offset", pa.int64()),
        ("offset_lo", pa.int64()),
        ("offset_hi", pa.int64()),
        ("cohort_size", pa.int64()),
        ("observed", pa.int64()),
        ("count", pa.int64()),
        ("value", pa.float64()),
        ("base", pa.float64()),
        ("rate", pa.float64()),
        ("incomplete", pa.bool_()),
    ]
)

MEAN_SCHEMA = pa.schema(
    [
        ("breakdown", pa.string()),
        ("period_offset", pa.int64()),
        ("cohorts", pa.int64()),
        ("cohort_size", pa.int64()),
        ("count", pa.int64()),
        ("rate", pa.float64()),
    ]
)


def period_start(cohort: int, period: str, week_start: str = "monday") -> dt.date | dt.datetime:
    """Local start of an integer period: a date, or a naive local datetime for hours."""
    if period == "hour":
        return dt.datetime(1970, 1, 1) + dt.timedelta(hours=cohort)
    if period == "day":
        return periods.date_of_day(cohort)
    if period == "week":
        shift = (3 - periods.WEEKDAYS.index(week_start)) % 7
        return periods.date_of_day(cohort * 7 - shift)
    if period == "month":
        return dt.date(cohort // 12, cohort % 12 + 1, 1)
    return dt.date(cohort // 4, (cohort % 4) * 3 + 1, 1)


@dataclass(frozen=True)
class RetentionTable:
    """Retention cells of one spec.

    Attributes
    ----------
    spec: the (validated) spec that produced the table.
    table: long Arrow table, schema :data:`RESULT_SCHEMA`.
    data_end: the instant used as "now" (naive UTC), None when there were no events.
    week_start: the workspace's week start (labels weekly cohorts).
    """

    spec: RetentionSpec
    table: pa.Table
    data_end: dt.datetime | None
    week_start: str = "monday"

    # -- access -------------------------------------------------------------------------------------------------
    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> Any:
        df = self.table.to_pandas()
        df.insert(2, "cohort_start", [self.cohort_start(c) for c in df["cohort"]])
        return df

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the spec, ``data_end`` and the rows as a list of flat records."""
        rows = self.table.to_pylist()
        for r in rows:
            r["cohort_start"] = self.cohort_start(r["cohort"]).isoformat()
        return {
            "spec": self.spec.to_dict(),
            "data_end": self.data_end.isoformat() if self.data_end else None,
            "rows": rows,
        }

    def cohort_start(self, cohort: int) -> dt.date | dt.datetime:
        return period_start(int(cohort), self.spec.period, self.week_start)

    def cell(self, cohort: int, period_offset: int, breakdown: str = "all") -> dict[str, Any]:
        """One cell as a flat record (KeyError if absent)."""
        mask = pc.and_(
            pc.and_(pc.equal(self.table["cohort"], cohort), pc.equal(self.table["period_offset"], period_offset)),
            pc.equal(self.table["breakdown"], breakdown),
        )
        rows = self.table.filter(mask).to_pylist()
        if not rows:
            raise KeyError((breakdown, cohort, period_offset))
        return rows[0]

    # -- summaries ----------------------------------------------------------------------------------------------
    def mean(self, *, weighted: bool = False) -> pa.Table:
        """Mean rate per (breakdown, period_offset) over complete, non-empty cohorts.

        ``weighted=False``: the simple mean of the cohorts' rates. ``weighted=True``: pooled, i.e. the sum of counts
        (values) over the sum of the rate's denominators, so each cohort weighs by its size.
        """
        t = self.table.filter(pc.and_(pc.invert(self.table["incomplete"]), pc.is_valid(self.table["rate"])))
        out: dict[tuple[str, int], list[Any]] = {}
        for r in t.to_pylist():
            acc = out.setdefault((r["breakdown"], r["period_offset"]), [0, 0, 0, 0.0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += r["cohort_size"]
            acc[2] += r["count"]
            acc[3] += r["rate"]
            acc[4] += r["value"]
            acc[5] += r["base"]
        keys = sorted(out)
        rates = []
        for k in keys:
            n, _, _, rate_sum, value_sum, base_sum = out[k]
            rates.append((value_sum / base_sum if base_sum else None) if weighted else rate_sum / n)
        return pa.table(
            {
                "breakdown": [k[0] for k in keys],
                "period_offset": [k[1] for k in keys],
                "cohorts": [out[k][0] for k in keys],
                "cohort_size": [out[k][1] for k in keys],
                "count": [out[k][2] for k in keys],
                "rate": rates,
            },
            schema=MEAN_SCHEMA,
        )

    # -- display ------------------------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        rows = self.table.to_pylist()
        offsets = sorted({r["period_offset"] for r in rows})
        by_row: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
        for r in rows:
            by_row.setdefault((r["breakdown"], r["cohort"]), {})[r["period_offset"]] = r
        head = "".join(f"<th>{k}</th>" for k in offsets)
        body = []
        for (b, c), cells in sorted(by_row.items()):
            size = next(iter(cells.values()))["cohort_size"]
            tds = []
            for k in offsets:
                cell = cells.get(k)
                if cell is None or cell["rate"] is None:
                    tds.append("<td></td>")
                    continue
                text = f"{cell['rate']:.1%}"
                style = ' style="color:#999;font-style:italic" title="incomplete"' if cell["incomplete"] else ""
                tds.append(f"<td{style}>{text}{'*' if cell['incomplete'] else ''}</td>")
            label = html.escape(f"{self.cohort_start(c)}")
            body.append(f"<tr><td>{html.escape(b)}</td><td>{label}</td><td>{size}</td>{''.join(tds)}</tr>")
        return (
            f"<table><thead><tr><th>breakdown</th><th>cohort</th><th>size</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table><p>* incomplete period (not fully elapsed by {self.data_end})</p>"
        )

    def plot(self, kind: str = "heatmap") -> Any:
        """A Plotly figure: ``heatmap`` (cohort triangle) or ``curves`` (mean rate per offset and breakdown)."""
        try:
            import plotly.graph_objects as go
        except ImportError as exc:
            raise LiuliangError(
                "RetentionTable.plot() needs plotly, which is not installed (pip install plotly); "
                "to_pandas() gives the numbers for any other plotting library"
            ) from exc
        if kind == "curves":
            mean = self.mean()
            fig = go.Figure()
            for b in sorted(set(mean["breakdown"].to_pylist())):
                part = mean.filter(pc.equal(mean["breakdown"], b))
                fig.add_trace(go.Scatter(x=part["period_offset"].to_pylist(), y=part["rate"].to_pylist(), name=b))
            return fig
        if kind != "heatmap":
            raise LiuliangError(f"plot kind must be 'heatmap' or 'curves'; got {kind!r}")
        rows = [r for r in self.table.to_pylist() if not r["incomplete"]]
        cohorts = sorted({r["cohort"] for r in rows})
        offsets = sorted({r["period_offset"] for r in rows})
        z = [[None] * len(offsets) for _ in cohorts]
        for r in rows:
            z[cohorts.index(r["cohort"])][offsets.index(r["period_offset"])] = r["rate"]
        return go.Figure(go.Heatmap(z=z, x=offsets, y=[str(self.cohort_start(c)) for c in cohorts]))

    def __repr__(self) -> str:
        cohorts = len(set(self.table["cohort"].to_pylist())) if self.table.num_rows else 0
        return f"RetentionTable({self.spec.period}, {self.spec.criterion}, {cohorts} cohorts, data_end={self.data_end})"
