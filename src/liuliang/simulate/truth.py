"""The planted truth: exact activity probabilities, and the truth tables built from them.

Why exact: ``P(active on day k>0) = 1 - (1 - S_u(k)·lam_u)·(1 - b_u(k))`` with
``S_u(k) = (1 - h_u·(1 - e_u·treated_u))^k`` (day 0 always active) is computed, never estimated from the
simulated sample, so ``truth/channel_retention`` and ``truth/users`` are the answers an estimator must recover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from liuliang.simulate.arrays import decode
from liuliang.simulate.params import ConsumerParams
from liuliang.simulate.population import Users
from liuliang.simulate.schemas import RETENTION_SCHEMA, TRUTH_USERS_SCHEMA
from liuliang.simulate.vocabulary import CARD_PLANS, CHANNELS

#: The exact law in words, as written to ``truth/params.json``.
EXACT_LAW = (
    "P(active on day k>0) = 1 - (1 - S(k)*lam)*(1 - b(k)), S(k) = (1 - h*(1 - e*treated))^k; "
    "day 0 always active; b(k) = bump_probs[j] on k = card_expiry_day - j - acq_day for deadline-plan "
    "card holders; free-order card and coupon cost = value if redeemed inside the window, else 0"
)


def bump_prob(
    k: np.ndarray, acq_day: np.ndarray, bump_base: np.ndarray, deadline: np.ndarray, bump_probs: tuple
) -> np.ndarray:
    """``b_u(k)``: probability a deadline-plan card holder comes back on relative day ``k`` (broadcasts)."""
    b = np.zeros(np.broadcast_shapes(np.shape(k), np.shape(acq_day)))
    for j, pj in enumerate(bump_probs):
        b = b + pj * (deadline & (k == bump_base - j - acq_day) & (k > 0))
    return b


def active_prob(k: np.ndarray, hazard: np.ndarray, lam: np.ndarray, bump: np.ndarray) -> np.ndarray:
    """Exact ``P(active on relative day k)``; ``hazard`` already includes any treatment effect."""
    surv = np.exp(k * np.log1p(-hazard))
    p = 1.0 - (1.0 - surv * lam) * (1.0 - bump)
    return np.where(k == 0, 1.0, p)


@dataclass(frozen=True)
class RetentionSums:
    """Sufficient statistics of ``truth/channel_retention``: per channel and relative day, Σ exact P and counts.

    Why sums: each block contributes partial sums that merge with ``+`` (in block order, so even the float
    rounding is fixed), and the shares are divided out once, in :meth:`table`.
    """

    p_obs: np.ndarray  # (channels, days) Σ P over users observable on relative day k
    n_obs: np.ndarray  # (channels, days)
    p_all: np.ndarray  # (channels, days) Σ P over all users
    n_users: np.ndarray  # (channels,)

    @classmethod
    def zeros(cls, n_days: int) -> RetentionSums:
        n_ch = len(CHANNELS)
        return cls(
            p_obs=np.zeros((n_ch, n_days)),
            n_obs=np.zeros((n_ch, n_days), dtype=np.int64),
            p_all=np.zeros((n_ch, n_days)),
            n_users=np.zeros(n_ch, dtype=np.int64),
        )

    def __add__(self, other: RetentionSums) -> RetentionSums:
        return RetentionSums(
            p_obs=self.p_obs + other.p_obs,
            n_obs=self.n_obs + other.n_obs,
            p_all=self.p_all + other.p_all,
            n_users=self.n_users + other.n_users,
        )

    def table(self) -> pa.Table:
        """The ``truth/channel_retention`` table of these sums."""
        return _retention_table(self.p_obs, self.n_obs, self.p_all, self.n_users)


@dataclass(frozen=True)
class ExactTruth:
    """One block's exact truth: its retention sums and each user's true treatment effect on days 7 and 30."""

    retention: RetentionSums
    effect_d7: np.ndarray
    effect_d30: np.ndarray


def exact_truth(u: Users, p: ConsumerParams, n_days: int) -> ExactTruth:
    """Per-channel sums of the exact activity probabilities, and each user's true treatment effect."""
    k = np.arange(n_days)[None, :]
    bump = bump_prob(k, u.acq[:, None], u.expiry[:, None], u.deadline[:, None], p.bump_probs)
    prob = active_prob(k, u.hazard_eff[:, None], u.lam[:, None], bump)
    observable = (u.acq[:, None] + k) < n_days
    p_obs = prob * observable
    n_ch = len(CHANNELS)
    p_obs_sum, p_all_sum = np.zeros((n_ch, n_days)), np.zeros((n_ch, n_days))
    n_obs, n_users = np.zeros((n_ch, n_days), dtype=np.int64), np.zeros(n_ch, dtype=np.int64)
    for c in range(n_ch):
        m = u.ch == c
        p_obs_sum[c] = p_obs[m].sum(axis=0)
        p_all_sum[c] = prob[m].sum(axis=0)
        n_obs[c] = observable[m].sum(axis=0)
        n_users[c] = m.sum()
    effects = []
    for day in (7, 30):
        kv = np.full(len(u.acq), day)
        b = bump_prob(kv, u.acq, u.expiry, u.deadline, p.bump_probs)
        effects.append(active_prob(kv, u.hazard * (1 - u.reduction), u.lam, b) - active_prob(kv, u.hazard, u.lam, b))
    return ExactTruth(RetentionSums(p_obs_sum, n_obs, p_all_sum, n_users), effects[0], effects[1])


