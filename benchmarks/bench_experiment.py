"""Benchmark: does the experiment read's 95% interval cover the planted effect in >= 90% of generated worlds?

For each seed: generate a world (the "challenge7" experiment, users assigned at signup), ingest events and
assignments into an in-memory DuckDB workspace, read D7 and D30 retention with :func:`run_experiment`, and check
whether the interval covers the truth: the mean of ``truth/users`` ``effect_dN`` over every experiment user (the
estimand of a difference in means; every member is observed at D30 in a 100-day window). Also counts how often the
SRM check fires on the untouched worlds (expected ~0.1 %).

    python benchmarks/bench_experiment.py --seeds 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

import liuliang
from liuliang.causal.experiment import ExperimentSpec, run_experiment
from liuliang.simulate import WorldConfig, generate_world


def one(seed: int, users: int, base: Path) -> dict[str, object]:
    cfg = WorldConfig(n_users=users, days=100, seed=seed, courier_share=0.0)
    world = base / f"w{seed}"
    generate_world(cfg, world)
    truth = pq.read_table(world / "truth" / "users.parquet", columns=["treated", "effect_d7", "effect_d30"])
    truth = truth.filter(pc.is_valid(truth["treated"]))
    with liuliang.Workspace.open(":memory:", tz=cfg.tz) as ws:
        ws.ingest(world / "events", table="events")
        ws.ingest(world / "assignments.parquet", table="assignments")
        res = run_experiment(ws, ExperimentSpec("challenge7", metrics=("d7", "d30"), cuped_days=0))
    out: dict[str, object] = {"seed": seed, "srm": res.srm.mismatch}
    for d in (7, 30):
        r = res.row(f"retention_d{d}", "treatment")
        effect = pc.mean(truth[f"effect_d{d}"]).as_py()
        out[f"d{d}"] = r["ci_lower"] <= effect <= r["ci_upper"]
        out[f"d{d}_width"] = r["ci_upper"] - r["ci_lower"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--users", type=int, default=4000)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            rows.append(one(seed, args.users, Path(tmp)))
    n = len(rows)
    for d in (7, 30):
        cover = sum(bool(r[f"d{d}"]) for r in rows) / n
        width = sum(float(r[f"d{d}_width"]) for r in rows) / n  # type: ignore[arg-type]
        print(f"D{d}: 95% interval covers the planted effect in {cover:.0%} of {n} worlds (mean width {width:.3f})")
    print(f"SRM fired in {sum(bool(r['srm']) for r in rows)} of {n} untouched worlds")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
