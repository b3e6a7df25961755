"""Every public result in metrics, models and causal shows itself in a notebook: escaped HTML with its numbers.

The public API is walked (every non-private module of the three packages), so a new result class without
``_repr_html_`` fails here, and so does one this file has no example of: add a factory to ``FACTORIES`` (or, for
an input / helper class that is not a result, a reason to ``NOT_RESULTS``). Each example is a real object made by
the library (fitted on published data sets or the small generated world), and its HTML must contain its own
numbers (formatted by :func:`liuliang._display.format_value`) and be well-formed. A second pass swaps a string in
each result's table or fields for markup and checks it comes out escaped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import math
import pkgutil
import warnings
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from liuliang import causal, metrics, models
from liuliang._display import MAX_ROWS, format_value, html_fields, html_table
from liuliang.metrics.retention.spec import Rule
from liuliang.warehouse import Workspace

EVIL = '<script>alert("x")</script>&'
PACKAGES = ("liuliang.metrics", "liuliang.models", "liuliang.causal")
DATA = Path(__file__).parent / "models" / "data"

#: Public classes that are not results (inputs, specs, priors, helpers), with the reason.
NOT_RESULTS = {
    "BetaPrior": "a prior: an input",
    "NormalPrior": "a prior: an input",
    "Offer": "an offer to plan: an input",
    "Condition": "a retention filter: an input",
    "MetricDef": "an experiment metric definition: an input",
    "RetentionRunner": "builds and runs a RetentionSpec; its result is a RetentionTable",
    "Resolved": "the runner's resolved spec (internal)",
    "Bounds": "activity bounds (internal)",
    "Clock": "period arithmetic (internal)",
    "Span": "a resolved data span (internal)",
    "LongResult": "the base class; its subclasses are checked",
}


def public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        names = [pkg_name, *(m.name for m in pkgutil.walk_packages(pkg.__path__, pkg_name + "."))]
        for name in names:
            if any(part.startswith("_") for part in name.split(".")):
                continue
            module = importlib.import_module(name)
            for cls_name, obj in vars(module).items():
                if not inspect.isclass(obj) or obj.__module__ != name or cls_name.startswith("_"):
                    continue
                if issubclass(obj, BaseException) or issubclass(obj, Rule) or cls_name.endswith("Spec"):
                    continue
                if cls_name in NOT_RESULTS:
                    continue
                found[f"{name}.{cls_name}"] = obj
    return found


# -- examples -------------------------------------------------------------------------------------------------------
def _cdnow() -> pd.DataFrame:
    return models.datasets.load_cdnow_sample()


def _arms(rng: np.random.Generator, shift: float) -> tuple[causal.SufficientStats, causal.SufficientStats]:
    return (
        causal.SufficientStats.from_values(rng.normal(1.0, 1.0, 400)),
        causal.SufficientStats.from_values(rng.normal(1.0 + shift, 1.0, 400)),
    )


def _uplift_data(n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(n, 3))
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.2 + 0.1 * t * (x[:, 0] > 0)).astype(int)
    score = 0.1 * (x[:, 0] > 0) + rng.normal(0, 0.02, n)
    return x, t, y, score


class Examples:
    """Lazily built examples; workspace-based ones share one read-only connection to the small world."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.end = ws.event_span().last_ts

    def retention_curve(self) -> models.RetentionCurveFitter:
        from liuliang.models.curves import curve

        ages = np.arange(1, 31)
        share = curve("power_floor", {"level": 0.4, "exponent": 0.8, "scale": 3.0, "floor_share": 0.25}, ages)
        return models.RetentionCurveFitter(model="power_floor").fit(ages, share, np.full(30, 10_000))


