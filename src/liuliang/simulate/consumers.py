"""The consumer simulation: one block of users, from their draws to the tables the world writes.

The consumer model (see ``truth/params.json`` for every number):

- Acquisition: per local day and channel, a deterministic intensity (organic steady with weekly
  seasonality; red_packet and free_order spikes peaking on New Year's Eve; social_share for 3 days).
- Each user is a ``hunter`` (incentive hunter) or ``task`` user (uses the assistant to do things); some
  task users are ``habitual`` (hazard 0: the habit floor). Daily churn hazard ``h ~ Beta`` by type, so the
  aggregate curve is shifted-beta-geometric: power-law decay with a floor. While alive (days 0..D-1,
  ``D ~ Geometric(h)``) the user is active on a day with probability ``lam ~ Beta``.
- A free-order card holder whose plan is to use the card at the deadline shows up on one of the last three
  days before expiry with known probabilities ``b_u(k)``, independently of everything else, even if churned.
- Hence, exactly: ``P(active on day k>0) = 1 - (1 - S_u(k)·lam_u)·(1 - b_u(k))`` with
  ``S_u(k) = (1 - h_u·(1 - e_u·treated_u))^k``, and day 0 is always active. ``truth/channel_retention`` is the
  mean of these probabilities, and ``truth/users`` holds each user's parameters and true treatment effect.

Incentives and extra events (red packets, card redemptions, coupons, points) are only emitted on days the
model already made active, so they never perturb the exact activity law.

Why a block: a block of :data:`BLOCK_USERS` users has its own random stream and bounded memory, so blocks
can be simulated ahead of the writer in any thread and still give the same files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from liuliang.simulate.activity import build_event_rows, events_table, realise_activity
from liuliang.simulate.arrays import decode, id_strings, ts_array
from liuliang.simulate.context import WorldContext
from liuliang.simulate.incentives import incentives_table
from liuliang.simulate.population import Users, draw_users
from liuliang.simulate.schemas import ASSIGNMENTS_SCHEMA, USERS_SCHEMA
from liuliang.simulate.streams import STREAM_CONSUMERS, block_rng
from liuliang.simulate.truth import RetentionSums, exact_truth, truth_users_table
from liuliang.simulate.vocabulary import CAMPAIGNS, CHANNELS

#: Users per random-stream block. Fixed, so no output depends on how users are grouped into chunks.
BLOCK_USERS = 2_000


@dataclass(frozen=True)
class ConsumerBlock:
    """Tables of one block plus its contribution to the retention truth (sums, merged in block order)."""

    events: pa.Table
    users: pa.Table
    incentives: pa.Table
    assignments: pa.Table
    truth: pa.Table
    retention: RetentionSums


def simulate_consumers(ctx: WorldContext, block: int, acq_day: np.ndarray, channel: np.ndarray) -> ConsumerBlock:
    """Simulate one block of users over the whole window, exactly and vectorised.

    The order of the random draws (the call order below) is part of the output's definition.
    """
    rng = block_rng(ctx.config.seed, STREAM_CONSUMERS, block)
    n_days = ctx.config.days
    u = draw_users(rng, ctx, acq_day, channel)
    exact = exact_truth(u, ctx.params, n_days)
    act = realise_activity(rng, u, n_days)
    rows = build_event_rows(rng, ctx, u, act)
    del act
    n = len(u.acq)
    user_ids = id_strings("u", block * BLOCK_USERS, n, ctx.id_width)
    signup_ts = rows.open_ts[np.searchsorted(rows.uu, np.arange(n))]  # day 0 is each user's first active day
    incentives = incentives_table(rng, ctx, u, rows, signup_ts, user_ids)
    return ConsumerBlock(
        events=events_table(rows, user_ids, block),
        users=_users_table(u, signup_ts, user_ids),
        incentives=incentives,
        assignments=_assignments_table(u, signup_ts, user_ids, ctx.params.experiment_name),
        truth=truth_users_table(u, exact, user_ids),
        retention=exact.retention,
    )


def _users_table(u: Users, signup_ts: np.ndarray, user_ids: pa.Array) -> pa.Table:
    """``users``: what an analyst sees of each user (signup, channel, campaign, acquisition cost)."""
    return pa.table(
        {
            "user_id": user_ids,
            "signup_ts": ts_array(signup_ts),
            "channel": decode(CHANNELS, u.ch),
            "campaign": decode(CAMPAIGNS, u.ch),
            "acquisition_cost": pa.array(u.cac, type=pa.float64()),
        },
        schema=USERS_SCHEMA,
    )


def _assignments_table(u: Users, signup_ts: np.ndarray, user_ids: pa.Array, experiment: str) -> pa.Table:
    """``assignments``: the experiment's users and their arm, assigned at signup."""
    exp_idx = np.nonzero(u.in_exp)[0]
    return pa.table(
        {
            "user_id": user_ids.take(pa.array(exp_idx)),
            "experiment": pa.array(np.full(len(exp_idx), experiment), type=pa.string()),
            "variant": decode(("control", "treatment"), u.treated[exp_idx].astype(np.int64)),
            "ts": ts_array(signup_ts[exp_idx]),
        },
        schema=ASSIGNMENTS_SCHEMA,
    )
