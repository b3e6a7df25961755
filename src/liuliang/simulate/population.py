"""Who the consumers are: one block's latent types, parameters, experiment arm and free-order card.

Why apart from behaviour: these per-user draws are all the exact truth needs (:mod:`~liuliang.simulate.truth`);
what users then do (:mod:`~liuliang.simulate.activity`) is realised from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liuliang.simulate.context import Calendar, WorldContext
from liuliang.simulate.params import ConsumerParams
from liuliang.simulate.vocabulary import FREE_ORDER


@dataclass(frozen=True)
class Users:
    """One block's users: acquisition, latent type and parameters, experiment arm, free-order card."""

    acq: np.ndarray  # local day index
    ch: np.ndarray  # channel code
    hunter: np.ndarray
    habitual: np.ndarray
    hazard: np.ndarray
    lam: np.ndarray
    mu: np.ndarray
    script: np.ndarray  # index into texts.SCRIPTS
    cac: np.ndarray
    in_exp: np.ndarray
    treated: np.ndarray
    reduction: np.ndarray  # treated hazard = hazard * (1 - reduction)
    hazard_eff: np.ndarray  # the hazard the user actually lives with
    has_card: np.ndarray
    expiry: np.ndarray  # card expiry day index (-1 without a card)
    plan: np.ndarray  # index into CARD_PLANS (-1 without a card)
    bump_day: np.ndarray  # deadline plan: the day the user comes back to redeem (-1: does not)

    @property
    def deadline(self) -> np.ndarray:
        return self.plan == 1


def _choice(rng: np.random.Generator, probs: tuple[float, ...], n: int) -> np.ndarray:
    """Categorical draws with (normalised) ``probs``."""
    idx = np.searchsorted(np.cumsum(probs), rng.random(n) * sum(probs), side="right")
    return np.minimum(idx, len(probs) - 1)


def _card_expiry(acq: np.ndarray, has_card: np.ndarray, u: np.ndarray, cal: Calendar, p: ConsumerParams) -> np.ndarray:
    """Each listed expiry at least 3 days after acquisition is taken with ``card_first_expiry_prob``, the last
    one always; a card acquired too late for all of them expires ``card_fallback_days`` after acquisition."""
    expiry = np.full(len(acq), -1, dtype=np.int64)
    pending = has_card.copy()
    for i, e in enumerate(cal.card_expiries):
        ok = pending & (acq + 3 <= e)
        if i < len(cal.card_expiries) - 1:
            ok &= u < p.card_first_expiry_prob
        expiry = np.where(ok, e, expiry)
        pending &= ~ok
    return np.where(pending, acq + p.card_fallback_days, expiry)


def draw_users(rng: np.random.Generator, ctx: WorldContext, acq_day: np.ndarray, channel: np.ndarray) -> Users:
    """Draw one block's users; the order of the draws is part of the output's definition."""
    cfg, p, cal = ctx.config, ctx.params, ctx.calendar
    n = len(acq_day)
    acq = acq_day.astype(np.int64)
    ch = channel.astype(np.int64)
    hunter = rng.random(n) < np.asarray(p.hunter_share)[ch]
    habitual = ~hunter & (rng.random(n) < np.asarray(p.habit_share_of_task)[ch])
    hazard = np.where(hunter, p.hazard_hunter.draw(rng, n), p.hazard_task.draw(rng, n))
    hazard = np.where(habitual, 0.0, np.minimum(hazard, 1.0 - 1e-9))
    lam = np.where(hunter, p.activity_hunter.draw(rng, n), p.activity_task.draw(rng, n))
    mu = np.where(hunter, p.events_hunter.draw(rng, n), p.events_task.draw(rng, n))
    script = _choice(rng, p.script_mix, n)
    z = rng.standard_normal(n)
    cac = np.round(np.asarray(p.cac_mean)[ch] * np.exp(p.cac_sigma * z - p.cac_sigma**2 / 2), 2)

    in_exp = cfg.experiment & (acq >= cal.exp_lo) & (acq < cal.exp_hi)
    treated = in_exp & (rng.random(n) < p.treatment_share)
    reduction = np.where(hunter, p.effect_hunter, p.effect_task)

    has_card = ch == FREE_ORDER
    expiry = _card_expiry(acq, has_card, rng.random(n), cal, p)
    plan = np.where(has_card, _choice(rng, p.card_plan_probs, n), -1)
    bump_j = np.searchsorted(np.cumsum(p.bump_probs), rng.random(n), side="right")  # == len: not back
    bump_day = np.where((plan == 1) & (bump_j < len(p.bump_probs)), expiry - bump_j, -1)
    return Users(
        acq=acq,
        ch=ch,
        hunter=hunter,
        habitual=habitual,
        hazard=hazard,
        lam=lam,
        mu=mu,
        script=script,
        cac=cac,
        in_exp=in_exp,
        treated=treated,
        reduction=reduction,
        hazard_eff=np.where(treated, hazard * (1.0 - reduction), hazard),
        has_card=has_card,
        expiry=expiry,
        plan=plan,
        bump_day=bump_day,
    )