def factories() -> dict[str, Callable[[Examples], Any]]:
    m, c, mo = "liuliang.metrics", "liuliang.causal", "liuliang.models"
    ws = lambda e: e.ws  # noqa: E731
    last = lambda e: e.end  # noqa: E731

    def rng(seed: int = 0) -> np.random.Generator:
        return np.random.default_rng(seed)

    def bgbb(e):
        d = pd.read_csv(DATA / "bgbb_donations.csv")
        return models.BetaGeoBetaBinomFitter().fit(d.frequency, d.recency, d.periods, weights=d.weights)

    def gamma_gamma(e):
        d = _cdnow()
        d = d[d.frequency > 0]
        return models.GammaGammaFitter().fit(d.frequency, d.monetary_value)

    def survival(e):
        r = rng(1)
        durations, churned = r.integers(1, 60, 300), r.random(300) < 0.7
        return models.SurvivalAnalysis(rmst_horizon=30).fit(durations, churned, np.where(r.random(300) < 0.5, "a", "b"))

    def ipw(cls):
        def make(e):
            x, t, y, _ = _uplift_data()
            return cls(random_state=0).fit(x, t, y)

        return make

    def learner(cls):
        def make(e):
            from sklearn.linear_model import LinearRegression, LogisticRegression

            x, t, y, _ = _uplift_data()
            fast = {"outcome_model": LogisticRegression(), "effect_model": LinearRegression()}
            fast["propensity_model"] = LogisticRegression()
            accepted = inspect.signature(cls).parameters
            return cls(**{k: v for k, v in fast.items() if k in accepted}).fit(x, t, y)

        return make

    def plan(e):
        _, _, _, score = _uplift_data(200)
        prov = causal.PlanProvenance("t-learner", "snap-1", "2026-03-01T00:00:00")
        return causal.plan_targeting(
            [f"u{i}" for i in range(200)], score, [causal.Offer("coupon", 2.0)], 100.0, provenance=prov
        )

    def experiment(e):
        return causal.run_experiment(e.ws, causal.ExperimentSpec("challenge7", metrics=("d7",), days=(7,)))

    def rfm(e):
        cal = (e.end - dt.timedelta(days=30)).date()
        return models.rfm_summary(e.ws, calibration_end=cal, data_end=e.end)

    return {
        # metrics
        f"{m}.activity.active_users.ActiveUsers": lambda e: metrics.active_users(ws(e)),
        f"{m}.activity.frequency.FrequencyHistogram": lambda e: metrics.frequency(ws(e)),
        f"{m}.activity.participation.Participation": lambda e: metrics.participation(ws(e)),
        f"{m}.acquisition.CacTable": lambda e: metrics.cac(ws(e)),
        f"{m}.acquisition.CostPerRetainedTable": lambda e: metrics.cost_per_retained(ws(e)),
        f"{m}.acquisition.PaybackTable": lambda e: metrics.payback(ws(e)),
        f"{m}.lifecycle.Lifecycle": lambda e: metrics.lifecycle(ws(e)),
        f"{m}.revenue.RevenueTable": lambda e: metrics.cohort_revenue(ws(e)),
        f"{m}.retention.result.RetentionTable": lambda e: metrics.retention(ws(e), metrics.RetentionSpec(periods=7)),
        f"{m}.day_n.DayNRetention": lambda e: metrics.day_n_retention(ws(e)),
        # models
        f"{mo}.bg_nbd.BetaGeoFitter": lambda e: models.BetaGeoFitter().fit(
            _cdnow().frequency, _cdnow().recency, _cdnow()["T"]
        ),
        f"{mo}.mbg_nbd.ModifiedBetaGeoFitter": lambda e: models.ModifiedBetaGeoFitter().fit(
            _cdnow().frequency, _cdnow().recency, _cdnow()["T"]
        ),
        f"{mo}.pareto_nbd.ParetoNBDFitter": lambda e: models.ParetoNBDFitter().fit(
            _cdnow().frequency, _cdnow().recency, _cdnow()["T"]
        ),
        f"{mo}.gamma_gamma.GammaGammaFitter": gamma_gamma,
        f"{mo}.bgbb.BetaGeoBetaBinomFitter": bgbb,
        # Fader & Hardie (2007), "regular" customers: survivors at the start of years 0..7
        f"{mo}.sbg.ShiftedBetaGeometricFitter": lambda e: models.ShiftedBetaGeometricFitter().fit(
            [1000, 631, 468, 382, 326, 289, 262, 241]
        ),
        f"{mo}.cure.CureFractionFitter": lambda e: models.CureFractionFitter().fit(
            rng(2).integers(1, 90, 400), rng(3).random(400) < 0.6
        ),
        f"{mo}.curves.RetentionCurveFitter": lambda e: e.retention_curve(),
        f"{mo}.curves.CurveProjection": lambda e: e.retention_curve().project((90, 365)),
        f"{mo}.bootstrap.BootstrapResult": lambda e: models.bootstrap(
            models.ShiftedBetaGeometricFitter(), [1000, 631, 468, 382, 326, 289, 262, 241], n_resamples=8
        ),
        f"{mo}.survival.SurvivalAnalysis": survival,
        f"{mo}.survival.LogRankResult": lambda e: survival(e).logrank_,
        f"{mo}.survival.RMSTResult": lambda e: survival(e).rmst_,
        f"{mo}.summaries.RFMSummary": rfm,
        f"{mo}.summaries.ChurnDurations": lambda e: models.churn_durations(e.ws, data_end=last(e)),
        # causal
        f"{c}.stats.SufficientStats": lambda e: causal.SufficientStats.from_values([1.0, 2.0, 4.5]),
        f"{c}.stats.CovariateStats": lambda e: causal.CovariateStats.from_values([1.0, 2.0, 4.5], [0.5, 1.5, 2.0]),
        f"{c}.frequentist.FrequentistResult": lambda e: causal.welch_ttest(*_arms(rng(4), 0.2)),
        f"{c}.cuped.CupedResult": lambda e: causal.cuped_ttest(
            causal.CovariateStats.from_values(rng(5).normal(size=300), rng(6).normal(size=300)),
            causal.CovariateStats.from_values(rng(7).normal(0.3, 1, 300), rng(8).normal(size=300)),
        ),
        f"{c}.bayesian.BayesianResult": lambda e: causal.beta_binomial_test(
            causal.SufficientStats.from_proportion(1000, 120), causal.SufficientStats.from_proportion(1000, 150)
        ),
        f"{c}.sequential.SequentialResult": lambda e: causal.confidence_sequence(*_arms(rng(9), 0.3)),
        f"{c}.srm.SRMResult": lambda e: causal.sample_ratio_test({"control": 5000, "treatment": 5210}, warn=False),
        f"{c}.multiple.AdjustedPValues": lambda e: causal.adjust_pvalues([0.01, 0.04, 0.3], names=["d1", "d7", "d30"]),
        f"{c}.segments.FamilyResult": lambda e: causal.effects_by_segment(
            {"new": _arms(rng(10), 0.2), "old": _arms(rng(11), 0.0)}
        ),
        f"{c}.balance.BalanceResult": lambda e: causal.standardized_mean_differences(
            _uplift_data()[0], _uplift_data()[1], names=["x0", "x1", "x2"]
        ),
        f"{c}.observational.ObservationalEffect": lambda e: ipw(causal.IPWEstimator)(e).result_,
        f"{c}.observational.IPWEstimator": ipw(causal.IPWEstimator),
        f"{c}.observational.AIPWEstimator": ipw(causal.AIPWEstimator),
        f"{c}.evaluation.GainCurve": lambda e: causal.qini_curve(
            _uplift_data()[2], _uplift_data()[3], _uplift_data()[1]
        ),
        f"{c}.evaluation.CalibrationTable": lambda e: causal.uplift_calibration(
            _uplift_data()[2], _uplift_data()[3], _uplift_data()[1], bins=5
        ),
        f"{c}.evaluation.UpliftEvaluation": lambda e: causal.evaluate_uplift(
            _uplift_data()[2], _uplift_data()[3], _uplift_data()[1], bins=5
        ),
        f"{c}.targeting.TargetingPlan": plan,
        f"{c}.targeting.PlanProvenance": lambda e: plan(e).provenance,
        f"{c}.meta_learners.SLearner": learner(causal.SLearner),
        f"{c}.meta_learners.TLearner": learner(causal.TLearner),
        f"{c}.meta_learners.XLearner": learner(causal.XLearner),
        f"{c}.meta_learners.DRLearner": learner(causal.DRLearner),
        f"{c}.meta_learners.ClassTransformationLearner": learner(causal.ClassTransformationLearner),
        f"{c}.features.UpliftFeatures": lambda e: causal.experiment_features(e.ws, "challenge7"),
        f"{c}.experiment.ExperimentResult": experiment,
        f"{c}.grant_effect.GrantEffectResult": lambda e: causal.run_grant_effect(
            e.ws, causal.GrantEffectSpec("coupon", grant_window_days=7, outcome_day=14, estimator="ipw")
        ),
        f"{c}.hunters.HunterScores": lambda e: causal.hunter_scores(e.ws),
        f"{c}.hunters.HunterSummary": lambda e: causal.hunter_scores(e.ws).by("channel"),
    }


