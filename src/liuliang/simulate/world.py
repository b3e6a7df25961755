"""The festival world: a synthetic consumer population with planted, exactly known ground truth.

Why: every estimator in liuliang (retention curves, shifted-beta-geometric fits, uplift on an experiment)
needs data where the right answer is known *exactly*, not re-estimated from the same sample. The world
mirrors the 2026 Spring Festival subsidy war (``shared/domain.md``): cash red packets, free-order cards
that expire on 28 Feb and 30 Apr, a share-link campaign stopped after 3 days, and a post-festival
"7-day AI life challenge" experiment.

This module only orchestrates; each part of the world has its own module:

- :mod:`~liuliang.simulate.config`: :class:`WorldConfig`, what a caller chooses.
- :mod:`~liuliang.simulate.params`: the model's true parameters; :mod:`~liuliang.simulate.context`: the
  calendar and local clock resolved once from the config (:mod:`~liuliang.simulate.clock`).
- :mod:`~liuliang.simulate.acquisition`: who arrives on which day, through which channel.
- :mod:`~liuliang.simulate.consumers`: one block of consumers (the model itself is described there), built
  from :mod:`~liuliang.simulate.population`, :mod:`~liuliang.simulate.activity` and
  :mod:`~liuliang.simulate.incentives`; :mod:`~liuliang.simulate.truth`: the exact probabilities.
- :mod:`~liuliang.simulate.couriers`: the supply side.
- :mod:`~liuliang.simulate.writers`, :mod:`~liuliang.simulate.schemas`, :mod:`~liuliang.simulate.arrays`:
  the files and their columns.

Determinism: every random stream is derived from ``seed`` and a fixed-size block of users
(:data:`~liuliang.simulate.consumers.BLOCK_USERS`, :mod:`~liuliang.simulate.streams`), and blocks are
simulated and written in order (:mod:`~liuliang.simulate.blocks`), so the content of every file is a
function of the config alone; ``chunk_users`` only decides how many blocks share one events part file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.parquet as pq

from liuliang.simulate.acquisition import acquisition_schedule, acquisition_weights
from liuliang.simulate.blocks import block_ranges, ordered_map
from liuliang.simulate.config import WorldConfig
from liuliang.simulate.consumers import BLOCK_USERS, ConsumerBlock, simulate_consumers
from liuliang.simulate.context import WorldContext
from liuliang.simulate.couriers import (
    BLOCK_COURIERS,
    COURIER_TRUTH_SCHEMA,
    COURIER_USERS_SCHEMA,
    CourierBlock,
    CourierParams,
    simulate_couriers,
)
from liuliang.simulate.params import ConsumerParams
from liuliang.simulate.schemas import (
    ASSIGNMENTS_SCHEMA,
    EVENT_SCHEMA,
    INCENTIVES_SCHEMA,
    TRUTH_USERS_SCHEMA,
    USERS_SCHEMA,
)
from liuliang.simulate.streams import STREAM_COURIERS, block_rng
from liuliang.simulate.truth import EXACT_LAW, RetentionSums
from liuliang.simulate.vocabulary import CAMPAIGNS, CHANNELS
from liuliang.simulate.writers import FileSink, PartSink

__all__ = ["WorldConfig", "WorldManifest", "generate_world"]

#: Threads simulating blocks ahead of the writer (output does not depend on it).
WORKERS = 2


@dataclass(frozen=True)
class WorldManifest:
    """What :func:`generate_world` wrote: paths and row counts, plus the config that produced them."""

    config: WorldConfig
    out_dir: Path
    events: tuple[Path, ...]
    users: Path
    incentives: Path
    assignments: Path
    courier_events: tuple[Path, ...]
    courier_users: Path
    courier_incentives: Path
    truth_users: Path
    truth_channel_retention: Path
    truth_couriers: Path
    truth_params: Path
    n_events: int
    n_users: int
    n_incentives: int
    n_assignments: int
    n_courier_events: int
    n_couriers: int
    n_courier_incentives: int


def generate_world(
    config: WorldConfig,
    out_dir: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> WorldManifest:
    """Generate the festival world under ``out_dir`` and return what was written.

    Memory is bounded by one block of users (:data:`BLOCK_USERS`) and one of couriers, whatever
    ``n_users`` is. Files this function owns are overwritten; stale ``part-*.parquet`` files in the two
    events directories are removed first so an earlier, larger run cannot leak into the dataset.

    ``progress(done, total)`` is called after each block (consumer and courier blocks both count).
    """
    cfg = config
    out = Path(out_dir)
    p, cp = ConsumerParams(), CourierParams()
    ctx = WorldContext.build(cfg, p)
    cal, clock = ctx.calendar, ctx.clock
    weights = acquisition_weights(cfg, p, cal)
    acq_day, channel = acquisition_schedule(cfg, weights)

    n_couriers = round(cfg.n_users * cfg.courier_share)
    c_width = max(6, len(str(max(n_couriers - 1, 0))))
    n_blocks = math.ceil(cfg.n_users / BLOCK_USERS)
    n_c_blocks = math.ceil(n_couriers / BLOCK_COURIERS)
    total, done = n_blocks + n_c_blocks, 0
    truth_dir = out / "truth"
    truth_dir.mkdir(parents=True, exist_ok=True)

    retention = RetentionSums.zeros(cfg.days)
    with ExitStack() as stack:
        events = PartSink(out / "events", EVENT_SCHEMA, max(1, cfg.chunk_users // BLOCK_USERS))
        stack.callback(events.close)
        sinks: dict[str, FileSink] = {}
        for name, path, schema in (
            ("users", out / "users.parquet", USERS_SCHEMA),
            ("incentives", out / "incentives.parquet", INCENTIVES_SCHEMA),
            ("assignments", out / "assignments.parquet", ASSIGNMENTS_SCHEMA),
            ("truth", truth_dir / "users.parquet", TRUTH_USERS_SCHEMA),
            ("c_users", out / "couriers" / "users.parquet", COURIER_USERS_SCHEMA),
            ("c_incentives", out / "couriers" / "incentives.parquet", INCENTIVES_SCHEMA),
            ("c_truth", truth_dir / "couriers.parquet", COURIER_TRUTH_SCHEMA),
        ):
            sinks[name] = FileSink(path, schema)
            stack.callback(sinks[name].close)

        pool = stack.enter_context(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="liuliang-world"))

        def consumers(block: tuple[int, int, int]) -> ConsumerBlock:
            b, lo, hi = block
            return simulate_consumers(ctx, b, acq_day[lo:hi], channel[lo:hi])

        blocks = block_ranges(cfg.n_users, BLOCK_USERS)
        for b, res in enumerate(ordered_map(consumers, blocks, pool, ahead=WORKERS + 1)):
            events.write(b, res.events)
            sinks["users"].write(res.users)
            sinks["incentives"].write(res.incentives)
            sinks["assignments"].write(res.assignments)
            sinks["truth"].write(res.truth)
            retention = retention + res.retention
            done += 1
            if progress is not None:
                progress(done, total)
        events.finish()

        c_events = PartSink(
            out / "couriers" / "events",
            EVENT_SCHEMA,
            max(1, int(cfg.chunk_users * cfg.courier_share) // BLOCK_COURIERS),
        )
        stack.callback(c_events.close)

        def couriers(block: tuple[int, int, int]) -> CourierBlock:
            b, lo, hi = block
            return simulate_couriers(
                block_rng(cfg.seed, STREAM_COURIERS, b),
                cp,
                block=b,
                first=lo,
                n=hi - lo,
                n_days=cfg.days,
                festival=(cal.fest_lo, cal.fest_hi),
                clock=clock,
                id_width=c_width,
            )

        c_blocks = block_ranges(n_couriers, BLOCK_COURIERS)
        for b, cres in enumerate(ordered_map(couriers, c_blocks, pool, ahead=WORKERS + 1)):
            c_events.write(b, cres.events)
            sinks["c_users"].write(cres.users)
            sinks["c_incentives"].write(cres.incentives)
            sinks["c_truth"].write(cres.truth)
            done += 1
            if progress is not None:
                progress(done, total)
        c_events.finish()
        rows = {name: sink.rows for name, sink in sinks.items()}

    retention_path = truth_dir / "channel_retention.parquet"
    pq.write_table(retention.table(), retention_path, compression="zstd")
    params_path = truth_dir / "params.json"
    params = _truth_params(ctx, cp, retention, n_couriers)
    params_path.write_text(json.dumps(params, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    return WorldManifest(
        config=cfg,
        out_dir=out,
        events=tuple(events.paths),
        users=out / "users.parquet",
        incentives=out / "incentives.parquet",
        assignments=out / "assignments.parquet",
        courier_events=tuple(c_events.paths),
        courier_users=out / "couriers" / "users.parquet",
        courier_incentives=out / "couriers" / "incentives.parquet",
        truth_users=truth_dir / "users.parquet",
        truth_channel_retention=retention_path,
        truth_couriers=truth_dir / "couriers.parquet",
        truth_params=params_path,
        n_events=events.rows,
        n_users=rows["users"],
        n_incentives=rows["incentives"],
        n_assignments=rows["assignments"],
        n_courier_events=c_events.rows,
        n_couriers=rows["c_users"],
        n_courier_incentives=rows["c_incentives"],
    )


def _truth_params(
    ctx: WorldContext, courier_params: CourierParams, retention: RetentionSums, n_couriers: int
) -> dict[str, object]:
    """``truth/params.json``: the config, every true parameter, the calendar and the realised counts."""
    return {
        "config": ctx.config.to_json(),
        "block_users": BLOCK_USERS,
        "block_couriers": BLOCK_COURIERS,
        "channels": list(CHANNELS),
        "campaigns": dict(zip(CHANNELS, CAMPAIGNS, strict=True)),
        "calendar": asdict(ctx.calendar),
        "acquisition_counts": {c: int(x) for c, x in zip(CHANNELS, retention.n_users, strict=True)},
        "n_couriers": n_couriers,
        "consumers": asdict(ctx.params),
        "couriers": asdict(courier_params),
        "model": EXACT_LAW,
    }