def truth_users_table(u: Users, exact: ExactTruth, user_ids: pa.Array) -> pa.Table:
    """``truth/users``: each user's latent parameters, experiment arm, true effect and free-order card."""
    return pa.table(
        {
            "user_id": user_ids,
            "channel": decode(CHANNELS, u.ch),
            "type": decode(("task", "hunter"), u.hunter.astype(np.int64)),
            "habitual": pa.array(u.habitual),
            "hazard": pa.array(u.hazard),
            "lam": pa.array(u.lam),
            "mu": pa.array(u.mu),
            "hazard_reduction": pa.array(u.reduction.astype(np.float64)),
            "treated": pa.array(u.treated, mask=~u.in_exp),
            "effect_d7": pa.array(exact.effect_d7),
            "effect_d30": pa.array(exact.effect_d30),
            "acq_day": pa.array(u.acq.astype(np.int32)),
            "card_expiry_day": pa.array(u.expiry.astype(np.int32), mask=~u.has_card),
            "card_plan": pa.array(np.asarray(CARD_PLANS, dtype=object)[np.maximum(u.plan, 0)], mask=~u.has_card),
        },
        schema=TRUTH_USERS_SCHEMA,
    )


def _retention_table(p_obs: np.ndarray, n_obs: np.ndarray, p_all: np.ndarray, n_users: np.ndarray) -> pa.Table:
    """``truth/channel_retention``: per channel (and "all") and relative day k.

    ``expected_share`` is the mean exact P(active on day k) over the ``n_observable`` users whose day
    ``acq + k`` is inside the window: directly comparable with what an analyst can measure (null when no user
    is observable). ``expected_share_all`` is the same mean over all ``n_users`` of the channel, the
    population curve regardless of where the window ends.
    """
    names = (*CHANNELS, "all")
    p_obs = np.vstack([p_obs, p_obs.sum(axis=0)])
    n_obs = np.vstack([n_obs, n_obs.sum(axis=0)])
    p_all = np.vstack([p_all, p_all.sum(axis=0)])
    n_users = np.append(n_users, n_users.sum())
    n_days = p_obs.shape[1]
    n_rep = np.repeat(n_users, n_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (p_obs / n_obs).ravel()
        share_all = (p_all / n_users[:, None]).ravel()
    return pa.table(
        {
            "channel": pa.array(np.repeat(np.asarray(names, dtype=object), n_days), type=pa.string()),
            "day": pa.array(np.tile(np.arange(n_days, dtype=np.int32), len(names))),
            "expected_share": pa.array(share, mask=n_obs.ravel() == 0),
            "n_observable": pa.array(n_obs.ravel().astype(np.int64)),
            "expected_share_all": pa.array(share_all, mask=n_rep == 0),
            "n_users": pa.array(n_rep.astype(np.int64)),
        },
        schema=RETENTION_SCHEMA,
    )