# -- what each result's HTML must show ------------------------------------------------------------------------------
def _numbers(values: Any) -> list[str]:
    out = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            continue
        out.append(format_value(v))
    return out


def expected(obj: Any) -> list[str]:
    """Strings the HTML must contain: the result's own numbers as the display formats them."""
    name = type(obj).__name__
    if name == "RetentionTable":
        row = next(r for r in obj.to_arrow().to_pylist() if r["rate"] is not None)
        return [f"{row['rate']:.1%}"]
    if name == "ExperimentResult":
        row = next(r for r in obj.to_arrow().to_pylist() if not r["is_control"])
        return [f"{row['difference']:.4g}"]
    if name == "GrantEffectResult":
        return [f"{obj.effect:+.4f}", f"{obj.n_treated:,}"]
    if name == "SurvivalAnalysis":
        return _numbers(obj.rmst_.to_arrow()["rmst"].to_pylist())
    if name in ("IPWEstimator", "AIPWEstimator"):
        return _numbers([obj.result_.effect, obj.result_.se])
    if name.endswith("Learner"):
        return [name, format_value(obj.n_samples_fit_), *_numbers(getattr(obj, "ate_", []))]
    if name in ("LogRankResult",):
        return _numbers([obj.statistic, obj.p_value, obj.df])
    if name in ("SufficientStats", "CovariateStats"):
        return _numbers([obj.n, obj.sum, obj.sum_squares])
    if name == "PlanProvenance":
        return [obj.model_name, obj.data_snapshot_id]
    if hasattr(obj, "params_") and hasattr(obj, "summary"):
        return _numbers(obj.params_.to_list()) + _numbers([obj.log_likelihood_])
    if hasattr(obj, "to_arrow"):
        table = obj.to_arrow()
        assert table.num_rows, f"{name}: empty example"
        return _numbers(table.slice(0, 1).to_pylist()[0].values())
    raise AssertionError(f"no rule for the numbers of {name}")


