"""Benchmark: the rule-based intent classifier on 1M texts (the ``text`` of a day's ``ask`` events at scale).

Two inputs, because the rules run once per *distinct* normalised text: ``repeated`` draws 1M texts from the
generator's pool and the hand-labelled set (real logs repeat short requests heavily), and ``distinct`` appends a
row number to each so every text is new (the worst case: every RE2 pattern runs on all 1M strings).

    python benchmarks/bench_intents.py              # 1M texts, best of 3 rounds
    python benchmarks/bench_intents.py --n 200000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from liuliang.signals.intents import IntentClassifier
from liuliang.simulate.texts import labelled_texts

LABELLED = Path(__file__).resolve().parents[1] / "tests" / "signals" / "data" / "intents_labelled.tsv"


def make_texts(n: int, *, distinct: bool, seed: int = 0) -> pa.Array:
    """``n`` texts drawn from the generator pool and the labelled set; with ``distinct``, each made unique."""
    hand = pcsv.read_csv(LABELLED, parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False))["text"]
    pool = pa.concat_arrays([labelled_texts()["text"].combine_chunks(), hand.combine_chunks()])
    idx = np.random.default_rng(seed).integers(0, len(pool), n)
    texts = pool.take(pa.array(idx))
    if distinct:
        texts = pc.binary_join_element_wise(texts, pc.cast(pa.array(np.arange(n)), pa.string()), " #")
    return texts


def run(n: int, rounds: int) -> dict[str, float]:
    clf = IntentClassifier()
    out = {}
    for kind in ("repeated", "distinct"):
        texts = make_texts(n, distinct=kind == "distinct")
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            res = clf.classify(texts)
            best = min(best, time.perf_counter() - t0)
        out[f"{kind}_seconds"] = round(best, 3)
        out[f"{kind}_task_share"] = round(float(res.is_task.mean()), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(json.dumps({"n": args.n, **run(args.n, args.rounds)}))


if __name__ == "__main__":
    main()
