"""``liuliang uplift fit|evaluate`` and ``liuliang target``: who responds to an incentive, and who should get one.

``uplift fit`` reads an experiment's users from the warehouse (:mod:`liuliang.causal.features`: features known at
assignment, retained on day N), splits them into train and test with a seed (stratified by arm), fits a
meta-learner on the train part and reports the held-out Qini, AUUC, uplift@k and calibration by decile, then saves
the fitted model with joblib. The saved model is the one that was evaluated (it is not refitted on all users), so
the reported numbers describe the file. Evaluation is part of ``fit``'s output; ``uplift evaluate`` re-scores a
saved model later on the experiment's users it was *not* trained on — the held-out users plus anyone assigned
since — which is how a model is checked as new data arrives.

``target`` scores today's candidates and writes a budgeted plan (:mod:`liuliang.causal.targeting`): a CSV/Parquet
list plus a JSON manifest. It only writes those files (dry run by design); the budget and caps are hard limits.
Candidates are the users active in the ``--active-days`` days before the local day of ``--data-end``, minus those
granted one of the offered kinds in that window (they already hold one; ``--include-granted`` keeps them). With
``--uplift FILE`` the candidates are the file's users instead.

Where each offer's uplift comes from (multi-kind uplift needs multi-arm data):

- a model arm named like the offer, or bound with ``--arm OFFER=ARM``;
- a model with a single treatment arm (the generated world's ``challenge7`` has one) gives its uplift to the first
  ``--offer``;
- any other offer needs ``--offer-scale OFFER=F``: F times the first offer's uplift — an explicit what-if
  assumption (e.g. "a free order works 1.5x as well"), stated in the manifest's model name, not an estimate;
- or ``--uplift FILE`` (Parquet/CSV: ``user_id`` and one column per offer name) from any model of your own.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import typer

from liuliang.causal.evaluation import UpliftEvaluation, evaluate_uplift
from liuliang.causal.features import FeatureSpec, UpliftFeatures, active_features, experiment_features
from liuliang.causal.meta_learners import ClassTransformationLearner, DRLearner, SLearner, TLearner, XLearner
from liuliang.causal.targeting import Offer, PlanProvenance, TargetingPlan, plan_targeting
from liuliang.cli.common import WorkspaceOpt, open_workspace, out, print_json
from liuliang.cli.info import existing_workspace
from liuliang.cli.output import TableFormat, TableFormatOpt, emit
from liuliang.errors import LiuliangError, ModelInputError
from liuliang.warehouse import Workspace, periods
from liuliang.warehouse import tables as T

app = typer.Typer(
    name="uplift",
    help="Fit and evaluate uplift models on an experiment: who does an incentive actually move?",
    rich_markup_mode="rich",
    no_args_is_help=True,
)


class Learner(StrEnum):
    x = "x"
    t = "t"
    s = "s"
    dr = "dr"
    ct = "ct"


LEARNERS = {"x": XLearner, "t": TLearner, "s": SLearner, "dr": DRLearner, "ct": ClassTransformationLearner}
MODEL_FORMAT = 1


@dataclass(frozen=True)
class SavedUpliftModel:
    """What ``uplift fit`` saves: the fitted learner and everything needed to score and trace it.

    ``feature_spec`` carries the one-hot channel categories of the training table, so scoring builds the same
    columns; ``train_user_ids`` lets ``evaluate`` leave the training users out; ``evaluation`` is the held-out
    summary reported at fit time (None when fitted on every user).
    """

    learner: Any
    learner_name: str
    experiment: str
    control: str
    treatments: tuple[str, ...]
    feature_spec: FeatureSpec
    feature_names: tuple[str, ...]
    data_end: dt.datetime
    data_snapshot_id: str
    seed: int
    test_size: float
    train_user_ids: np.ndarray
    evaluation: pa.Table | None
    format_version: int = MODEL_FORMAT

    def predict(self, features: UpliftFeatures) -> np.ndarray:
        """(n, len(treatments)) uplift on retention at day N for the users of ``features``."""
        if tuple(features.feature_names) != tuple(self.feature_names):
            raise ModelInputError(
                f"the feature table has columns {list(features.feature_names)}; the model was fitted on "
                f"{list(self.feature_names)} (build it with the model's feature_spec)"
            )
        return np.asarray(self.learner.predict(features.X()), dtype=float).reshape(features.n_users, -1)

    @property
    def name(self) -> str:
        return (
            f"{self.learner_name.upper()}-learner on experiment {self.experiment} (retained day "
            f"{self.feature_spec.day}, {len(self.train_user_ids):,} training users, data to "
            f"{self.data_end:%Y-%m-%d %H:%M} UTC)"
        )


# -- library-like helpers (also used by the demo) ----------------------------------------------------------------------
def make_learner(name: str, control: str, seed: int) -> Any:
    if name not in LEARNERS:
        raise ModelInputError(f"--learner must be one of {', '.join(LEARNERS)}; got {name!r}")
    return LEARNERS[name](control=control, random_state=seed)


def known_propensity(treatment: np.ndarray) -> dict[str, float]:
    """Each arm's share: the assignment probability of a randomised experiment (constant across users)."""
    labels, counts = np.unique(treatment.astype(str), return_counts=True)
    return {str(a): float(c / counts.sum()) for a, c in zip(labels, counts, strict=True)}


