"""The festival world: schema, determinism, calendar, and realised behaviour against the planted truth.

Realised quantities are recomputed here from the written Parquet files with plain pandas/numpy (local days
via the zone database), never from the generator's internals, so a generator bug shows up as a mismatch.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from liuliang.simulate import WorldConfig, generate_world
from liuliang.simulate.texts import labelled_texts

SMALL = WorldConfig(n_users=3000, days=60, courier_share=0.1, chunk_users=50_000, seed=7)
# Larger world for the statistical checks (more users per channel, few couriers).
STAT = WorldConfig(n_users=20_000, days=60, courier_share=0.01, seed=11)

TS = "timestamp[us, tz=UTC]"
EVENT_COLUMNS = {
    "event_id": "string",
    "user_id": "string",
    "ts": TS,
    "event": "string",
    "amount": "double",
    "platform": "string",
    "text": "string",
}
EXPECTED_SCHEMAS = {
    "users.parquet": {
        "user_id": "string",
        "signup_ts": TS,
        "channel": "string",
        "campaign": "string",
        "acquisition_cost": "double",
    },
    "incentives.parquet": {
        "user_id": "string",
        "ts": TS,
        "kind": "string",
        "value": "double",
        "cost": "double",
        "campaign": "string",
        "expires_ts": TS,
        "redeemed_ts": TS,
    },
    "assignments.parquet": {"user_id": "string", "experiment": "string", "variant": "string", "ts": TS},
    "couriers/incentives.parquet": {
        "user_id": "string",
        "ts": TS,
        "kind": "string",
        "value": "double",
        "cost": "double",
        "campaign": "string",
        "expires_ts": TS,
        "redeemed_ts": TS,
    },
    "couriers/users.parquet": {
        "user_id": "string",
        "signup_ts": TS,
        "home_platform": "string",
        "new_courier": "bool",
    },
    "truth/channel_retention.parquet": {
        "channel": "string",
        "day": "int32",
        "expected_share": "double",
        "n_observable": "int64",
        "expected_share_all": "double",
        "n_users": "int64",
    },
}
TRUTH_USER_COLUMNS = {
    "user_id": "string",
    "channel": "string",
    "type": "string",
    "habitual": "bool",
    "hazard": "double",
    "lam": "double",
    "treated": "bool",
    "effect_d7": "double",
    "effect_d30": "double",
    "acq_day": "int32",
}
TRUTH_COURIER_COLUMNS = {
    "user_id": "string",
    "home_platform": "string",
    "multihoming": "bool",
    "bonus_campaign": "string",
    "switch_day": "int32",
    "flow_back_day": "int32",
}
CHANNELS = {"organic", "red_packet", "free_order", "social_share"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    generate_world(SMALL, out)
    return out


@pytest.fixture(scope="module")
def stat_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stat")
    generate_world(STAT, out)
    return out


def read_events(directory: Path) -> pd.DataFrame:
    parts = sorted(directory.glob("part-*.parquet"))
    assert parts, f"no parts in {directory}"
    return pa.concat_tables([pq.read_table(p) for p in parts]).to_pandas()


def local_day(ts: pd.Series, cfg: WorldConfig) -> np.ndarray:
    """Local day index relative to cfg.start, via the zone database (independent of the generator)."""
    local = ts.dt.tz_convert(cfg.tz).dt.tz_localize(None).dt.normalize()
    return ((local - pd.Timestamp(cfg.start)) // pd.Timedelta(days=1)).to_numpy()


def schema_dict(path: Path) -> dict[str, str]:
    return {f.name: str(f.type) for f in pq.read_schema(path)}


# ---------------------------------------------------------------------------------------------- schema
def test_schemas(small: Path) -> None:
    for part in [*small.glob("events/part-*.parquet"), *small.glob("couriers/events/part-*.parquet")]:
        assert schema_dict(part) == EVENT_COLUMNS, part
    for rel, expected in EXPECTED_SCHEMAS.items():
        assert schema_dict(small / rel) == expected, rel
    truth = schema_dict(small / "truth/users.parquet")
    assert {k: truth.get(k) for k in TRUTH_USER_COLUMNS} == TRUTH_USER_COLUMNS
    courier_truth = schema_dict(small / "truth/couriers.parquet")
    assert {k: courier_truth.get(k) for k in TRUTH_COURIER_COLUMNS} == TRUTH_COURIER_COLUMNS
    params = json.loads((small / "truth/params.json").read_text(encoding="utf-8"))
    assert params["config"]["seed"] == SMALL.seed
    assert {"hunter_share", "hazard_hunter", "hazard_task", "effect_task", "effect_hunter"} <= set(params["consumers"])


def test_row_contents(small: Path) -> None:
    ev = read_events(small / "events")
    users = pd.read_parquet(small / "users.parquet")
    assert len(users) == SMALL.n_users and users.user_id.is_unique
    assert users.user_id.str.fullmatch(r"u\d{7}").all()
    assert set(users.channel) == CHANNELS
    assert ev.event_id.is_unique
    assert set(ev.user_id) == set(users.user_id)
    assert set(ev.event) == {"app_open", "ask", "order", "redeem_red_packet", "share"}
    assert ev.platform.isna().all()
    assert ev.amount.notna().eq(ev.event == "order").all()
    assert (ev.loc[ev.event == "order", "amount"] > 0).all()
    assert ev.text.notna().eq(ev.event == "ask").all()
    assert 25 < len(ev) / len(users) < 100  # ~100 per user over the default 120 days; 60 days here
    # acquisition cost is channel specific: campaigns cost more than organic
    cac = users.groupby("channel").acquisition_cost.mean()
    assert cac["organic"] < cac["social_share"] < cac["red_packet"] < cac["free_order"]
    inc = pd.read_parquet(small / "incentives.parquet")
    assert set(inc.kind) <= {"red_packet", "coupon", "free_order", "transfer_bonus", "points", "other"}
    cards = inc[inc.kind == "free_order"]
    assert cards.value.between(15, 30).all()
    assert (cards.cost == np.where(cards.redeemed_ts.notna(), cards.value, 0.0)).all()
    packets = inc[inc.kind == "red_packet"]
    assert packets.value.between(0.5, 8.88).all() and (packets.cost == packets.value).all()
    # every redemption is an event at the same instant: an order for cards, a redeem event for red packets
    orders = set(zip(ev.user_id[ev.event == "order"], ev.ts[ev.event == "order"], strict=True))
    redeemed = cards[cards.redeemed_ts.notna()]
    assert all(k in orders for k in zip(redeemed.user_id, redeemed.redeemed_ts, strict=True))
    redeems = ev[ev.event == "redeem_red_packet"]
    assert set(zip(packets.user_id, packets.redeemed_ts, strict=True)) == set(
        zip(redeems.user_id, redeems.ts, strict=True)
    )
    # card plans: "immediate" redeems on the acquisition day, "deadline" only in the last 3 days before expiry
    truth = pd.read_parquet(small / "truth/users.parquet").set_index("user_id")
    cards = cards.set_index("user_id").join(truth[["card_plan", "card_expiry_day", "acq_day"]])
    assert len(cards) == (truth.channel == "free_order").sum()
    red_day = pd.Series(local_day(cards.redeemed_ts.dropna(), SMALL), index=cards.redeemed_ts.dropna().index)
    immediate = cards.card_plan == "immediate"
    assert cards.redeemed_ts[immediate].notna().all()
    assert (red_day[immediate[immediate].index] == cards.acq_day[immediate]).all()
    deadline = cards[(cards.card_plan == "deadline") & cards.redeemed_ts.notna()]
    gap = deadline.card_expiry_day - red_day.loc[deadline.index]
    assert len(deadline) > 0 and gap.between(0, 2).all()
    expiry_day = local_day(cards.expires_ts, SMALL)
    assert (expiry_day == cards.card_expiry_day).all()


# -------------------------------------------------------------------------------------- determinism
def test_same_config_same_bytes(small: Path, tmp_path: Path) -> None:
    generate_world(SMALL, tmp_path)
    files = sorted(p.relative_to(small) for p in small.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in files:
        assert (small / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_content_does_not_depend_on_chunk_users(small: Path, tmp_path: Path) -> None:
    manifest = generate_world(dataclasses.replace(SMALL, chunk_users=2_000), tmp_path)
    assert len(manifest.events) >= 2  # really split differently
    for sub in ("events", "couriers/events"):
        a = pa.concat_tables([pq.read_table(p) for p in sorted((small / sub).glob("part-*.parquet"))])
        b = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / sub).glob("part-*.parquet"))])
        assert a.equals(b), sub
    for rel in ("users.parquet", "incentives.parquet", "assignments.parquet", "truth/users.parquet"):
        assert pq.read_table(small / rel).equals(pq.read_table(tmp_path / rel)), rel
    for rel in ("truth/channel_retention.parquet", "truth/couriers.parquet", "couriers/incentives.parquet"):
        assert pq.read_table(small / rel).equals(pq.read_table(tmp_path / rel)), rel


def test_seed_changes_the_world_and_progress_is_reported(small: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    cfg = dataclasses.replace(SMALL, seed=SMALL.seed + 1, courier_share=0.0, experiment=False)
    manifest = generate_world(cfg, tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert not pq.read_table(small / "users.parquet").equals(pq.read_table(tmp_path / "users.parquet"))
    assert calls and calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == list(range(1, len(calls) + 1))
    assert manifest.n_couriers == 0 and pq.read_table(manifest.courier_events[0]).num_rows == 0
    assert manifest.n_assignments == 0
    assert not (pd.read_parquet(tmp_path / "incentives.parquet").kind == "points").any()
    assert manifest.n_events == sum(pq.read_metadata(p).num_rows for p in manifest.events)


# ------------------------------------------------------------------------------------ calendar / time
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/New_York"])
def test_events_inside_window_and_first_event_is_signup(tz: str, small: Path, tmp_path: Path) -> None:
    if tz == SMALL.tz:
        cfg, out = SMALL, small
    else:  # New York switches to DST on 8 Mar 2026, inside this window
        cfg = dataclasses.replace(SMALL, n_users=1500, tz=tz, courier_share=0.02)
        out = tmp_path
        generate_world(cfg, out)
    ev = read_events(out / "events")
    day = local_day(ev.ts, cfg)
    assert day.min() >= 0 and day.max() < cfg.days
    users = pd.read_parquet(out / "users.parquet").set_index("user_id")
    first = ev.groupby("user_id").ts.min()
    assert (first == users.signup_ts.loc[first.index]).all()
    truth = pd.read_parquet(out / "truth/users.parquet").set_index("user_id")
    signup_day = local_day(users.signup_ts, cfg)
    assert (signup_day == truth.acq_day.loc[users.index].to_numpy()).all()
    # the first event of each user-day is the app_open, and each active day has exactly one
    ev["day"] = day
    opens = ev[ev.event == "app_open"]
    assert not opens.duplicated(["user_id", "day"]).any()
    assert len(opens) == len(ev.drop_duplicates(["user_id", "day"]))
    earliest = ev.loc[ev.groupby(["user_id", "day"]).ts.idxmin()]
    same_ts = ev.merge(earliest[["user_id", "day", "ts"]], on=["user_id", "day", "ts"])
    assert same_ts.groupby(["user_id", "day"]).event.apply(lambda s: "app_open" in set(s)).all()
    # courier events, in the courier's local days too
    cev = read_events(out / "couriers/events")
    cday = local_day(cev.ts, cfg)
    assert cday.min() >= 0 and cday.max() < cfg.days


def test_acquisition_calendar(stat_world: Path) -> None:
    cfg = STAT
    users = pd.read_parquet(stat_world / "users.parquet")
    users["day"] = local_day(users.signup_ts, cfg)
    by_day = users.groupby(["channel", "day"]).size()
    fest_lo, fest_hi = cfg.day_index(cfg.festival_start), cfg.day_index(cfg.festival_end)
    eve = cfg.day_index(date(2026, 2, 16))
    assert by_day["red_packet"].idxmax() == eve
    assert by_day["red_packet"].index.min() >= fest_lo and by_day["red_packet"].index.max() <= fest_hi
    assert set(by_day["social_share"].index) == {fest_lo, fest_lo + 1, fest_lo + 2}  # restricted on day 3
    assert by_day["organic"].index.min() == 0 and by_day["organic"].index.max() == cfg.days - 1
    assert set(users.campaign[users.channel == "red_packet"]) == {"cny2026_red_packet"}


# --------------------------------------------------------------------------------- retention vs truth
def realised_retention(out: Path, cfg: WorldConfig) -> pd.DataFrame:
    """Share of each channel's observable users active on local day acq+k, computed from the files."""
    ev = pd.read_parquet(out / "events", columns=["user_id", "ts"])
    users = pd.read_parquet(out / "users.parquet")
    acq = pd.Series(local_day(users.signup_ts, cfg), index=users.user_id)
    ev["k"] = local_day(ev.ts, cfg) - acq.loc[ev.user_id].to_numpy()
    active = ev[["user_id", "k"]].drop_duplicates()
    active["channel"] = users.set_index("user_id").channel.loc[active.user_id].to_numpy()
    rows = []
    for k in range(cfg.days):
        observable = users[(acq.to_numpy() + k) < cfg.days]
        n_active = active[active.k == k].groupby("channel").size()
        for ch, n in observable.groupby("channel").size().items():
            rows.append((ch, k, n_active.get(ch, 0) / n, n))
        rows.append(("all", k, n_active.sum() / len(observable), len(observable)))
    return pd.DataFrame(rows, columns=["channel", "day", "realised", "n"])


