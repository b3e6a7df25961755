"""Held-out evaluation of uplift scores: uplift and Qini curves, AUUC, Qini coefficient, uplift@k, calibration.

An uplift model cannot be scored user by user (nobody is both treated and untreated), so every metric here
ranks users by predicted uplift and compares treated and control users *within* the top of the ranking. That is
only a fair comparison on data where the arm was assigned at random with a constant probability (a held-out
randomised experiment); on observational data use the DR pseudo-outcomes instead.

Definitions (n = users targeted so far, best predicted uplift first; N_t, N_c treated and control users among
them; Y_t, Y_c their summed outcomes):

- **Uplift curve** (Rzepakowski & Jaroszewicz; scikit-uplift's ``uplift_curve``, causalml's ``get_cumgain``):
  U(n) = (Y_t/N_t − Y_c/N_c)·n, the extra outcomes had the top n all been treated.
- **Qini curve** (Radcliffe 2007): Q(n) = Y_t − Y_c·N_t/N_c, the extra outcomes among the treated top n.
- Ties in the score are one step (the curve is linear across them), so the result does not depend on how a sort
  breaks ties.

Normalised areas, ``definition="sklift"`` (the default, identical to scikit-uplift 0.5's ``uplift_auc_score`` and
``qini_auc_score(negative_effect=True)``): trapezoidal area between the curve and the random-targeting diagonal
from (0, 0) to (N, curve(N)), divided by the same area for the *perfect* ranking of the observed outcomes
(treated responders first, control responders last). 1 is perfect, 0 is random, < 0 worse than random; the scale
is comparable across data sets, which is why it is the default.

``definition="causalml"`` reproduces causalml 0.18's ``auuc_score`` / ``qini_score`` (normalize=True), which differ
in four ways: the curve is divided by |curve(N)| instead of by a perfect curve; the area is the mean of the curve
over the N + 1 points (0..N) rather than a trapezoid; AUUC is *not* measured against random (random ≈ 0.5, a
perfect model below 1); the Qini score subtracts the random line. Its rows are sorted one by one, so on tied scores
the number depends on pandas' sort order; liuliang keeps the tie groups for its own definition only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from liuliang._display import dataclass_html, html_fields, html_result, html_table
from liuliang.errors import ModelInputError, UnsupportedOperationError

__all__ = [
    "CalibrationTable",
    "GainCurve",
    "UpliftEvaluation",
    "auuc_score",
    "evaluate_uplift",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "qini_coefficient",
    "qini_curve",
    "uplift_at_k",
    "uplift_calibration",
    "uplift_curve",
]

Definition = Literal["sklift", "causalml"]


@dataclass(frozen=True)
class GainCurve:
    """Points of an uplift or Qini curve: ``n_targeted`` (starting at 0) against cumulative incremental ``gain``."""

    kind: Literal["uplift", "qini"]
    n_targeted: np.ndarray
    gain: np.ndarray

    def area(self) -> float:
        """Trapezoidal area under the curve (x in users)."""
        x, g = self.n_targeted, self.gain
        return float(np.sum(np.diff(x) * (g[1:] + g[:-1])) / 2)

    def to_arrow(self) -> pa.Table:
        return pa.table({"kind": [self.kind] * len(self.gain), "n_targeted": self.n_targeted, "gain": self.gain})

    def _repr_html_(self) -> str:
        fields = html_fields([("kind", self.kind), ("points", len(self.gain)), ("area", self.area())])
        return html_result(f"GainCurve ({self.kind})", fields, html_table(self.to_arrow()))

    def to_pandas(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()


def _check(y: Any, score: Any, treatment: Any, owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yv, s, t = (np.asarray(a) for a in (y, score, treatment))
    if not (yv.ndim == s.ndim == t.ndim == 1) or not (len(yv) == len(s) == len(t)):
        raise ModelInputError(f"{owner}: y, uplift and treatment must be 1-D and of equal length")
    if len(yv) == 0:
        raise ModelInputError(f"{owner}: no users to evaluate")
    if not np.isin(t, (0, 1)).all():
        raise ModelInputError(f"{owner}: treatment must be 0/1 (or bool); evaluate one arm vs control at a time")
    t = t.astype(np.int64)
    if t.min() == t.max():
        raise ModelInputError(f"{owner}: needs both treated and control users")
    yv, s = yv.astype(float), s.astype(float)
    if not (np.isfinite(yv).all() and np.isfinite(s).all()):
        raise ModelInputError(f"{owner}: y and uplift must be finite")
    return yv, s, t


def _cumulative(y: np.ndarray, score: np.ndarray, t: np.ndarray):
    """Cumulative counts at the end of every tie group of the descending score (plus the origin)."""
    order = np.argsort(-score, kind="mergesort")
    ys, ts, ss = y[order], t[order], score[order]
    ends = np.r_[np.flatnonzero(np.diff(ss)), ss.size - 1]
    n = (ends + 1).astype(float)
    nt = np.cumsum(ts)[ends].astype(float)
    yt = np.cumsum(ys * ts)[ends]
    yc = np.cumsum(ys * (1 - ts))[ends]
    nc = n - nt
    return n, nt, nc, yt, yc


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def uplift_curve(y: Any, uplift: Any, treatment: Any) -> GainCurve:
    """U(n) = (Y_t/N_t − Y_c/N_c)·n at every distinct score threshold (0 while one arm is still empty)."""
    n, nt, nc, yt, yc = _cumulative(*_check(y, uplift, treatment, "uplift_curve"))
    return GainCurve("uplift", np.r_[0.0, n], np.r_[0.0, (_rate(yt, nt) - _rate(yc, nc)) * n])


def qini_curve(y: Any, uplift: Any, treatment: Any) -> GainCurve:
    """Q(n) = Y_t − Y_c·N_t/N_c at every distinct score threshold (Y_t while no control user is in)."""
    n, nt, nc, yt, yc = _cumulative(*_check(y, uplift, treatment, "qini_curve"))
    return GainCurve("qini", np.r_[0.0, n], np.r_[0.0, yt - yc * _rate(nt, nc)])


def _binary_only(y: np.ndarray, owner: str) -> None:
    if not np.isin(y, (0.0, 1.0)).all():
        raise UnsupportedOperationError(
            f"{owner}: the perfect curve (and so the normalised score) is defined for 0/1 outcomes only; "
            "use definition='causalml' or the unnormalised curve areas for continuous outcomes"
        )


def perfect_uplift_curve(y: Any, treatment: Any) -> GainCurve:
    """The uplift curve of the best ranking of the observed outcomes (scikit-uplift's construction, 0/1 y)."""
    yv, _, t = _check(y, np.zeros(len(np.asarray(y))), treatment, "perfect_uplift_curve")
    _binary_only(yv, "perfect_uplift_curve")
    control_responders = np.sum((yv == 1) & (t == 0))
    treated_non_responders = np.sum((yv == 0) & (t == 1))
    summand = yv if control_responders > treated_non_responders else t
    return uplift_curve(yv, 2 * (yv == t) + summand, t)


def perfect_qini_curve(y: Any, treatment: Any) -> GainCurve:
    """The Qini curve of treated responders first and control responders last (negative effects allowed)."""
    yv, _, t = _check(y, np.zeros(len(np.asarray(y))), treatment, "perfect_qini_curve")
    _binary_only(yv, "perfect_qini_curve")
    return qini_curve(yv, yv * t - yv * (1 - t), t)


def _normalised(actual: GainCurve, perfect: GainCurve) -> float:
    """(area(actual) − area(random)) / (area(perfect) − area(random)); random joins (0, 0) to (N, perfect(N))."""
    n_all, end = perfect.n_targeted[-1], perfect.gain[-1]
    random_area = 0.5 * n_all * end
    denom = perfect.area() - random_area
    if denom <= 0:
        raise ModelInputError("normalised uplift score: the perfect ranking is no better than random on this data")
    return (actual.area() - random_area) / denom


def _causalml_curve(y: np.ndarray, score: np.ndarray, t: np.ndarray, kind: str) -> np.ndarray:
    """causalml's per-row curve (N + 1 points, normalised by |last|), with its leading-NaN interpolation."""
    order = np.argsort(-score, kind="mergesort")
    ys, ts = y[order], t[order]
    n = np.arange(1, ys.size + 1, dtype=float)
    nt = np.cumsum(ts).astype(float)
    nc = n - nt
    yt, yc = np.cumsum(ys * ts), np.cumsum(ys * (1 - ts))
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = (yt / nt - yc / nc) * n if kind == "uplift" else yt - yc * nt / nc
    curve = np.r_[0.0, curve]
    bad = ~np.isfinite(curve)
    if bad.any():  # pandas .interpolate(): linear in position between finite neighbours
        idx = np.arange(curve.size)
        curve[bad] = np.interp(idx[bad], idx[~bad], curve[~bad])
    return curve / abs(curve[-1])


def auuc_score(y: Any, uplift: Any, treatment: Any, *, definition: Definition = "sklift") -> float:
    """Normalised area under the uplift curve; see the module docstring for the two definitions."""
    yv, s, t = _check(y, uplift, treatment, "auuc_score")
    if definition == "causalml":
        return float(_causalml_curve(yv, s, t, "uplift").mean())
    if definition != "sklift":
        raise ModelInputError(f"auuc_score: definition must be 'sklift' or 'causalml'; got {definition!r}")
    return _normalised(uplift_curve(yv, s, t), perfect_uplift_curve(yv, t))


def qini_coefficient(y: Any, uplift: Any, treatment: Any, *, definition: Definition = "sklift") -> float:
    """Normalised area between the Qini curve and random targeting; see the module docstring."""
    yv, s, t = _check(y, uplift, treatment, "qini_coefficient")
    if definition == "causalml":
        q = _causalml_curve(yv, s, t, "qini")
        return float(q.mean() - np.linspace(q[0], q[-1], q.size).mean())
    if definition != "sklift":
        raise ModelInputError(f"qini_coefficient: definition must be 'sklift' or 'causalml'; got {definition!r}")
    return _normalised(qini_curve(yv, s, t), perfect_qini_curve(yv, t))


def uplift_at_k(
    y: Any, uplift: Any, treatment: Any, *, k: float | int = 0.3, strategy: Literal["overall", "by_group"] = "overall"
) -> float:
    """Observed uplift (treated mean − control mean) among the top k users by predicted uplift.

    ``k`` is a share in (0, 1) or a count. ``"overall"`` takes the top k of all users and compares the arms within
    it; ``"by_group"`` takes the top k share (or count) of each arm separately, which keeps both arms non-empty
    when assignment is unbalanced. Same definitions and tie order as scikit-uplift's ``uplift_at_k`` (tied users
    enter last-listed first), so the numbers agree on tied scores too.
    """
    yv, s, t = _check(y, uplift, treatment, "uplift_at_k")
    n = yv.size
    is_share = isinstance(k, float)
    if (is_share and not 0 < k < 1) or (not is_share and not 0 < int(k) < n):
        raise ModelInputError(f"uplift_at_k: k must be a share in (0, 1) or a count in (0, {n}); got {k!r}")
    order = np.argsort(s, kind="mergesort")[::-1]
    ys, ts = yv[order], t[order]
    if strategy == "overall":
        top = int(n * k) if is_share else int(k)
        yt, tt = ys[:top], ts[:top]
        if tt.min() == tt.max():
            raise ModelInputError(f"uplift_at_k: the top {top} users contain only one arm; raise k or use by_group")
        return float(yt[tt == 1].mean() - yt[tt == 0].mean())
    if strategy == "by_group":
        treated, control = ys[ts == 1], ys[ts == 0]
        kt = int(treated.size * k) if is_share else int(k)
        kc = int(control.size * k) if is_share else int(k)
        if min(kt, kc) < 1 or kt > treated.size or kc > control.size:
            raise ModelInputError(f"uplift_at_k: k={k!r} selects no users or more users than an arm has")
        return float(treated[:kt].mean() - control[:kc].mean())
    raise ModelInputError(f"uplift_at_k: strategy must be 'overall' or 'by_group'; got {strategy!r}")


@dataclass(frozen=True)
class CalibrationTable:
    """Predicted vs observed uplift by bin of predicted uplift (bin 1 = highest predictions).

    Columns: bin, n, n_treated, n_control, predicted (mean predicted uplift), observed (treated mean − control
    mean), stderr (unpooled: sqrt(s_t²/n_t + s_c²/n_c)), ci_low, ci_high (normal, ``confidence``). ``observed`` is
    NaN for a bin with fewer than two users in an arm: reported, not hidden.
    """

    table: pa.Table
    confidence: float

    def to_arrow(self) -> pa.Table:
        return self.table

    def _repr_html_(self) -> str:
        return dataclass_html(self, extra={"weighted_abs_error": self.weighted_abs_error})

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    @property
    def weighted_abs_error(self) -> float:
        """Mean |predicted − observed| over bins, weighted by users (NaN bins skipped)."""
        d = self.to_pandas().dropna(subset=["observed"])
        return float(np.average((d["predicted"] - d["observed"]).abs(), weights=d["n"]))


def uplift_calibration(
    y: Any, uplift: Any, treatment: Any, *, bins: int = 10, confidence: float = 0.95
) -> CalibrationTable:
    """Bin users into ``bins`` equal-count groups by predicted uplift (deciles by default) and compare means."""
    from scipy import stats

    yv, s, t = _check(y, uplift, treatment, "uplift_calibration")
    if not isinstance(bins, int) or not 1 <= bins <= yv.size:
        raise ModelInputError(f"uplift_calibration: bins must be an integer in [1, {yv.size}]; got {bins!r}")
    if not 0 < confidence < 1:
        raise ModelInputError(f"uplift_calibration: confidence must be in (0, 1); got {confidence!r}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    order = np.argsort(-s, kind="mergesort")
    rows = []
    for b, idx in enumerate(np.array_split(order, bins), start=1):
        yb, tb = yv[idx], t[idx]
        yt, yc = yb[tb == 1], yb[tb == 0]
        if yt.size >= 2 and yc.size >= 2:
            obs = yt.mean() - yc.mean()
            se = float(np.sqrt(yt.var(ddof=1) / yt.size + yc.var(ddof=1) / yc.size))
        else:
            obs, se = np.nan, np.nan
        rows.append((b, idx.size, yt.size, yc.size, float(s[idx].mean()), obs, se, obs - z * se, obs + z * se))
    cols = ["bin", "n", "n_treated", "n_control", "predicted", "observed", "stderr", "ci_low", "ci_high"]
    return CalibrationTable(pa.table(dict(zip(cols, map(list, zip(*rows, strict=True)), strict=True))), confidence)


@dataclass(frozen=True)
class UpliftEvaluation:
    """Every metric for every treatment arm vs control, as long tables.

    ``summary``: treatment, metric, value (metrics: n_users, n_treated, n_control, auuc, qini, uplift_at_k,
    observed_ate, calibration_abs_error). ``curves``: treatment, kind, n_targeted, gain. ``calibration``: the
    :class:`CalibrationTable` columns plus treatment.
    """

    summary: pa.Table
    curves: pa.Table
    calibration: pa.Table
    definition: str
    k: float | int

    def to_arrow(self) -> pa.Table:
        return self.summary

    def _repr_html_(self) -> str:
        return dataclass_html(self)

    def to_pandas(self) -> pd.DataFrame:
        return self.summary.to_pandas()

    def metric(self, treatment: Any, metric: str) -> float:
        d = self.to_pandas()
        hit = d[(d["treatment"] == str(treatment)) & (d["metric"] == metric)]
        if hit.empty:
            raise KeyError(f"no {metric!r} for treatment {treatment!r}")
        return float(hit["value"].iloc[0])


def evaluate_uplift(
    y: Any,
    uplift: Any,
    treatment: Any,
    *,
    treatments: Any = None,
    control: Any = 0,
    k: float | int = 0.3,
    bins: int = 10,
    definition: Definition = "sklift",
) -> UpliftEvaluation:
    """Evaluate an ``(n, n_treatments)`` uplift matrix (a learner's ``predict``) on held-out users.

    Column j of ``uplift`` is scored on the users of arm ``treatments[j]`` and of ``control`` only. ``treatments``
    defaults to the sorted non-control labels in ``treatment`` (the learners' ``treatments_`` order).
    """
    t = np.asarray(treatment)
    u = np.asarray(uplift, dtype=float)
    if u.ndim == 1:
        u = u[:, None]
    arms = np.array(sorted(set(t.tolist()) - {control})) if treatments is None else np.asarray(treatments)
    if u.shape != (t.size, arms.size):
        raise ModelInputError(
            f"evaluate_uplift: uplift has shape {u.shape}; expected ({t.size}, {arms.size}) for arms {arms.tolist()}"
        )
    yv = np.asarray(y, dtype=float)
    summary, curves, calib = [], [], []
    for j, arm in enumerate(arms.tolist()):
        sel = (t == control) | (t == arm)
        ya, sa, ta = yv[sel], u[sel, j], (t[sel] == arm).astype(int)
        name = str(arm)
        binary = bool(np.isin(ya, (0.0, 1.0)).all())
        metrics = {
            "n_users": float(sel.sum()),
            "n_treated": float(ta.sum()),
            "n_control": float((1 - ta).sum()),
            "observed_ate": float(ya[ta == 1].mean() - ya[ta == 0].mean()),
            "auuc": auuc_score(ya, sa, ta, definition=definition) if binary or definition == "causalml" else np.nan,
            "qini": qini_coefficient(ya, sa, ta, definition=definition)
            if binary or definition == "causalml"
            else np.nan,
            "uplift_at_k": uplift_at_k(ya, sa, ta, k=k),
        }
        cal = uplift_calibration(ya, sa, ta, bins=bins)
        metrics["calibration_abs_error"] = cal.weighted_abs_error
        summary += [(name, m, v) for m, v in metrics.items()]
        for c in (uplift_curve(ya, sa, ta), qini_curve(ya, sa, ta)):
            curves.append(c.to_pandas().assign(treatment=name))
        calib.append(cal.to_pandas().assign(treatment=name))
    s = pd.DataFrame(summary, columns=["treatment", "metric", "value"])
    return UpliftEvaluation(
        pa.Table.from_pandas(s, preserve_index=False),
        pa.Table.from_pandas(pd.concat(curves, ignore_index=True), preserve_index=False),
        pa.Table.from_pandas(pd.concat(calib, ignore_index=True), preserve_index=False),
        definition,
        k,
    )