def snapshot_id(ws: Workspace, data_end: dt.datetime) -> str:
    """The data a result was computed from: the workspace, its last committed ingest and the "now" used."""
    return f"{ws.location}#ingest-{ws.committed_ingest()}@{data_end.isoformat()}"


def fit_experiment_model(
    ws: Workspace,
    experiment: str,
    *,
    learner: str = "x",
    day: int = 7,
    lookback_days: int = 28,
    control: str = "control",
    seed: int = 0,
    test_size: float = 0.3,
    k: float = 0.3,
    bins: int = 10,
    data_end: dt.datetime | None = None,
) -> tuple[SavedUpliftModel, UpliftEvaluation | None]:
    """Fit on a seeded, arm-stratified train split and evaluate on the rest (``test_size=0``: fit on everyone)."""
    from sklearn.model_selection import train_test_split

    if not 0 <= test_size < 1:
        raise ModelInputError(f"--test-size must be in [0, 1); got {test_size!r}")
    feats = experiment_features(ws, experiment, FeatureSpec(day=day, lookback_days=lookback_days), data_end=data_end)
    obs = feats.observed()
    if obs.n_users == 0:
        raise ModelInputError(f"experiment {experiment!r}: no user's day-{day} retention is observed yet")
    X, t, y, ids = obs.X(), obs.treatment().astype(str), obs.y(), obs.user_ids()
    if control not in set(t.tolist()):
        raise ModelInputError(f"experiment {experiment!r} has no variant {control!r}; variants: {sorted(set(t))}")
    idx = np.arange(obs.n_users)
    if test_size > 0:
        train, test = train_test_split(idx, test_size=test_size, stratify=t, random_state=seed)
        # user order (the table's), not the split's: uplift@k and deciles split tied scores by position, and
        # ``evaluate`` must reproduce these numbers from the same users
        train, test = np.sort(train), np.sort(test)
    else:
        train, test = idx, idx[:0]
    model = make_learner(learner, control, seed).fit(
        X[train], t[train], y[train], propensity=known_propensity(t[train])
    )
    evaluation = None
    if test.size:
        evaluation = evaluate_uplift(
            y[test], model.predict(X[test]), t[test], treatments=model.treatments_, control=control, k=k, bins=bins
        )
    saved = SavedUpliftModel(
        learner=model,
        learner_name=learner,
        experiment=experiment,
        control=control,
        treatments=tuple(str(a) for a in model.treatments_),
        feature_spec=obs.spec,
        feature_names=obs.feature_names,
        data_end=obs.data_end,
        data_snapshot_id=snapshot_id(ws, obs.data_end),
        seed=seed,
        test_size=test_size,
        train_user_ids=np.sort(ids[train].astype(str)),
        evaluation=None if evaluation is None else evaluation.summary,
    )
    return saved, evaluation