def test_realised_retention_matches_truth(stat_world: Path) -> None:
    truth = pd.read_parquet(stat_world / "truth/channel_retention.parquet")
    real = realised_retention(stat_world, STAT)
    m = real.merge(truth, on=["channel", "day"], how="inner")
    assert (m.n == m.n_observable).all()  # same acquisition days, from signup_ts vs the generator
    m = m[m.day >= 1]
    p = m.expected_share
    m["z"] = (m.realised - p) / np.sqrt(p * (1 - p) / m.n)
    checked = m[m.day.isin([1, 7, 14, 30])]
    assert len(checked) == 5 * 4
    bad = checked[checked.z.abs() > 4]
    assert bad.empty, bad
    # across all days 1..30 the squared z-scores average about 1 (binomial variance is an upper bound)
    assert (m[m.day <= 30].z ** 2).mean() < 2.0
    # a wrong generator would be far off: e.g. day 0 must be exactly 1
    assert (truth[truth.day == 0].expected_share == 1.0).all()


def test_activity_follows_the_per_user_law(stat_world: Path) -> None:
    """Recompute each user's P(active on day k) from truth/users + params.json and compare with the events.

    Checks the three mechanisms separately (baseline decay, the treatment's lower hazard, the expiry bump),
    so dropping any one of them from the generator fails here even when the channel averages barely move.
    """
    cfg = STAT
    truth = pd.read_parquet(stat_world / "truth/users.parquet")
    params = json.loads((stat_world / "truth/params.json").read_text(encoding="utf-8"))["consumers"]
    n = len(truth)
    k = np.arange(cfg.days)[None, :]
    acq = truth.acq_day.to_numpy()[:, None]
    e = np.where(truth.type == "hunter", params["effect_hunter"], params["effect_task"])
    treated = truth.treated.fillna(False).to_numpy(dtype=bool)
    h = truth.hazard.to_numpy() * (1 - e * treated)
    surv_lam = (1 - h[:, None]) ** k * truth.lam.to_numpy()[:, None]
    bump = np.zeros((n, cfg.days))
    deadline = (truth.card_plan == "deadline").to_numpy()
    expiry = truth.card_expiry_day.fillna(-100).to_numpy(dtype=np.int64)
    for j, pj in enumerate(params["bump_probs"]):
        bump += pj * (deadline[:, None] & (k == (expiry - j)[:, None] - acq))
    prob = 1 - (1 - surv_lam) * (1 - bump)
    observable = (k >= 1) & (acq + k < cfg.days)

    ev = pd.read_parquet(stat_world / "events", columns=["user_id", "ts"])
    row = pd.Series(np.arange(n), index=truth.user_id).loc[ev.user_id].to_numpy()
    active = np.zeros((n, cfg.days), dtype=bool)
    active[row, local_day(ev.ts, cfg) - truth.acq_day.to_numpy()[row]] = True

    def z(mask: np.ndarray) -> float:
        p = prob[mask]
        return float((active[mask].sum() - p.sum()) / np.sqrt((p * (1 - p)).sum()))

    assert active[np.arange(n), 0].all()
    assert abs(z(observable)) < 4
    assert abs(z(observable & treated[:, None])) < 4
    assert abs(z(observable & ~treated[:, None] & (truth.type == "task").to_numpy()[:, None])) < 4
    bump_days = observable & (bump > 0)
    assert bump_days.sum() > 200
    assert abs(z(bump_days)) < 4
    for lo, hi in ((0, 0.05), (0.05, 0.2), (0.2, 0.5), (0.5, 1.01)):  # calibration by predicted level
        assert abs(z(observable & (prob >= lo) & (prob < hi))) < 4, (lo, hi)


