"""Benchmark: uplift fit + scoring on 1M generated users (time, peak memory, held-out Qini), against peers.

Every contender runs in its own child process (so peak RSS is its own) on the same generated users (same seed):
liuliang's T- and X-learners, a plain two-model scikit-learn baseline, scikit-uplift's ``TwoModels`` if it imports,
and causalml's ``BaseTClassifier`` / ``BaseXClassifier`` if it imports — causalml can live in another environment
(it pulls xgboost, lightgbm, shap and numba), given with ``--causalml-python``. All use the same
HistGradientBoosting base models with early stopping and the known propensity 0.5, so the ratios compare the
meta-learner code, not the base learner. Data generation is not timed.

Contenders run in interleaved rounds and each one's fastest round is reported: on a shared 2-core machine a single
timing swings several-fold with other jobs' load (two 1M-user runs of identical two-model fits measured 13.8 s and
107.7 s), so only interleaved minima are worth comparing.

    python benchmarks/bench_uplift.py                                   # 1M users, 3 rounds
    python benchmarks/bench_uplift.py --users 200000 --causalml-python /tmp/cmlvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CONTENDERS = ("liuliang-T", "liuliang-X", "sklearn-two-model", "sklift-TwoModels", "causalml-T", "causalml-X")


def make_users(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """X (n x 8), treatment 0/1 (p = 0.5), retained 0/1 and the true uplift (new users respond, 0.2)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    tau = np.where(X[:, 0] > 0, 0.2, 0.0) - 0.05 * (X[:, 3] > 1)
    t = rng.integers(0, 2, n)
    p = 0.1 + 0.5 / (1 + np.exp(-(X[:, 2] - 0.5))) + t * tau
    return X, t, rng.binomial(1, p).astype(float), tau


def hgb(kind: str):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if kind == "clf" else HistGradientBoostingRegressor
    return cls(early_stopping=True, random_state=0)


def fit_predict(name: str, X, t, y, X_test) -> np.ndarray:
    if name == "liuliang-T":
        from liuliang.causal.meta_learners import TLearner

        return TLearner().fit(X, t, y).predict(X_test)[:, 0]
    if name == "liuliang-X":
        from liuliang.causal.meta_learners import XLearner

        return XLearner().fit(X, t, y, propensity=0.5).predict(X_test)[:, 0]
    if name == "sklearn-two-model":
        m1, m0 = hgb("clf").fit(X[t == 1], y[t == 1]), hgb("clf").fit(X[t == 0], y[t == 0])
        return m1.predict_proba(X_test)[:, 1] - m0.predict_proba(X_test)[:, 1]
    if name == "sklift-TwoModels":
        from sklift.models import TwoModels

        return TwoModels(estimator_trmnt=hgb("clf"), estimator_ctrl=hgb("clf")).fit(X, y, t).predict(X_test)
    if name == "causalml-T":
        from causalml.inference.meta import BaseTClassifier

        return BaseTClassifier(learner=hgb("clf"), control_name=0).fit(X, t, y).predict(X_test)[:, 0]
    if name == "causalml-X":
        from causalml.inference.meta import BaseXClassifier

        m = BaseXClassifier(outcome_learner=hgb("clf"), effect_learner=hgb("reg"), control_name=0)
        m.fit(X, t, y, p=np.full(len(t), 0.5))
        return m.predict(X_test, p=np.full(len(X_test), 0.5))[:, 0]
    raise ValueError(name)


def child(name: str, users: int, repeat: int) -> None:
    """Run one contender and print one JSON line: best-of-``repeat`` seconds, peak RSS, Qini on held-out users."""
    import warnings

    warnings.simplefilter("ignore")
    X, t, y, _ = make_users(users, seed=1)
    Xt, tt, yt, taut = make_users(200_000, seed=2)
    times = []
    for _ in range(repeat):  # best of several: the machine is shared and single timings are noisy
        t0 = time.perf_counter()
        pred = fit_predict(name, X, t, y, Xt)
        times.append(time.perf_counter() - t0)
    seconds = min(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"name": name, "seconds": seconds, "peak_mb": peak_mb, "corr_true": float(np.corrcoef(pred, taut)[0, 1])}
    try:
        from liuliang.causal.evaluation import qini_coefficient

        out["qini"] = qini_coefficient(yt, pred, tt)
        out["qini_oracle"] = qini_coefficient(yt, taut, tt)
    except ImportError:  # causalml's environment has no liuliang: the parent scores corr only
        pass
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--causalml-python", default=None, help="interpreter of an environment with causalml")
    ap.add_argument("--repeat", type=int, default=1, help="fits per child process; the fastest is reported")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all contenders")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.users, args.repeat)
        return
    print(
        f"uplift fit + score: {args.users:,} training users, 200,000 scored; one child process per contender and "
        f"round, {args.rounds} interleaved round(s), fastest round reported"
    )
    results: dict[str, dict] = {}
    for _ in range(args.rounds):  # interleaved, so a burst of load on the shared machine hits every contender
        for name in CONTENDERS:
            python = sys.executable
            if name.startswith("causalml") and args.causalml_python:
                python = args.causalml_python
            cmd = [python, str(Path(__file__).resolve()), "--users", str(args.users), "--repeat", str(args.repeat)]
            proc = subprocess.run([*cmd, "--child", name], capture_output=True, text=True, check=False)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"  {name:<20} skipped: {last[:100]}")
                continue
            r = json.loads(lines[-1])
            if name not in results or r["seconds"] < results[name]["seconds"]:
                results[name] = r
    ref = results.get("liuliang-T")
    print(f"{'contender':<20}{'seconds':>9}{'peak MB':>9}{'qini':>8}{'corr(τ)':>9}{'time / liuliang-T':>19}")
    for name, r in results.items():
        ratio = f"{r['seconds'] / ref['seconds']:.2f}x" if ref else "-"
        qini = f"{r['qini']:.4f}" if "qini" in r else "-"
        print(f"{name:<20}{r['seconds']:>9.1f}{r['peak_mb']:>9.0f}{qini:>8}{r['corr_true']:>9.3f}{ratio:>19}")
    if ref and "qini_oracle" in ref:
        print(f"oracle qini (ranking by the true uplift): {ref['qini_oracle']:.4f}")


if __name__ == "__main__":
    main()
