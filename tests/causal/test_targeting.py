"""Budget-constrained targeting: limits never exceeded, exact on one kind, bounded gap on several, beats baselines."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liuliang.causal.targeting import Offer, PlanLimitError, PlanProvenance, plan_targeting
from liuliang.errors import ModelInputError

CREATED = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)


def brute_force(U, costs, caps_count, caps_money, budget) -> float:
    """Best value over every assignment (each user: nothing or one kind) that respects every limit."""
    n, K = U.shape
    best = 0.0
    for combo in itertools.product(range(-1, K), repeat=n):
        c = np.array(combo)
        s = np.flatnonzero(c >= 0)
        kinds = c[s]
        if (U[s, kinds] <= 0).any() or costs[kinds].sum() > budget + 1e-9:
            continue
        cnt = np.bincount(kinds, minlength=K)
        if any(caps_count[k] is not None and cnt[k] > caps_count[k] for k in range(K)):
            continue
        if any(caps_money[k] is not None and cnt[k] * costs[k] > caps_money[k] + 1e-9 for k in range(K)):
            continue
        best = max(best, float(U[s, kinds].sum()))
    return best


def baseline(U, costs, caps_count, caps_money, budget, order) -> float:
    """Walk users in ``order``; give each the offer with the highest uplift that still fits (positive only)."""
    K = U.shape[1]
    left, count, money, value = budget, np.zeros(K), np.zeros(K), 0.0
    for i in order:
        for k in np.argsort(-U[i]):
            fits = U[i, k] > 0 and costs[k] <= left + 1e-9
            fits = fits and (caps_count[k] is None or count[k] + 1 <= caps_count[k])
            fits = fits and (caps_money[k] is None or money[k] + costs[k] <= caps_money[k] + 1e-9)
            if fits:
                left -= costs[k]
                count[k] += 1
                money[k] += costs[k]
                value += U[i, k]
                break
    return value


@st.composite
def instances(draw, max_users=6, max_kinds=3):
    n = draw(st.integers(1, max_users))
    K = draw(st.integers(1, max_kinds))
    U = np.array(draw(st.lists(st.integers(-30, 100), min_size=n * K, max_size=n * K)), dtype=float).reshape(n, K)
    U /= 1000
    costs = np.array(draw(st.lists(st.sampled_from([1.0, 1.5, 2.0, 3.8, 5.0, 15.0]), min_size=K, max_size=K)))
    caps_count = draw(st.lists(st.none() | st.integers(0, 4), min_size=K, max_size=K))
    caps_money = draw(st.lists(st.none() | st.sampled_from([0.0, 3.0, 7.6, 20.0]), min_size=K, max_size=K))
    budget = draw(st.sampled_from([0.0, 1.0, 3.8, 7.6, 9.99, 12.0, 30.0, 100.0]))
    return U, costs, caps_count, caps_money, budget


def solve(U, costs, caps_count, caps_money, budget, **kw):
    offers = [
        Offer(f"o{k}", float(costs[k]), max_count=caps_count[k], max_cost=caps_money[k]) for k in range(len(costs))
    ]
    return plan_targeting(np.arange(U.shape[0]), U, offers, budget, **kw)


@settings(max_examples=120, deadline=None)
@given(inst=instances(), exact=st.booleans())
def test_limits_never_exceeded_bound_valid_and_solution_optimal(inst, exact) -> None:
    """Tiny instances against brute force. ``exact=False`` turns the 0/1 program off, which leaves the Lagrangian
    greedy: still exact on one kind, a heuristic with a valid bound on several."""
    U, costs, caps_count, caps_money, budget = inst
    plan = solve(U, costs, caps_count, caps_money, budget, frontier_points=3, exact_max_offers=2_000 if exact else 0)
    d = plan.to_pandas()
    k = d["incentive"].str[1:].astype(int).to_numpy()
    # limits, recomputed here independently of the solver's own check
    assert d["cost"].sum() <= budget + 1e-9
    assert d["user_id"].is_unique and (d["expected_uplift"] > 0).all()
    for j in range(len(costs)):
        assert caps_count[j] is None or (k == j).sum() <= caps_count[j]
        assert caps_money[j] is None or (k == j).sum() * costs[j] <= caps_money[j] + 1e-9
    np.testing.assert_allclose(d["expected_uplift"], U[d["user_id"], k])
    best = brute_force(U, costs, caps_count, caps_money, budget)
    assert plan.expected_incremental <= best + 1e-9
    assert plan.upper_bound >= best - 1e-9  # the Lagrangian / LP bound is a bound
    assert plan.gap >= 0
    if exact or len(costs) == 1:
        assert plan.expected_incremental == pytest.approx(best, abs=1e-12)
    frontier = plan.frontier.to_pandas()
    assert (frontier["total_cost"] <= frontier["budget"] + 1e-9).all()
    assert (frontier["upper_bound"] >= frontier["expected_incremental"] - 1e-12).all()


@settings(max_examples=100, deadline=None)
@given(inst=instances(max_users=8), seed=st.integers(0, 1000))
def test_plan_beats_random_and_most_active_first(inst, seed) -> None:
    U, costs, caps_count, caps_money, budget = inst
    plan = solve(U, costs, caps_count, caps_money, budget, frontier_points=0)
    rng = np.random.default_rng(seed)
    activity = rng.random(U.shape[0])
    assert (
        plan.expected_incremental >= baseline(U, costs, caps_count, caps_money, budget, rng.permutation(len(U))) - 1e-12
    )
    assert (
        plan.expected_incremental >= baseline(U, costs, caps_count, caps_money, budget, np.argsort(-activity)) - 1e-12
    )


def test_several_kinds_beat_baselines_on_a_realistic_population() -> None:
    """20,000 users, red_packet 3.8 vs free_order 15: uplift concentrated in a minority, uncorrelated with activity
    in part (incentive hunters are active but do not respond). Baselines use the same budget and caps."""
    rng = np.random.default_rng(7)
    n = 20_000
    activity = rng.gamma(2.0, 1.0, n)
    responsive = rng.random(n) < 0.25
    hunter = activity > np.quantile(activity, 0.8)
    U = np.column_stack(
        [
            np.where(responsive, rng.uniform(0.02, 0.12, n), rng.normal(0.0, 0.01, n)),
            np.where(responsive, rng.uniform(0.05, 0.3, n), rng.normal(0.0, 0.02, n)),
        ]
    )
    U[hunter] *= 0.2
    costs, caps_count, caps_money, budget = np.array([3.8, 15.0]), [3000, None], [None, 30_000.0], 50_000.0
    plan = solve(U, costs, caps_count, caps_money, budget)
    rand = baseline(U, costs, caps_count, caps_money, budget, rng.permutation(n))
    active = baseline(U, costs, caps_count, caps_money, budget, np.argsort(-activity))
    assert plan.expected_incremental > 1.5 * max(rand, active)
    assert plan.gap <= 1e-3 * plan.upper_bound
    assert plan.total_cost <= budget
    by = plan.by_offer.to_pandas().set_index("incentive")
    assert by.loc["o0", "users"] <= 3000 and by.loc["o1", "cost"] <= 30_000
    front = plan.frontier.to_pandas()
    assert front["expected_incremental"].is_monotonic_increasing
    assert plan.cost_per_incremental == pytest.approx(plan.total_cost / plan.expected_incremental)


def test_money_is_exact_at_the_knapsack_boundary() -> None:
    """7.6 / 3.8 is 1.9999999999999998 in floating point; in integer fen it is exactly 2 offers."""
    plan = plan_targeting(["a", "b", "c"], [[0.3], [0.2], [0.1]], [Offer("red_packet", 3.8)], 7.6)
    assert plan.to_pandas()["user_id"].tolist() == ["a", "b"] and plan.total_cost == pytest.approx(7.6)
    with pytest.raises(ModelInputError, match="whole number"):
        plan_targeting(["a"], [[0.3]], [Offer("red_packet", 3.805)], 10)


def test_negative_uplift_is_never_given_even_with_budget_left() -> None:
    plan = plan_targeting(["a", "b"], [[-0.1, 0.0], [0.2, -0.3]], [Offer("rp", 1), Offer("fo", 2)], 1000)
    assert plan.to_pandas()[["user_id", "incentive"]].values.tolist() == [["b", "rp"]]


def test_tampered_plan_fails_its_limit_check() -> None:
    plan = plan_targeting(["a", "b"], [[0.3], [0.2]], [Offer("rp", 5)], 10)
    over = dataclasses.replace(plan, _budget_minor=999)
    with pytest.raises(PlanLimitError, match="over the budget"):
        over.check_limits()
    rows = plan.assignments.to_pylist()
    dup = dataclasses.replace(plan, assignments=pa.Table.from_pylist(rows + rows[:1]))
    with pytest.raises(PlanLimitError, match="more than one offer"):
        dup.check_limits()
    capped = dataclasses.replace(plan, offers=(Offer("rp", 5, max_count=1),))
    with pytest.raises(PlanLimitError, match="cap"):
        capped.write("never-written.csv")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_plan_and_manifest(tmp_path, suffix) -> None:
    prov = PlanProvenance(model_name="XLearner v1", data_snapshot_id="ws@2026-02-19", created_at=CREATED)
    plan = plan_targeting(
        ["u1", "u2", "u3"],
        [[0.3, 0.5], [0.1, 0.2], [0.2, -0.1]],
        [Offer("red_packet", 3.8), Offer("free_order", 15, max_count=5)],
        20,
        provenance=prov,
    )
    path, manifest_path = plan.write(tmp_path / f"plan{suffix}")
    table = pq.read_table(path) if suffix == ".parquet" else pa.csv.read_csv(path)
    assert table.column_names == ["user_id", "incentive", "expected_uplift", "cost", "reason"]
    assert table.num_rows == 2
    m = json.loads(manifest_path.read_text())
    assert m["created_at"] == "2026-02-20T09:30:00+00:00" and m["dry_run"] is True
    assert m["model_name"] == "XLearner v1" and m["data_snapshot_id"] == "ws@2026-02-19"
    assert m["budget"] == 20 and m["offers"][1]["max_count"] == 5
    assert m["totals"]["total_cost"] == pytest.approx(18.8) and m["file"] == path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, manifest_path.name])
    no_prov = dataclasses.replace(plan, provenance=None)
    with pytest.raises(ModelInputError, match="provenance"):
        no_prov.write(tmp_path / "x.csv")