def test_truth_retention_is_calibrated_to_the_domain(small: Path) -> None:
    # the default population's exact curve (window-independent column) matches the reported figures
    t = pd.read_parquet(small / "truth/channel_retention.parquet").set_index(["channel", "day"])
    d7, d30 = t.expected_share_all.xs(7, level="day"), t.expected_share_all.xs(30, level="day")
    assert 0.15 <= d7["red_packet"] <= 0.19 and 0.10 <= d30["red_packet"] <= 0.12
    assert 0.25 <= d7["free_order"] <= 0.30
    assert 0.30 <= d7["organic"] <= 0.40
    assert d7["social_share"] < 0.12 and 0.03 <= d30["social_share"] <= 0.05
    # a heavy tail / habit floor: day-60 retention is still well above zero for organic
    assert t.expected_share_all["organic", 59] > 0.15


def test_truth_effects_are_the_exact_formula(small: Path) -> None:
    truth = pd.read_parquet(small / "truth/users.parquet")
    params = json.loads((small / "truth/params.json").read_text(encoding="utf-8"))["consumers"]
    e = np.where(truth.type == "hunter", params["effect_hunter"], params["effect_task"])
    no_card = truth.card_plan.isna()
    for k, col in ((7, "effect_d7"), (30, "effect_d30")):
        want = truth.lam * ((1 - truth.hazard * (1 - e)) ** k - (1 - truth.hazard) ** k)
        np.testing.assert_allclose(truth.loc[no_card, col], want[no_card], rtol=1e-9, atol=1e-12)
    assert (truth.loc[truth.habitual, "hazard"] == 0).all()
    assert (truth.loc[truth.habitual, "type"] == "task").all()
    means = truth[~truth.habitual].groupby("type").effect_d7.mean()
    assert means["task"] > 3 * means["hunter"] > 0
    hunters = truth.groupby("channel").apply(lambda g: (g.type == "hunter").mean(), include_groups=False)
    assert hunters["social_share"] > hunters["red_packet"] > hunters["free_order"] > hunters["organic"]


