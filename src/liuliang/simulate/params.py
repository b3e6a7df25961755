"""The consumer model's true parameters: every number the planted truth is made of.

Why frozen dataclasses of plain numbers: they are written verbatim (``asdict``) to ``truth/params.json``,
so an estimate can be compared with the exact value that generated the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Beta:
    """Beta(a, b) distribution of a per-user probability."""

    a: float
    b: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.beta(self.a, self.b, n)


@dataclass(frozen=True)
class Gamma:
    """Gamma(shape, scale) distribution of a per-user Poisson rate."""

    shape: float
    scale: float

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(self.shape, self.scale, n)


@dataclass(frozen=True)
class ConsumerParams:
    """Every true parameter of the consumer model; tuples are indexed by channel
    (:data:`~liuliang.simulate.vocabulary.CHANNELS`).

    Calibrated (by the exact formula, not by simulation) so the channels' day-7/day-30 retention lands
    where the press put it: red_packet D7 ≈ 17%, D30 ≈ 11%; free_order D7 ≈ 27%; organic D7 ≈ 37%;
    social_share D7 ≈ 11%, D30 ≈ 4%. Hunters' hazard Beta(1, 2) gives the power-law tail, habitual task
    users (hazard 0) the floor.
    """

    # acquisition intensity (relative users per local day)
    organic_daily: float = 1.0
    organic_weekend_lift: float = 0.15
    organic_festival_lift: float = 0.25
    red_packet_peak: float = 25.0
    red_packet_decay_days: float = 3.0
    free_order_peak: float = 6.0
    free_order_decay_days: float = 5.0
    free_order_tail_daily: float = 0.4
    free_order_tail_days: int = 28
    share_launch: tuple[float, ...] = (10.0, 12.0, 6.0)  # festival_start + 0, 1, 2; restricted on day 3
    # latent types
    hunter_share: tuple[float, ...] = (0.20, 0.72, 0.45, 0.88)
    habit_share_of_task: tuple[float, ...] = (0.45, 0.45, 0.40, 0.15)
    hazard_hunter: Beta = Beta(1.0, 2.0)
    hazard_task: Beta = Beta(1.2, 14.0)
    activity_hunter: Beta = Beta(2.0, 4.0)
    activity_task: Beta = Beta(5.0, 4.0)
    events_hunter: Gamma = Gamma(2.0, 1.0)  # extra events per active day: 1 + Poisson(mu)
    events_task: Gamma = Gamma(2.0, 3.2)
    order_share_hunter: float = 0.03
    order_share_task: float = 0.08
    task_text_share_hunter: float = 0.15
    task_text_share_task: float = 0.80
    script_mix: tuple[float, ...] = (0.75, 0.10, 0.15)  # zh-Hans, zh-Hant, en (a fixed script per user)
    # order amounts (CNY): food mostly, some tickets
    food_median: float = 35.0
    food_sigma: float = 0.35
    ticket_share: float = 0.12
    ticket_median: float = 180.0
    ticket_sigma: float = 0.6
    # acquisition cost per user (CNY): mean by channel, lognormal noise
    cac_mean: tuple[float, ...] = (2.0, 12.0, 25.0, 6.0)
    cac_sigma: float = 0.25
    # red packets
    red_packet_min: float = 0.5
    red_packet_max: float = 8.88
    red_packet_jackpot_prob: float = 0.03
    festival_packet_prob: float = 0.5  # per active festival day of a red_packet user after day 0
    share_packet_max: float = 3.0
    shares_per_day: float = 1.5  # 1 + Poisson(shares_per_day) shares per active campaign day
    share_after_restriction_prob: float = 0.05
    # free-order cards ("treat you"): value uniform in [min, max] yuan; expire at local end of day
    card_value_min: int = 15
    card_value_max: int = 30
    card_expiries: tuple[tuple[int, int], ...] = ((2, 28), (4, 30))  # (month, day) in the festival's year
    card_first_expiry_prob: float = 0.5  # when both expiries are possible
    card_fallback_days: int = 30  # expiry after acquisition when no listed date is at least 3 days ahead
    card_plan_probs: tuple[float, ...] = (0.45, 0.35, 0.20)  # immediate, deadline, organic (first visit)
    bump_probs: tuple[float, ...] = (0.45, 0.25, 0.15)  # deadline plan: back on expiry day, -1, -2
    # "first order of the day ¥X off" after the festival
    coupon_prob: float = 0.08
    coupon_use_prob: float = 0.6
    coupon_values: tuple[float, ...] = (3.0, 4.0, 5.0)
    # the experiment
    experiment_name: str = "challenge7"
    experiment_days: int = 28  # acquisitions in [festival_end, festival_end + experiment_days) take part
    treatment_share: float = 0.5
    effect_hunter: float = 0.05  # treated hazard = h * (1 - effect)
    effect_task: float = 0.35
    challenge_days: int = 7  # treated users get a points grant on each active day k < challenge_days
    points_min: float = 1.0
    points_max: float = 5.0
