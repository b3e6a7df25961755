"""A generated world with a known heterogeneous incentive effect, shared by the uplift tests and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class UpliftWorld:
    X: np.ndarray
    treatment: np.ndarray  # labels: "none", "red_packet", "free_order" (or 0/1 with one arm)
    y: np.ndarray  # retained (0/1)
    tau: np.ndarray  # true uplift per treatment arm, columns in sorted arm order


def make_world(n: int, *, seed: int, arms: tuple[str, ...] = ("red_packet",), p_treat: float = 0.5) -> UpliftWorld:
    """Retention probability = base(x) + τ_arm(x); τ_red_packet helps new users only, τ_free_order grows with x1.

    Effects are planted on the probability scale so the truth is exact: base lies in [0.1, 0.6] and every τ in
    [−0.05, 0.25], so probabilities stay in [0, 1].
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    base = 0.1 + 0.5 / (1 + np.exp(-(X[:, 2] - 0.5)))
    taus = {
        "red_packet": np.where(X[:, 0] > 0, 0.2, 0.0) - 0.05 * (X[:, 3] > 1),
        "free_order": 0.1 + 0.1 * np.clip(X[:, 1], -1, 1),
    }
    probs = np.r_[1 - p_treat, np.full(len(arms), p_treat / len(arms))]
    labels = np.array(["none", *arms])
    t = labels[rng.choice(len(labels), size=n, p=probs)]
    p = base.copy()
    for a in arms:
        p += (t == a) * taus[a]
    y = rng.binomial(1, p).astype(float)
    tau = np.column_stack([taus[a] for a in sorted(arms)])
    return UpliftWorld(X, t, y, tau)