# --------------------------------------------------------------------------------------- experiment
def test_experiment_assignment_and_points(stat_world: Path) -> None:
    a = pd.read_parquet(stat_world / "assignments.parquet")
    users = pd.read_parquet(stat_world / "users.parquet").set_index("user_id")
    assert set(a.experiment) == {"challenge7"} and a.user_id.is_unique
    n, n_t = len(a), int((a.variant == "treatment").sum())
    assert n > 500 and abs(n_t - n / 2) < 4 * np.sqrt(n) / 2
    assert (a.ts.to_numpy() == users.signup_ts.loc[a.user_id].to_numpy()).all()
    days = local_day(a.ts, STAT)
    lo = STAT.day_index(STAT.festival_end)
    assert days.min() >= lo and days.max() < lo + 28
    inc = pd.read_parquet(stat_world / "incentives.parquet")
    points_users = set(inc.user_id[inc.kind == "points"])
    assert points_users == set(a.user_id[a.variant == "treatment"])  # day 0 is active, so all treated get some
    truth = pd.read_parquet(stat_world / "truth/users.parquet").set_index("user_id")
    treated = truth.treated.loc[a.user_id]
    assert (treated.to_numpy() == (a.variant == "treatment").to_numpy()).all()
    assert truth.treated.notna().sum() == n