def evaluate_saved(
    ws: Workspace, model: SavedUpliftModel, *, k: float = 0.3, bins: int = 10, data_end: dt.datetime | None = None
) -> tuple[UpliftEvaluation, int]:
    """Evaluate a saved model on the experiment's observed users it was not trained on; returns (evaluation, n)."""
    feats = experiment_features(ws, model.experiment, model.feature_spec, data_end=data_end).observed()
    fresh = ~np.isin(feats.user_ids().astype(str), model.train_user_ids)
    feats = feats.filter(fresh)
    t = feats.treatment().astype(str)
    if feats.n_users == 0 or len(set(t.tolist()) & ({model.control} | set(model.treatments))) < 2:
        raise ModelInputError(
            f"experiment {model.experiment!r}: no held-out users with observed day-{model.feature_spec.day} retention "
            "in both arms (every observed user was used to fit this model)"
        )
    keep = np.isin(t, [model.control, *model.treatments])
    U = model.predict(feats)
    ev = evaluate_uplift(
        feats.y()[keep], U[keep], t[keep], treatments=np.array(model.treatments), control=model.control, k=k, bins=bins
    )
    return ev, int(keep.sum())


def load_model(path: Path) -> SavedUpliftModel:
    import joblib

    if not path.exists():
        raise LiuliangError(f"--model {path}: no such file (create one with: liuliang uplift fit ... --out {path})")
    model = joblib.load(path)
    if not isinstance(model, SavedUpliftModel) or model.format_version != MODEL_FORMAT:
        raise LiuliangError(f"--model {path}: not a model file written by liuliang uplift fit (format {MODEL_FORMAT})")
    return model


# -- offers and candidates --------------------------------------------------------------------------------------------
def parse_offer(text: str) -> tuple[str, float]:
    name, sep, cost = text.rpartition(":")
    try:
        value = float(cost)
    except ValueError:
        value = math.nan
    if not sep or not name.strip() or not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(
            f"expected KIND:COST with a cost > 0, e.g. red_packet:3.8; got {text!r}", param_hint="--offer"
        )
    return name.strip(), value


def parse_pairs(items: list[str] | None, option: str, *, number: bool = True) -> dict[str, Any]:
    """``["red_packet=50000", ...]`` -> {"red_packet": 50000.0}."""
    pairs: dict[str, Any] = {}
    for text in items or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise typer.BadParameter(f"expected KIND=VALUE, got {text!r}", param_hint=option)
        if number:
            try:
                pairs[key.strip()] = float(value)
            except ValueError:
                raise typer.BadParameter(f"expected a number after '=', got {text!r}", param_hint=option) from None
        else:
            pairs[key.strip()] = value.strip()
    return pairs


def offer_uplift(
    arms: tuple[str, ...], U: np.ndarray, names: list[str], arm_of: dict[str, str], scale: dict[str, float]
) -> tuple[np.ndarray, list[str]]:
    """Map model arms to offers (module docstring); returns the (n, offers) matrix and how each column was made."""
    unknown = set(arm_of.values()) - set(arms)
    if unknown:
        raise ModelInputError(f"--arm names arm(s) {sorted(unknown)}; the model's arms are {list(arms)}")
    col: dict[str, int] = {}
    for name in names:
        if name in arm_of:
            col[name] = arms.index(arm_of[name])
        elif name in arms:
            col[name] = arms.index(name)
    if not col and len(arms) == 1:
        col[names[0]] = 0
    how: list[str] = []
    cols: list[np.ndarray] = []
    base = names[0]
    for name in names:
        if name in col and name in scale:
            raise ModelInputError(f"--offer-scale {name}: the offer already has its own model arm {arms[col[name]]!r}")
        if name in col:
            cols.append(U[:, col[name]])
            how.append(f"{name}: model arm {arms[col[name]]!r}")
        elif name in scale:
            if base not in col:
                raise ModelInputError(f"--offer-scale needs the first offer ({base}) to have a model arm")
            if not (scale[name] >= 0 and math.isfinite(scale[name])):
                raise ModelInputError(f"--offer-scale {name}: the factor must be a finite number >= 0")
            cols.append(scale[name] * U[:, col[base]])
            how.append(f"{name}: {scale[name]:g} x {base} (assumed)")
        else:
            raise ModelInputError(
                f"no uplift for offer {name!r}: the model's arms are {list(arms)}. Multi-kind uplift needs multi-arm "
                f"data; bind an arm with --arm {name}=ARM, assume one with --offer-scale {name}=F (F x {base}), "
                "or pass --uplift FILE with a column per offer"
            )
    return np.column_stack(cols), how