class WellFormed(HTMLParser):
    VOID: ClassVar[set[str]] = {"br", "hr", "img", "input", "meta", "link", "col", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]} "
        self.stack.pop()


def check_html(text: Any, name: str) -> None:
    assert isinstance(text, str) and text, name
    parser = WellFormed()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"{name}: unclosed {parser.stack}"
    assert "script" not in parser.tags, name


@pytest.fixture(scope="module")
def built(small_world_workspace: Path) -> dict[str, Any]:
    """key -> the example result (or the exception making it raised), built once for the module."""
    out: dict[str, Any] = {}
    with Workspace.open(small_world_workspace) as ws:
        examples = Examples(ws)
        for key, make in factories().items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the examples' data warnings (poor overlap) are not the point
                    out[key] = make(examples)
            except Exception as exc:
                out[key] = exc
    return out


def test_every_public_result_has_an_example() -> None:
    classes = public_classes()
    missing = sorted(set(classes) - set(factories()))
    assert not missing, (
        f"public classes without a _repr_html_ example here (add a factory or a NOT_RESULTS reason): {missing}"
    )
    stale = sorted(set(factories()) - set(classes))
    assert not stale, f"factories for classes that are gone: {stale}"
    lacking = sorted(k for k, cls in classes.items() if not any("_repr_html_" in vars(k) for k in cls.__mro__))
    assert not lacking, f"results without _repr_html_: {lacking}"


def test_results_show_their_numbers(built: dict[str, Any]) -> None:
    failures = []
    for key, obj in built.items():
        try:
            if isinstance(obj, Exception):
                raise obj
            assert f"{type(obj).__module__}.{type(obj).__name__}" == key, key
            text = obj._repr_html_()
            check_html(text, key)
            missing = [s for s in expected(obj) if s not in text]
        except Exception as exc:
            failures.append(f"{key}: {type(exc).__name__}: {exc}")
            continue
        if missing:
            failures.append(f"{key}: {missing[:5]}")
    assert not failures, "\n".join(failures)


def _with_markup(obj: Any) -> Any | None:
    """The result with one string in its table (or a string field) replaced by markup; None if it has neither."""
    if not dataclasses.is_dataclass(obj):
        return None
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, pa.Table) and v.num_rows:
            for i, col in enumerate(v.schema):
                if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                    values = v.column(i).to_pylist()
                    values[0] = EVIL
                    return dataclasses.replace(obj, **{f.name: v.set_column(i, col, pa.array(values, col.type))})
    for f in dataclasses.fields(obj):
        if isinstance(getattr(obj, f.name), str) and not f.name.startswith("_"):
            try:
                return dataclasses.replace(obj, **{f.name: EVIL})
            except Exception:  # a validated field (a method name, a kind): try the next one
                continue
    return None


def test_strings_are_escaped(built: dict[str, Any]) -> None:
    checked = []
    for key, obj in built.items():
        if isinstance(obj, Exception):
            continue  # reported by test_results_show_their_numbers
        evil = _with_markup(obj)
        if evil is None:
            continue
        try:
            text = evil._repr_html_()
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # the swapped string was a key the display looks up; nothing rendered, nothing leaked
        check_html(text, key)
        assert "<script>" not in text, key
        if "&lt;script&gt;alert(" in text:  # the swapped string is shown (escaped); some fields are not shown
            checked.append(key)
    assert len(checked) >= 25, checked


def test_display_helpers() -> None:
    assert format_value(1234567) == "1,234,567" and format_value(0.098765) == "0.09877"
    assert format_value(123456.789) == "123,456.79" and format_value(float("nan")) == "–" and format_value(None) == "–"
    assert format_value(np.float64(0.5)) == "0.5" and format_value(True) == "true"
    big = pa.table({"k": [EVIL] * (MAX_ROWS + 5), "v": list(range(MAX_ROWS + 5))})
    text = html_table(big, caption=EVIL)
    assert text.count("<tr>") == MAX_ROWS + 1 and "5 more rows" in text and "<script>" not in text
    frame = pd.DataFrame({"coef": [1.5]}, index=pd.Index(["alpha"], name=None))
    assert "<td" in html_table(frame, index="param") and ">param<" in html_table(frame, index="param")
    assert "&lt;b&gt;" in html_fields({"<b>": "<b>"})