# -------------------------------------------------------------------------------------------- texts
def test_texts_scripts_and_labels(stat_world: Path) -> None:
    ev = pd.read_parquet(stat_world / "events", columns=["user_id", "event", "text"])
    asks = ev[ev.event == "ask"]
    pool = labelled_texts().to_pandas()
    assert pool.text.is_unique and len(pool) >= 300
    assert set(asks.text) <= set(pool.text)
    labelled = asks.merge(pool, on="text")
    assert set(labelled.script) == {"zh-Hans", "zh-Hant", "en"}
    texts = set(asks.text)
    assert any(t.isascii() for t in texts)
    assert any("帮我" in t for t in texts) and any("幫我" in t for t in texts)
    assert len(texts) > 200
    kind = pd.read_parquet(stat_world / "truth/users.parquet", columns=["user_id", "type"])
    labelled = labelled.merge(kind, on="user_id")
    task_share = labelled.groupby("type").label.apply(lambda s: (s == "task").mean())
    assert task_share["task"] > 0.7 and task_share["hunter"] < 0.3


# ----------------------------------------------------------------------------------------- couriers
def test_couriers(small: Path) -> None:
    cfg = SMALL
    cev = read_events(small / "couriers/events")
    cusers = pd.read_parquet(small / "couriers/users.parquet")
    truth = pd.read_parquet(small / "truth/couriers.parquet")
    assert len(cusers) == round(cfg.n_users * cfg.courier_share)
    assert cusers.user_id.str.fullmatch(r"c\d{6}").all()
    assert cev.event_id.is_unique and set(cev.platform) == {"app_a", "app_b", "app_c"}
    assert set(cev.event) == {"online", "delivery"}
    fees = cev.amount[cev.event == "delivery"]
    assert fees.between(3, 15).all() and 5.5 < fees.mean() < 8.5
    cev["day"] = local_day(cev.ts, cfg)
    per_day = cev[cev.event == "online"].groupby(["user_id", "day"]).platform.nunique()
    assert (per_day > 1).any()  # multi-homers
    deliveries = cev[cev.event == "delivery"].groupby(["user_id", "day", "platform"]).size()
    assert 15 < deliveries.groupby(level=[0, 1]).sum().mean() < 55
    # multi-homing grows over the window
    multi = per_day[per_day > 1].reset_index()
    early = multi[multi.day < 14].user_id.nunique()
    late = multi[multi.day >= cfg.days - 14].user_id.nunique()
    assert late > early
    # transfer bonuses
    inc = pd.read_parquet(small / "couriers/incentives.parquet")
    assert set(inc.kind) == {"transfer_bonus"}
    assert {2888.0, 3000.0} <= set(inc.value) and set(inc.value) <= {2888.0, 3000.0, 1000.0}
    assert (inc.cost == np.where(inc.redeemed_ts.notna(), inc.value, 0.0)).all()
    # a switcher rides on the rival during the bonus, and is back home after the flow-back day
    takers = truth[truth.switch_day.notna() & truth.completed.fillna(False).astype(bool)]
    assert len(takers) > 0
    online = cev[cev.event == "online"].merge(takers, on="user_id")
    riding = online[(online.day >= online.switch_day) & (online.day < online.bonus_end_day)]
    assert (riding.platform == riding.rival_platform).all()
    back = online[online.flow_back_day.notna() & (online.day >= online.flow_back_day)]
    assert (back.platform == back.home_platform).mean() > 0.7
    assert (truth.new_courier[truth.switch_day.notna()].mean()) > truth.new_courier.mean()