def read_uplift_file(path: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(user ids, (n, offers) uplift) from a Parquet/CSV file with ``user_id`` and one column per offer name."""
    if not path.exists():
        raise LiuliangError(f"--uplift {path}: no such file")
    if path.suffix.lower() == ".csv":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"user_id": pa.string()}))
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    missing = [c for c in ("user_id", *names) if c not in table.column_names]
    if missing:
        raise LiuliangError(f"--uplift {path}: no column(s) {missing}; expected user_id and one column per --offer")
    ids = np.asarray(table["user_id"].cast(pa.string()).to_pylist(), dtype=object)
    U = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(float) for c in names])
    return ids, U


def granted_recently(ws: Workspace, kinds: list[str], data_end: dt.datetime, days: int) -> set[str]:
    """Users granted one of ``kinds`` in the ``days`` local days before (and on) the day of ``data_end``."""
    if not ws.has_table(T.INCENTIVES):
        return set()
    end_day = periods.day_of_instant(data_end, ws.settings.tz)
    inc = ws.table(T.INCENTIVES)
    inc = inc.filter(inc.kind.isin(kinds) & (inc.day >= end_day - days) & (inc.ts <= data_end))
    keys = ws.table(T.USER_KEYS)
    got = ws.engine.to_arrow(inc.select("user_key").distinct().join(keys.select("user_key", "user_id"), "user_key"))
    return set(got["user_id"].to_pylist())


def random_value(U: np.ndarray, plan: TargetingPlan, names: list[str]) -> float:
    """Expected incremental outcome of random targeting with the plan's budget and offer mix: the same number of
    each offer, given to candidates drawn at random (each offer's mean uplift over all candidates)."""
    counts = dict(zip(plan.by_offer["incentive"].to_pylist(), plan.by_offer["users"].to_pylist(), strict=True))
    return float(sum(counts[name] * U[:, j].mean() for j, name in enumerate(names))) if U.size else 0.0


@dataclass(frozen=True)
class PlanRun:
    """A plan and the context it is reported with (candidates, how uplift was made, the random baseline)."""

    plan: TargetingPlan
    candidates: int
    excluded: int
    uplift_source: list[str]
    random_incremental: float


def plan_from_model(
    ws: Workspace,
    model: SavedUpliftModel,
    offers: list[Offer],
    budget: float,
    *,
    arm_of: dict[str, str] | None = None,
    scale: dict[str, float] | None = None,
    active_days: int | None = None,
    include_granted: bool = False,
    data_end: dt.datetime | None = None,
    created_at: dt.datetime | str = "",
    frontier_points: int = 6,
) -> PlanRun:
    """Score today's candidates with ``model`` and solve the budgeted plan (nothing is written)."""
    feats = active_features(ws, model.feature_spec, data_end=data_end, active_within=active_days)
    ids = feats.user_ids().astype(str)
    names = [o.name for o in offers]
    excluded = 0
    if not include_granted:
        within = model.feature_spec.lookback_days if active_days is None else active_days
        held = granted_recently(ws, names, feats.data_end, within)
        keep = ~np.isin(ids, list(held)) if held else np.ones(ids.size, dtype=bool)
        excluded = int((~keep).sum())
        feats = feats.filter(keep)
        ids = ids[keep]
    U, how = offer_uplift(model.treatments, model.predict(feats), names, arm_of or {}, scale or {})
    label = model.name if not scale else f"{model.name}; {'; '.join(how)}"
    provenance = PlanProvenance(label, snapshot_id(ws, feats.data_end), created_at)
    plan = plan_targeting(ids, U, offers, budget, provenance=provenance, frontier_points=frontier_points)
    return PlanRun(plan, int(ids.size), excluded, how, random_value(U, plan, names))


# -- printing ---------------------------------------------------------------------------------------------------------
EVAL_COLUMNS = ("treatment", "n_treated", "n_control", "observed_ate", "auuc", "qini", "uplift_at_k", "calibration")


def evaluation_rows(ev: UpliftEvaluation) -> pa.Table:
    """One row per treatment arm (a pivot of the long summary, for display)."""
    rows = []
    for arm in dict.fromkeys(ev.summary["treatment"].to_pylist()):
        m = {k: ev.metric(arm, k) for k in ("n_treated", "n_control", "observed_ate", "auuc", "qini", "uplift_at_k")}
        rows.append(
            {
                "treatment": arm,
                "n_treated": int(m["n_treated"]),
                "n_control": int(m["n_control"]),
                "observed_ate": m["observed_ate"],
                "auuc": m["auuc"],
                "qini": m["qini"],
                "uplift_at_k": m["uplift_at_k"],
                "calibration": ev.metric(arm, "calibration_abs_error"),
            }
        )
    return pa.Table.from_pylist(rows)


def print_evaluation(ev: UpliftEvaluation, fmt: TableFormat, title: str, extra: dict[str, Any]) -> None:
    if fmt is TableFormat.json:
        print_json(
            {
                **extra,
                "definition": ev.definition,
                "k": ev.k,
                "rows": ev.summary.to_pylist(),
                "calibration": ev.calibration.to_pylist(),
            }
        )
        return
    if fmt is TableFormat.csv:
        emit(ev.summary, fmt, title="")
        return
    emit(evaluation_rows(ev), fmt, title=title, columns=EVAL_COLUMNS, percent=("observed_ate", "uplift_at_k"))
    cal = ev.calibration.select(["treatment", "bin", "n", "n_treated", "n_control", "predicted", "observed"])
    emit(cal, fmt, title="calibration by decile of predicted uplift (1 = highest)", percent=("predicted", "observed"))
    out.print(
        f"auuc, qini: normalised areas ({ev.definition} definition: 1 = perfect ranking, 0 = random); uplift_at_k: "
        f"treated − control retention among the top {ev.k:g} by predicted uplift; calibration: mean |predicted − "
        "observed| over deciles.",
        style="dim",
        markup=False,
    )


# -- commands ---------------------------------------------------------------------------------------------------------
ExperimentOpt = Annotated[str, typer.Option("--experiment", "-e", help="The assignments.experiment to learn from.")]
DayOpt = Annotated[int, typer.Option("--day", help="Outcome: retained (active) on day N after assignment.")]
LookbackOpt = Annotated[int, typer.Option("--lookback", help="K: features count the K days before the anchor day.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the train/test split and the base models.")]
KOpt = Annotated[float, typer.Option("--k", help="uplift@k: the top share by predicted uplift.")]
DataEndOpt = Annotated[
    dt.datetime | None, typer.Option(help="'Now' in UTC (default: the last event).", formats=["%Y-%m-%dT%H:%M:%S"])
]


@app.command("fit")
def fit(
    experiment: ExperimentOpt,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to save the fitted model (joblib).")],
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    day: DayOpt = 7,
    learner: Annotated[
        Learner, typer.Option("--learner", help="x, t, s, dr (doubly robust) or ct (class transformation).")
    ] = Learner.x,
    control: Annotated[str, typer.Option(help="The control variant.")] = "control",
    test_size: Annotated[float, typer.Option("--test-size", help="Held-out share for evaluation (0: none).")] = 0.3,
    seed: SeedOpt = 0,
    lookback: LookbackOpt = 28,
    k: KOpt = 0.3,
    data_end: DataEndOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Fit an uplift model on an experiment's train split; print held-out Qini, AUUC, uplift@k and calibration.

    The saved model is the evaluated one (fitted on the train split only). Re-check it later with
    [bold]liuliang uplift evaluate[/bold]; use it with [bold]liuliang target --model[/bold].
    """
    import joblib

    with open_workspace(existing_workspace(workspace)) as ws:
        saved, ev = fit_experiment_model(
            ws,
            experiment,
            learner=learner.value,
            day=day,
            lookback_days=lookback,
            control=control,
            seed=seed,
            test_size=test_size,
            k=k,
            data_end=data_end,
        )
    joblib.dump(saved, out_path)
    extra = {
        "model": str(out_path),
        "name": saved.name,
        "experiment": experiment,
        "learner": learner.value,
        "day": day,
        "seed": seed,
        "test_size": test_size,
        "train_users": len(saved.train_user_ids),
        "data_end": saved.data_end,
        "data_snapshot_id": saved.data_snapshot_id,
        "features": list(saved.feature_names),
    }
    if ev is None:
        if fmt is TableFormat.json:
            print_json({**extra, "rows": []})
        else:
            out.print(f"saved {out_path}: {saved.name}; no held-out evaluation (--test-size 0)", markup=False)
        return
    title = f"held-out evaluation of {saved.name}"
    print_evaluation(ev, fmt, title, extra)
    if fmt is TableFormat.table:
        out.print(f"saved {out_path}", markup=False)


@app.command("evaluate")
def evaluate(
    model_path: Annotated[Path, typer.Option("--model", "-m", help="A model file from liuliang uplift fit.")],
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    k: KOpt = 0.3,
    data_end: DataEndOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Re-evaluate a saved model on the experiment's users it was not trained on (held out, or assigned since)."""
    model = load_model(model_path)
    with open_workspace(existing_workspace(workspace)) as ws:
        ev, n = evaluate_saved(ws, model, k=k, data_end=data_end)
    extra = {"model": str(model_path), "name": model.name, "experiment": model.experiment, "users": n}
    print_evaluation(ev, fmt, f"{model.name}: {n:,} users it was not trained on", extra)


def target(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The plan: .csv or .parquet (+ .manifest.json).")],
    budget: Annotated[float, typer.Option("--budget", help="Total money for the plan (currency units).")],
    offer: Annotated[
        list[str], typer.Option("--offer", help="An incentive kind and its cost per user, KIND:COST. Repeatable.")
    ],
    workspace: WorkspaceOpt = Path("liuliang.duckdb"),
    model_path: Annotated[
        Path | None, typer.Option("--model", "-m", help="A model file from liuliang uplift fit.")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Without --model: fit one on this experiment now.")
    ] = None,
    learner: Annotated[Learner, typer.Option("--learner", help="With --experiment: the learner.")] = Learner.x,
    day: DayOpt = 7,
    uplift_file: Annotated[
        Path | None, typer.Option("--uplift", help="Precomputed uplift: user_id + one column per offer kind.")
    ] = None,
    cap: Annotated[list[str] | None, typer.Option("--cap", help="At most N users get KIND: KIND=N.")] = None,
    cap_money: Annotated[list[str] | None, typer.Option("--cap-money", help="At most M money on KIND: KIND=M.")] = None,
    arm: Annotated[list[str] | None, typer.Option("--arm", help="Use model arm ARM for offer KIND: KIND=ARM.")] = None,
    offer_scale: Annotated[
        list[str] | None,
        typer.Option("--offer-scale", help="Assume KIND's uplift is F x the first offer's: KIND=F (a what-if)."),
    ] = None,
    active_days: Annotated[
        int | None, typer.Option("--active-days", help="Candidates: active in these days before today.")
    ] = None,
    include_granted: Annotated[
        bool, typer.Option("--include-granted", help="Keep users granted an offered kind in that window.")
    ] = False,
    data_end: DataEndOpt = None,
    fmt: TableFormatOpt = TableFormat.table,
) -> None:
    """Budgeted targeting (dry run): who gets which offer so the budget buys the most retained users.

    Scores candidates — users active in the --active-days days before today (default: the model's lookback) who
    were not granted an offered kind in that window — and writes the plan and its manifest. It only writes files.

    Uplift per offer: a model arm with the offer's name (or --arm KIND=ARM); a single-arm model's uplift goes to the
    first --offer; other offers need --offer-scale KIND=F (F x the first offer's uplift, an assumption) — multi-kind
    uplift needs multi-arm data — or --uplift FILE with user_id and a column per offer (its users are the candidates).
    """
    if sum(x is not None for x in (model_path, experiment, uplift_file)) != 1:
        raise typer.BadParameter("give exactly one of --model, --experiment or --uplift", param_hint="--model")
    parsed = [parse_offer(o) for o in offer]
    counts, money = parse_pairs(cap, "--cap"), parse_pairs(cap_money, "--cap-money")
    names = [n for n, _ in parsed]
    for option, given in (("--cap", counts), ("--cap-money", money)):
        unknown = set(given) - set(names)
        if unknown:
            raise typer.BadParameter(f"no --offer named {sorted(unknown)}", param_hint=option)
    for n, c in counts.items():
        if c < 0 or c != int(c):
            raise typer.BadParameter(f"{n}={c:g}: a count cap must be a whole number >= 0", param_hint="--cap")
    offers = [Offer(n, c, None if n not in counts else int(counts[n]), money.get(n)) for n, c in parsed]
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the CLI is where "now" is injected
    with open_workspace(existing_workspace(workspace)) as ws:
        if uplift_file is not None:
            ids, U = read_uplift_file(uplift_file, names)
            end = data_end or (ws.event_span().last_ts if ws.event_span() else None)
            provenance = PlanProvenance(f"uplift file {uplift_file.name}", snapshot_id(ws, end) if end else "", created)
            plan = plan_targeting(ids, U, offers, budget, provenance=provenance, frontier_points=6)
            run = PlanRun(
                plan,
                int(ids.size),
                0,
                [f"{n}: column {n} of {uplift_file.name}" for n in names],
                random_value(U, plan, names),
            )
        else:
            if model_path is not None:
                model = load_model(model_path)
            else:
                assert experiment is not None
                model, _ = fit_experiment_model(ws, experiment, learner=learner.value, day=day, test_size=0.0)
            run = plan_from_model(
                ws,
                model,
                offers,
                budget,
                arm_of=parse_pairs(arm, "--arm", number=False),
                scale=parse_pairs(offer_scale, "--offer-scale"),
                active_days=active_days,
                include_granted=include_granted,
                data_end=data_end,
                created_at=created,
            )
    plan_file, manifest_file = run.plan.write(out_path)
    print_plan(run, fmt, plan_file, manifest_file)


def print_plan(run: PlanRun, fmt: TableFormat, plan_file: Path, manifest_file: Path) -> None:
    plan = run.plan
    ratio = (
        None
        if plan.expected_incremental <= 0 or run.random_incremental <= 0
        else plan.total_cost / run.random_incremental
    )
    if fmt is TableFormat.json:
        print_json(
            {
                "plan": str(plan_file),
                "manifest": str(manifest_file),
                "candidates": run.candidates,
                "excluded_already_granted": run.excluded,
                "uplift_source": run.uplift_source,
                "random_expected_incremental": run.random_incremental,
                "random_cost_per_incremental": ratio,
                **plan.manifest(),
            }
        )
        return
    if fmt is TableFormat.csv:
        emit(plan.by_offer, fmt, title="")
        return
    emit(
        plan.by_offer.select(["incentive", "users", "cost", "expected_incremental"]),
        fmt,
        title="budgeted plan by offer",
    )
    cpi = "-" if math.isnan(plan.cost_per_incremental) else f"{plan.cost_per_incremental:,.2f}"
    rnd = "-" if ratio is None else f"{ratio:,.2f}"
    out.print(
        f"budget {plan.budget:,.2f}: {plan.assignments.num_rows:,} of {run.candidates:,} candidates chosen, cost "
        f"{plan.total_cost:,.2f}, expected incremental retained users {plan.expected_incremental:,.1f} "
        f"(proven upper bound {plan.upper_bound:,.1f}, gap {plan.gap:.3g}).",
        markup=False,
    )
    out.print(
        f"cost per incremental retained user: {cpi} (random targeting, same budget and offers: "
        f"{run.random_incremental:,.1f} users, {rnd} each).",
        markup=False,
    )
    fr = plan.frontier.to_pylist()
    points = ", ".join(f"{r['budget']:,.0f} -> {r['expected_incremental']:,.1f}" for r in fr[1:])
    out.print(f"frontier (budget -> expected incremental retained): {points}", markup=False)
    out.print(
        f"uplift: {'; '.join(run.uplift_source)}. Candidates left out (already granted): {run.excluded:,}.",
        style="dim",
        markup=False,
    )
    out.print(f"dry run: wrote {plan_file} and {manifest_file}; nothing was sent.", markup=False)
