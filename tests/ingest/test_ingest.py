"""Ingest: every input shape, the data contract's checks, quarantine, idempotence, properties and the side tables.

Each test states what the user would see if the behaviour broke; expected values are written out by hand (times
in UTC, local days in the workspace's Asia/Shanghai zone) rather than computed with liuliang code.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import liuliang
from liuliang.errors import LiuliangError, MissingColumnError, SourceError
from liuliang.ingest.contract import INCENTIVE_KINDS
from wsutil import assert_snapshots_equal, read_table, snapshot, write_csv

D = dt.datetime
HEADER = ["user_id", "ts", "event", "amount"]


def day(y: int, m: int, d: int) -> int:
    """Local day number, written independently of liuliang."""
    return (dt.date(y, m, d) - dt.date(1970, 1, 1)).days


def events(ws, *cols: str) -> list[dict]:
    """Stored events with user_id joined back, ordered by time, user."""
    cols = cols or ("user_id", "ts", "day", "event", "amount")
    rows = ws.engine.to_arrow(ws.events()).to_pylist()
    rows.sort(key=lambda r: (r["ts"], r["user_id"]))
    return [{c: r[c] for c in cols} for r in rows]


def check_counts(rep) -> None:
    assert rep.rows_read == rep.added + rep.duplicates + rep.rejected


@pytest.fixture
def basic_csv(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "basic.csv",
        HEADER,
        [
            ("u1", "2024-03-01T10:00:00+08:00", "app_open", "1.5"),
            ("u2", "2024-03-01T20:00:00Z", "order", ""),
            ("u1", "2024-03-02T09:30:00+08:00", "order", "12.25"),
        ],
    )


BASIC_ROWS = [
    {"user_id": "u1", "ts": D(2024, 3, 1, 2), "day": day(2024, 3, 1), "event": "app_open", "amount": 1.5},
    {"user_id": "u1", "ts": D(2024, 3, 2, 1, 30), "day": day(2024, 3, 2), "event": "order", "amount": 12.25},
    {"user_id": "u2", "ts": D(2024, 3, 1, 20), "day": day(2024, 3, 2), "event": "order", "amount": None},
]


def sorted_basic() -> list[dict]:
    return sorted(BASIC_ROWS, key=lambda r: (r["ts"], r["user_id"]))


# -- the basics -----------------------------------------------------------------------------------------------
def test_csv_loads_typed_rows_with_local_days(duck_ws, basic_csv):
    rep = duck_ws.ingest(basic_csv)
    assert (rep.rows_read, rep.added, rep.duplicates, rep.rejected, rep.new_users) == (3, 3, 0, 0, 2)
    assert (rep.min_day, rep.max_day) == (day(2024, 3, 1), day(2024, 3, 2))
    assert rep.sources == (str(basic_csv),)
    assert events(duck_ws) == sorted_basic()
    keys = read_table(duck_ws, "user_keys").to_pylist()
    assert [(k["user_key"], k["user_id"]) for k in keys] == [(1, "u1"), (2, "u2")]
    info = duck_ws.info()
    assert (info.users, info.ingests, info.quarantined) == (2, 1, 0)
    assert (info.first_ts, info.last_ts) == (D(2024, 3, 1, 2), D(2024, 3, 2, 1, 30))


def test_unknown_table_and_unknown_ts_format_are_errors(duck_ws, basic_csv):
    with pytest.raises(LiuliangError, match="unknown table 'orders'"):
        duck_ws.ingest(basic_csv, table="orders")
    with pytest.raises(SourceError, match="unknown --ts-format 'iso'"):
        duck_ws.ingest(basic_csv, ts_format="iso")


# -- missing columns ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csv", "parquet", "pandas", "empty-arrow"])
def test_missing_column_names_it_and_lists_the_columns_found(duck_ws, tmp_path, kind):
    table = pa.table({"user_id": ["u1"], "timestamp": ["2024-03-01T00:00:00Z"], "event": ["x"]})
    if kind == "csv":
        source = write_csv(tmp_path / "e.csv", table.column_names, zip(*table.to_pydict().values(), strict=True))
    elif kind == "parquet":
        source = tmp_path / "e.parquet"
        pq.write_table(table, source)
    elif kind == "pandas":
        source = table.to_pandas()
    else:
        source = table.slice(0, 0)
    before = snapshot(duck_ws)
    with pytest.raises(MissingColumnError) as err:
        duck_ws.ingest(source)
    assert err.value.missing == ["ts"]
    assert err.value.found == ["user_id", "timestamp", "event"]
    msg = str(err.value)
    assert "'ts'" in msg and "'timestamp'" in msg and "'user_id'" in msg and "--map ts=" in msg
    if kind in ("csv", "parquet"):
        assert str(source) in msg
    assert_snapshots_equal(snapshot(duck_ws), before)


def test_mapping_to_a_column_the_source_lacks_is_an_error(duck_ws, basic_csv):
    with pytest.raises(SourceError, match=r"no column 'customer_id'.*'user_id'"):
        duck_ws.ingest(basic_csv, mapping={"user_id": "customer_id"})


def test_reserved_column_names_are_refused(duck_ws, tmp_path):
    src = write_csv(tmp_path / "r.csv", [*HEADER, "day"], [("u1", "2024-03-01T00:00:00Z", "x", "", "3")])
    with pytest.raises(SourceError, match="'day' is reserved"):
        duck_ws.ingest(src)


# -- quarantine -----------------------------------------------------------------------------------------------
def test_bad_rows_are_quarantined_with_source_row_column_reason_and_raw(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "bad.csv",
        [*HEADER, "city"],
        [
            ("u1", "2024-03-01T10:00:00+08:00", "app_open", "1", "bj"),  # row 1: fine
            ("u2", "yesterday", "app_open", "1", "sh"),  # row 2: bad timestamp
            ("u3", "2024-03-01T10:00:00+08:00", "order", "abc", "sz"),  # row 3: amount not a number
            ("", "2024-03-01T10:00:00+08:00", "order", "2", "gz"),  # row 4: empty user_id
            ("u5", "2024-03-01T10:00:00+08:00", "", "2", "gz"),  # row 5: empty event
            ("u6", "1970-01-01T00:00:00Z", "order", "2", "gz"),  # row 6: out of range
            ("u7", "2024-03-01T10:00:00+08:00", "order", "inf", "gz"),  # row 7: not finite
            ("u8", "2024-03-01T11:00:00+08:00", "order", " 7.5 ", "wh"),  # row 8: fine (spaces trimmed)
        ],
    )
    rep = duck_ws.ingest(src)
    check_counts(rep)
    assert (rep.rows_read, rep.added, rep.rejected) == (8, 2, 6)
    assert not rep.ok
    q = duck_ws.quarantine().to_pylist()
    got = [(r["table_name"], r["source"], r["row"], r["column"]) for r in q]
    assert got == [
        ("events", str(src), 2, "ts"),
        ("events", str(src), 3, "amount"),
        ("events", str(src), 4, "user_id"),
        ("events", str(src), 5, "event"),
        ("events", str(src), 6, "ts"),
        ("events", str(src), 7, "amount"),
    ]
    reasons = [r["reason"] for r in q]
    assert "yesterday" in reasons[0] and "timestamp" in reasons[0]
    assert reasons[1] == "is not a number: abc"
    assert reasons[2] == reasons[3] == "is empty"
    assert "out of range" in reasons[4]
    assert "inf" in reasons[5]
    assert json.loads(q[0]["raw"]) == {
        "user_id": "u2",
        "ts": "yesterday",
        "event": "app_open",
        "amount": "1",
        "city": "sh",
    }
    assert json.loads(q[2]["raw"])["city"] == "gz"
    assert all(r["_ingest"] == rep.ingest_id for r in q)
    assert rep.rejects_sample.num_rows == 6
    assert [r["user_id"] for r in events(duck_ws)] == ["u1", "u8"]
    assert events(duck_ws, "amount") == [{"amount": 1.0}, {"amount": 7.5}]


def test_row_numbers_count_across_batches(duck_ws, tmp_path):
    rows = [(f"u{i}", f"2024-03-01T00:00:{i % 60:02d}Z", "x", "1") for i in range(1, 101)]
    rows[76] = ("u77", "not a time", "x", "1")  # row 77
    src = write_csv(tmp_path / "many.csv", HEADER, rows)
    rep = duck_ws.ingest(src, batch_rows=10)
    assert rep.rejected == 1
    assert [r["row"] for r in duck_ws.quarantine().to_pylist()] == [77]
    # batch_rows is honoured for CSV too (progress is reported per batch)
    seen: list[int] = []
    duck_ws.ingest(src, batch_rows=25, progress=seen.append)
    assert seen == [25, 50, 75, 100]


def test_pandas_column_mixing_numbers_and_text_quarantines_the_text(duck_ws):
    df = pd.DataFrame(
        {"user_id": ["a", "b"], "ts": ["2024-03-01T00:00:00Z"] * 2, "event": ["x", "x"], "amount": [1.5, "abc"]}
    )
    rep = duck_ws.ingest(df)
    assert (rep.added, rep.rejected) == (1, 1)
    (q,) = duck_ws.quarantine().to_pylist()
    assert (q["source"], q["row"], q["column"], q["reason"]) == (
        "<pandas.DataFrame>",
        2,
        "amount",
        "is not a number: abc",
    )


@pytest.mark.parametrize("kind", ["parquet", "csv", "jsonl", "pandas"])
def test_numeric_timestamps_without_an_epoch_format_are_a_source_error(duck_ws, tmp_path, kind):
    rows = {"user_id": ["a", "b"], "ts": [1709251200, 1709254800], "event": ["x", "x"]}
    if kind == "parquet":
        source = tmp_path / "n.parquet"
        pq.write_table(pa.table(rows), source)
    elif kind == "csv":
        source = write_csv(tmp_path / "n.csv", list(rows), zip(*rows.values(), strict=True))
    elif kind == "jsonl":
        source = tmp_path / "n.jsonl"
        source.write_text(
            "".join(json.dumps(dict(zip(rows, v, strict=True))) + "\n" for v in zip(*rows.values(), strict=True))
        )
    else:
        source = pd.DataFrame(rows)
    before = snapshot(duck_ws)
    with pytest.raises(SourceError, match=r"'ts' holds numbers.*--ts-format epoch_s"):
        duck_ws.ingest(source)
    assert_snapshots_equal(snapshot(duck_ws), before)


def test_a_wholly_non_numeric_amount_type_is_a_source_error(duck_ws):
    table = pa.table({"user_id": ["a"], "ts": ["2024-03-01T00:00:00Z"], "event": ["x"], "amount": [True]})
    with pytest.raises(SourceError, match="'amount' has type bool"):
        duck_ws.ingest(table)


# -- empty inputs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl", "empty.csv.gz", "empty.parquet"])
def test_zero_byte_file_is_a_clear_error_naming_the_file(duck_ws, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(SourceError) as err:
        duck_ws.ingest(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["header.csv", "header.csv.gz", "header.parquet"])
def test_header_only_file_loads_nothing_without_error(duck_ws, tmp_path, name):
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table({c: pa.array([], pa.string()) for c in HEADER}), path)
    else:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "wt") as fh:
            fh.write(",".join(HEADER) + "\n")
    rep = duck_ws.ingest(path)
    assert (rep.rows_read, rep.added, rep.rejected, rep.new_users) == (0, 0, 0, 0)
    assert (rep.min_day, rep.max_day) == (None, None)
    assert duck_ws.info().ingests == 1


def test_all_rows_rejected_loads_nothing_and_keeps_them(duck_ws, tmp_path):
    src = write_csv(tmp_path / "allbad.csv", HEADER, [("a", "never", "x", ""), ("b", "", "x", "")])
    rep = duck_ws.ingest(src)
    assert (rep.rows_read, rep.added, rep.rejected, rep.new_users) == (2, 0, 2, 0)
    assert len(duck_ws.quarantine()) == 2


# -- idempotence ----------------------------------------------------------------------------------------------
def test_reingesting_the_same_file_adds_nothing(duck_ws, basic_csv):
    first = duck_ws.ingest(basic_csv)
    after_first = {n: t for n, t in snapshot(duck_ws).items() if n not in ("ingests",)}
    again = duck_ws.ingest(basic_csv)
    assert (again.added, again.duplicates, again.new_users, again.min_day) == (0, 3, 0, None)
    assert again.ingest_id == first.ingest_id + 1
    now = {n: t for n, t in snapshot(duck_ws).items() if n not in ("ingests",)}
    assert_snapshots_equal(now, after_first)


def test_same_rows_as_csv_then_parquet_then_pandas_add_nothing(duck_ws, basic_csv, tmp_path):
    duck_ws.ingest(basic_csv)
    # The same rows, typed: instants as UTC timestamps, amounts as floats, written differently (1.50 vs 1.5).
    typed = pa.table(
        {
            "user_id": ["u1", "u2", "u1"],
            "ts": pa.array([D(2024, 3, 1, 2), D(2024, 3, 1, 20), D(2024, 3, 2, 1, 30)], pa.timestamp("ms", "UTC")),
            "event": ["app_open", "order", "order"],
            "amount": [1.5, None, 12.25],
        }
    )
    pq.write_table(typed, tmp_path / "same.parquet")
    assert duck_ws.ingest(tmp_path / "same.parquet").added == 0
    shanghai = typed.to_pandas()
    shanghai["ts"] = shanghai["ts"].dt.tz_convert("Asia/Shanghai")
    assert duck_ws.ingest(shanghai).added == 0
    assert duck_ws.ingest(pl.from_arrow(typed)).added == 0
    text = write_csv(
        tmp_path / "text.csv",
        HEADER,
        [
            ("u1", "2024-03-01 02:00:00", "app_open", "1.50"),
            ("u2", "2024-03-01T20:00:00.000Z", "order", None),
            ("u1", "2024-03-02T01:30:00+00:00", "order", "12.250"),
        ],
    )
    assert duck_ws.ingest(text).added == 0
    assert len(events(duck_ws)) == 3


def test_same_rows_with_properties_from_csv_parquet_and_json_add_nothing(duck_ws, tmp_path):
    csv_src = write_csv(
        tmp_path / "p.csv",
        [*HEADER, "qty", "city"],
        [
            ("u1", "2024-03-01T02:00:00Z", "order", "2", "3", "bj"),
            ("u2", "2024-03-01T03:00:00Z", "order", "", "", "sh"),
        ],
    )
    assert duck_ws.ingest(csv_src).added == 2
    typed = pa.table(
        {
            "user_id": ["u1", "u2"],
            "ts": pa.array([D(2024, 3, 1, 2), D(2024, 3, 1, 3)], pa.timestamp("s")),
            "event": ["order", "order"],
            "amount": pa.array([2, None], pa.int64()),
            "qty": pa.array([3, None], pa.int32()),
            "city": ["bj", "sh"],
        }
    )
    pq.write_table(typed, tmp_path / "p.parquet")
    assert duck_ws.ingest(tmp_path / "p.parquet").added == 0
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        '{"user_id": "u1", "ts": "2024-03-01T10:00:00+08:00", "event": "order", "amount": 2.0, "qty": 3, '
        '"city": "bj"}\n'
        '{"user_id": "u2", "ts": "2024-03-01T03:00:00Z", "event": "order", "city": "sh"}\n'
    )
    assert duck_ws.ingest(jsonl).added == 0


def test_rows_repeated_within_one_input_are_duplicates(duck_ws, tmp_path):
    row = ("u1", "2024-03-01T00:00:00Z", "x", "1")
    src = write_csv(tmp_path / "dup.csv", HEADER, [row, row, ("u1", "2024-03-01T00:00:00Z", "x", "2")])
    rep = duck_ws.ingest(src)
    assert (rep.added, rep.duplicates) == (2, 1)
    # two sources in one ingest overlapping entirely
    rep = duck_ws.ingest([src, src])
    assert (rep.rows_read, rep.added, rep.duplicates) == (6, 0, 6)


def test_event_id_is_the_key_when_present(duck_ws, tmp_path):
    header = [*HEADER, "event_id"]
    first = write_csv(
        tmp_path / "a.csv",
        header,
        [("u1", "2024-03-01T00:00:00Z", "order", "5", "e1"), ("u1", "2024-03-01T00:00:00Z", "order", "5", "e2")],
    )
    rep = duck_ws.ingest(first)
    assert rep.added == 2  # identical values, different ids: two events
    corrected = write_csv(
        tmp_path / "b.csv",
        header,
        [
            ("u1", "2024-03-01T00:00:05Z", "order", "6", "e1"),  # known id, other values: still a duplicate
            ("u1", "2024-03-01T00:00:00Z", "order", "5", ""),  # no id: keyed by its values (new)
            ("u1", "2024-03-01T00:00:00Z", "order", "5", "e3"),
        ],
    )
    rep = duck_ws.ingest(corrected)
    assert (rep.added, rep.duplicates) == (2, 1)
    assert sorted(r["event_id"] or "" for r in events(duck_ws, "event_id")) == ["", "e1", "e2", "e3"]
    assert duck_ws.ingest(corrected).added == 0


# -- time -----------------------------------------------------------------------------------------------------
def test_mixed_offsets_in_one_csv_are_stored_as_utc_and_bucketed_locally(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "tz.csv",
        HEADER,
        [
            ("a", "2024-03-01T23:30:00+08:00", "x", ""),  # 15:30Z, Shanghai 03-01
            ("b", "2024-03-01T16:30:00Z", "x", ""),  # Shanghai 03-02 00:30
            ("c", "2024-03-01T10:30:00-05:00", "x", ""),  # 15:30Z, Shanghai 03-01 23:30
            ("d", "2024-03-01 16:00:00", "x", ""),  # naive = UTC: Shanghai 03-02 00:00
            ("e", "2024-03-01T15:59:59.999+00:00", "x", ""),  # Shanghai 03-01 23:59:59.999
            ("f", "2024-03-01T00:00:00+0530", "x", ""),  # 2024-02-29 18:30Z, Shanghai 03-01 02:30
        ],
    )
    assert duck_ws.ingest(src).rejected == 0
    got = {r["user_id"]: (r["ts"], r["day"]) for r in events(duck_ws)}
    assert got == {
        "a": (D(2024, 3, 1, 15, 30), day(2024, 3, 1)),
        "b": (D(2024, 3, 1, 16, 30), day(2024, 3, 2)),
        "c": (D(2024, 3, 1, 15, 30), day(2024, 3, 1)),
        "d": (D(2024, 3, 1, 16, 0), day(2024, 3, 2)),
        "e": (D(2024, 3, 1, 15, 59, 59, 999000), day(2024, 3, 1)),
        "f": (D(2024, 2, 29, 18, 30), day(2024, 3, 1)),
    }


def test_naive_tz_applies_only_to_values_without_offset(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "naive.csv",
        HEADER,
        [("a", "2024-03-01 08:00:00", "x", ""), ("b", "2024-03-01T08:00:00Z", "x", "")],
    )
    duck_ws.ingest(src, naive_tz="America/New_York")
    got = {r["user_id"]: r["ts"] for r in events(duck_ws)}
    assert got == {"a": D(2024, 3, 1, 13), "b": D(2024, 3, 1, 8)}


def test_typed_timestamps_keep_their_zone_and_naive_ones_use_naive_tz(duck_ws):
    aware = pa.table(
        {
            "user_id": ["a"],
            "ts": pa.array([D(2024, 3, 1, 12, tzinfo=ZoneInfo("Asia/Shanghai"))], pa.timestamp("us", "Asia/Shanghai")),
            "event": ["x"],
        }
    )
    naive = pd.DataFrame({"user_id": ["b"], "ts": [pd.Timestamp("2024-03-01 12:00:00")], "event": ["x"]})
    duck_ws.ingest(aware, naive_tz="America/New_York")  # aware values ignore naive_tz
    duck_ws.ingest(naive, naive_tz="America/New_York")
    got = {r["user_id"]: r["ts"] for r in events(duck_ws)}
    assert got == {"a": D(2024, 3, 1, 4), "b": D(2024, 3, 1, 17)}


def test_mapping_and_date_format(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "orders.csv",
        ["customer_id", "date", "event"],
        [("c1", "2024-03-01", "order"), ("c2", "2024-03-02", "order"), ("c3", "03/02/2024", "order")],
    )
    rep = duck_ws.ingest(src, mapping={"user_id": "customer_id", "ts": "date"}, ts_format="date")
    assert (rep.added, rep.rejected) == (2, 1)
    # a date is local midnight of the workspace zone (Asia/Shanghai): 16:00 UTC the day before
    assert events(duck_ws, "user_id", "ts", "day") == [
        {"user_id": "c1", "ts": D(2024, 2, 29, 16), "day": day(2024, 3, 1)},
        {"user_id": "c2", "ts": D(2024, 3, 1, 16), "day": day(2024, 3, 2)},
    ]
    q = duck_ws.quarantine().to_pylist()[0]
    assert (q["row"], q["column"]) == (3, "ts")
    assert json.loads(q["raw"]) == {"user_id": "c3", "ts": "03/02/2024", "event": "order"}  # names after --map


def test_mapping_onto_an_existing_column_is_refused(duck_ws, basic_csv):
    with pytest.raises(SourceError, match="already has a column 'event'"):
        duck_ws.ingest(basic_csv, mapping={"event": "user_id"})


@pytest.mark.parametrize(
    ("fmt", "values"),
    [
        ("epoch_s", [1709251200, 1709251200.5]),
        ("epoch_ms", [1709251200000, 1709251200500]),
        ("epoch_us", [1709251200000000, 1709251200500000]),
    ],
)
@pytest.mark.parametrize("as_text", [False, True])
def test_epoch_formats(duck_ws, tmp_path, fmt, values, as_text):
    # 1709251200 = 2024-03-01T00:00:00Z
    if as_text:
        source = write_csv(
            tmp_path / "e.csv", ["user_id", "ts", "event"], [("a", values[0], "x"), ("b", values[1], "x")]
        )
    else:
        source = pa.table({"user_id": ["a", "b"], "ts": values, "event": ["x", "x"]})
    rep = duck_ws.ingest(source, ts_format=fmt)
    assert rep.rejected == 0
    assert [r["ts"] for r in events(duck_ws)] == [D(2024, 3, 1), D(2024, 3, 1, 0, 0, 0, 500_000)]


def test_epoch_in_the_wrong_unit_is_quarantined_not_a_crash(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "e.csv",
        ["user_id", "ts", "event"],
        [("a", "1709251200", "x"), ("b", "1709251200000", "x"), ("c", "1709251200000000", "x"), ("d", "nan", "x")],
    )
    rep = duck_ws.ingest(src, ts_format="epoch_s")
    assert (rep.added, rep.rejected) == (1, 3)
    reasons = [r["reason"] for r in duck_ws.quarantine().to_pylist()]
    assert "out of range" in reasons[0] and "out of range" in reasons[1]
    assert "nan" in reasons[2]


def test_strptime_pattern_with_naive_tz(duck_ws, tmp_path):
    src = write_csv(tmp_path / "p.csv", ["user_id", "ts", "event"], [("a", "01/03/2024 09:30", "x"), ("b", "1/3", "x")])
    rep = duck_ws.ingest(src, ts_format="%d/%m/%Y %H:%M", naive_tz="Asia/Shanghai")
    assert (rep.added, rep.rejected) == (1, 1)
    assert events(duck_ws, "ts", "day") == [{"ts": D(2024, 3, 1, 1, 30), "day": day(2024, 3, 1)}]
    assert "%d/%m/%Y %H:%M" in duck_ws.quarantine()["reason"][0].as_py()


# -- file shapes ----------------------------------------------------------------------------------------------
def test_gzip_csv_and_tsv_equal_plain_csv(tmp_path, basic_csv):
    gz = tmp_path / "basic.csv.gz"
    with open(basic_csv, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    tsv = tmp_path / "basic.tsv"
    tsv.write_text(basic_csv.read_text().replace(",", "\t"))
    results = []
    for source in (basic_csv, gz, tsv):
        ws = liuliang.Workspace.open(":memory:", tz="Asia/Shanghai")
        rep = ws.ingest(source)
        assert (rep.added, rep.rejected) == (3, 0)
        results.append(events(ws))
    assert results[0] == results[1] == results[2] == sorted_basic()


def test_directories_and_globs(duck_ws, tmp_path):
    folder = tmp_path / "drop"
    (folder / "2024" / "03").mkdir(parents=True)
    write_csv(folder / "a.csv", HEADER, [("a", "2024-03-01T00:00:00Z", "x", "")])
    write_csv(folder / "2024" / "03" / "b.csv", HEADER, [("b", "2024-03-02T00:00:00Z", "x", "")])
    (folder / "README.txt").write_text("not data")
    rep = duck_ws.ingest(folder)
    assert rep.sources == (str(folder / "2024" / "03" / "b.csv"), str(folder / "a.csv"))
    assert rep.added == 2
    write_csv(folder / "c.csv", HEADER, [("c", "2024-03-03T00:00:00Z", "x", "")])
    rep = duck_ws.ingest(str(folder / "*.csv"))
    assert rep.sources == (str(folder / "a.csv"), str(folder / "c.csv"))
    assert (rep.added, rep.duplicates) == (1, 1)
    rep = duck_ws.ingest(str(folder / "**" / "*.csv"))
    assert (rep.rows_read, rep.added) == (3, 0)
    with pytest.raises(SourceError, match="no file matches"):
        duck_ws.ingest(str(folder / "*.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no"):
        duck_ws.ingest(tmp_path / "empty")
    with pytest.raises(SourceError, match="no such file"):
        duck_ws.ingest(tmp_path / "missing.csv")


def test_pandas_polars_and_arrow_inputs_equal_csv(basic_csv):
    ts_utc = [D(2024, 3, 1, 2), D(2024, 3, 1, 20), D(2024, 3, 2, 1, 30)]
    base = {"user_id": ["u1", "u2", "u1"], "event": ["app_open", "order", "order"], "amount": [1.5, None, 12.25]}
    arrow = pa.table({**base, "ts": pa.array(ts_utc, pa.timestamp("us", "UTC"))})
    sources = {
        "arrow": arrow,
        "batch": arrow.to_batches()[0],
        "reader": pa.RecordBatchReader.from_batches(arrow.schema, arrow.to_batches(max_chunksize=1)),
        "pandas": pd.DataFrame({**base, "ts": pd.to_datetime(ts_utc)}),  # naive = UTC
        "pandas-text": pd.DataFrame(
            {**base, "ts": ["2024-03-01T10:00:00+08:00", "2024-03-01T20:00:00Z", "2024-03-02T01:30:00Z"]}
        ),
        "polars": pl.DataFrame({**base, "ts": ts_utc}),
        "polars-text": pl.DataFrame(
            {
                **base,
                "amount": ["1.5", None, "12.25"],
                "ts": ["2024-03-01T02:00:00Z", "2024-03-01T20:00:00Z", "2024-03-02T01:30:00Z"],
            }
        ),
    }
    for name, source in sources.items():
        ws = liuliang.Workspace.open(":memory:", tz="Asia/Shanghai")
        rep = ws.ingest(source)
        assert (rep.added, rep.rejected) == (3, 0), name
        assert events(ws) == sorted_basic(), name
    with pytest.raises(SourceError, match="cannot ingest a dict"):
        liuliang.Workspace.open(":memory:").ingest({"user_id": ["a"]})


def test_json_lines(duck_ws, tmp_path):
    rows = [
        {"user_id": "a", "ts": "2024-03-01T23:30:00+08:00", "event": "x", "amount": 1.5, "meta": {"k": 1}},
        {"user_id": 7, "ts": "2024-03-01 16:30:00", "event": "x", "amount": None},
        {"user_id": "c", "ts": "2024-03-01T10:30:00-05:00", "event": "x", "amount": "2"},
        {"user_id": "d", "ts": "not a time", "event": "x"},
        {"user_id": "e", "ts": "2024-03-01T16:00:00Z", "event": "x", "channel": "late key"},
    ]
    path = tmp_path / "ev.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    rep = duck_ws.ingest(path, batch_rows=2, naive_tz="Asia/Shanghai")
    assert (rep.rows_read, rep.added, rep.rejected) == (5, 4, 1)
    got = {r["user_id"]: (r["ts"], r["amount"]) for r in events(duck_ws, "user_id", "ts", "amount")}
    assert got == {
        "a": (D(2024, 3, 1, 15, 30), 1.5),
        "7": (D(2024, 3, 1, 8, 30), None),  # naive text read in naive_tz; numbers read as text ids
        "c": (D(2024, 3, 1, 15, 30), 2.0),
        "e": (D(2024, 3, 1, 16), None),
    }
    q = duck_ws.quarantine().to_pylist()
    assert [(r["row"], r["column"]) for r in q] == [(4, "ts")]
    props = events(duck_ws, "user_id", "meta", "channel")
    assert {r["user_id"]: (r["meta"], r["channel"]) for r in props}["e"] == (None, "late key")
    assert json.loads({r["user_id"]: r["meta"] for r in props}["a"]) == {"k": 1}


def test_json_array_file_and_malformed_json(duck_ws, tmp_path):
    arr = tmp_path / "ev.json"
    arr.write_text(json.dumps([{"user_id": "a", "ts": "2024-03-01T00:00:00Z", "event": "x"}] * 2))
    rep = duck_ws.ingest(arr)
    assert (rep.rows_read, rep.added, rep.duplicates) == (2, 1, 1)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"user_id": "a", "ts": "2024-03-01T00:00:00Z", "event": "x"}\n{broken\n')
    with pytest.raises(SourceError, match=r"broken\.jsonl: cannot be read"):
        duck_ws.ingest(broken)


# -- properties -----------------------------------------------------------------------------------------------
def test_property_columns_are_kept_and_new_ones_added_later(duck_ws, tmp_path):
    first = write_csv(tmp_path / "a.csv", [*HEADER, "city"], [("a", "2024-03-01T00:00:00Z", "x", "", "bj")])
    duck_ws.ingest(first)
    assert "city" in duck_ws.table("events").columns
    second = write_csv(
        tmp_path / "b.csv", [*HEADER, "city", "campaign"], [("b", "2024-03-02T00:00:00Z", "x", "", "sh", "spring")]
    )
    third = write_csv(tmp_path / "c.csv", HEADER, [("c", "2024-03-03T00:00:00Z", "x", "")])
    rep = duck_ws.ingest([second, third])
    assert rep.added == 2
    cols = duck_ws.table("events").columns
    assert cols[-2:] == ("city", "campaign")
    got = {r["user_id"]: (r["city"], r["campaign"]) for r in events(duck_ws, "user_id", "city", "campaign")}
    assert got == {"a": ("bj", None), "b": ("sh", "spring"), "c": (None, None)}


def test_property_names_differing_only_in_case(duck_ws, tmp_path):
    first = write_csv(tmp_path / "a.csv", [*HEADER, "City"], [("a", "2024-03-01T00:00:00Z", "x", "", "bj")])
    second = write_csv(tmp_path / "b.csv", [*HEADER, "city"], [("b", "2024-03-02T00:00:00Z", "x", "", "sh")])
    duck_ws.ingest(first)
    duck_ws.ingest(second)
    got = {r["user_id"]: r["City"] for r in events(duck_ws, "user_id", "City")}
    assert got == {"a": "bj", "b": "sh"}  # one column, no value lost
    clash = write_csv(
        tmp_path / "c.csv", ["user_id", "ts", "event", "Amount"], [("c", "2024-03-02T00:00:00Z", "x", "1")]
    )
    with pytest.raises(SourceError, match="'Amount' differs from the contract's 'amount' only in case"):
        duck_ws.ingest(clash)
    both = write_csv(tmp_path / "d.csv", [*HEADER, "Amount"], [("c", "2024-03-02T00:00:00Z", "x", "", "1")])
    with pytest.raises(SourceError, match="'amount' and 'Amount' differ only in case"):
        duck_ws.ingest(both)


# -- users, incentives, assignments ---------------------------------------------------------------------------
def test_users_one_row_per_user_updates_replace(duck_ws, tmp_path):
    header = ["user_id", "signup_ts", "channel", "acquisition_cost"]
    v1 = write_csv(
        tmp_path / "u1.csv", header, [("a", "2024-02-01T00:00:00Z", "organic", ""), ("b", "", "red_packet", "8")]
    )
    rep = duck_ws.ingest(v1, table="users")
    assert (rep.added, rep.updated, rep.new_users) == (2, 0, 2)
    assert duck_ws.ingest(v1, table="users").added == 0
    v2 = write_csv(
        tmp_path / "u2.csv",
        header,
        [("a", "2024-02-01T00:00:00Z", "organic", ""), ("b", "", "red_packet", "9.5"), ("c", "", "organic", "")],
    )
    rep = duck_ws.ingest(v2, table="users")
    check_counts(rep)
    assert (rep.added, rep.updated, rep.duplicates, rep.new_users) == (2, 1, 1, 1)
    users = duck_ws.engine.to_arrow(
        duck_ws.table("users").join(duck_ws.table("user_keys").select("user_key", "user_id"), "user_key")
    )
    got = {r["user_id"]: (r["channel"], r["acquisition_cost"]) for r in users.to_pylist()}
    assert got == {"a": ("organic", None), "b": ("red_packet", 9.5), "c": ("organic", None)}
    assert users.num_rows == 3


def test_users_the_last_row_of_an_ingest_wins_across_sources(duck_ws, tmp_path):
    header = ["user_id", "channel"]
    a = write_csv(tmp_path / "a.csv", header, [("x", "one"), ("filler", "f")])
    b = write_csv(tmp_path / "b.csv", header, [("x", "two")])
    rep = duck_ws.ingest([a, b], table="users")
    assert (rep.added, rep.duplicates) == (2, 1)
    assert sorted(duck_ws.engine.to_arrow(duck_ws.table("users").channel).to_pylist()) == ["f", "two"]


def test_incentive_kind_is_validated_against_the_allowed_list(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "inc.csv",
        ["user_id", "ts", "kind", "value", "cost"],
        [
            ("a", "2024-03-01T10:00:00+08:00", "red_packet", "5", "5"),
            ("a", "2024-03-01T11:00:00+08:00", " Coupon ", "3", "1.2"),
            ("b", "2024-03-01T12:00:00+08:00", "cashback", "1", "1"),
            ("b", "2024-03-01T12:00:00+08:00", "", "1", "1"),
        ],
    )
    rep = duck_ws.ingest(src, table="incentives")
    assert (rep.added, rep.rejected, rep.new_users) == (2, 2, 1)
    inc = read_table(duck_ws, "incentives").to_pylist()
    assert sorted(r["kind"] for r in inc) == ["coupon", "red_packet"]
    assert {r["day"] for r in inc} == {day(2024, 3, 1)}
    q = duck_ws.quarantine().to_pylist()
    assert [(r["table_name"], r["row"], r["column"]) for r in q] == [
        ("incentives", 3, "kind"),
        ("incentives", 4, "kind"),
    ]
    assert "cashback" in q[0]["reason"] and all(k in q[0]["reason"] for k in INCENTIVE_KINDS)
    assert q[1]["reason"] == "is empty"
    assert duck_ws.ingest(src, table="incentives").added == 0


def test_assignments(duck_ws, tmp_path):
    src = write_csv(
        tmp_path / "asg.csv",
        ["user_id", "experiment", "variant", "ts"],
        [("a", "exp1", "control", "2024-03-01T00:00:00Z"), ("b", "exp1", "treated", ""), ("c", "exp1", "", "")],
    )
    rep = duck_ws.ingest(src, table="assignments")
    assert (rep.added, rep.rejected, rep.new_users) == (2, 1, 2)
    assert duck_ws.quarantine()["column"].to_pylist() == ["variant"]
    assert duck_ws.ingest(src, table="assignments").added == 0
    got = read_table(duck_ws, "assignments").select(["experiment", "variant", "ts"]).to_pylist()
    assert got == [
        {"experiment": "exp1", "variant": "control", "ts": D(2024, 3, 1)},
        {"experiment": "exp1", "variant": "treated", "ts": None},
    ]
    with pytest.raises(MissingColumnError, match="'variant'"):
        duck_ws.ingest(
            write_csv(tmp_path / "x.csv", ["user_id", "experiment"], [("a", "e")]),
            table="assignments",
        )


def test_users_seen_only_in_side_tables_get_keys_shared_with_events(duck_ws, tmp_path, basic_csv):
    duck_ws.ingest(
        write_csv(tmp_path / "u.csv", ["user_id", "channel"], [("u2", "organic"), ("zz", "ads")]), table="users"
    )
    rep = duck_ws.ingest(basic_csv)
    assert rep.new_users == 1  # u1 is new; u2 already has a key from the users table
    keys = {r["user_id"]: r["user_key"] for r in read_table(duck_ws, "user_keys").to_pylist()}
    assert keys == {"u2": 1, "zz": 2, "u1": 3}


def test_an_event_id_is_unique_within_a_local_day(duck_ws, tmp_path):
    """As PostHog dedupes uuid within a date: the same id later that day is a duplicate, on another day an event."""
    header = [*HEADER, "event_id"]
    first = write_csv(tmp_path / "a.csv", header, [("u1", "2024-03-01T01:00:00Z", "order", "5", "e1")])
    assert duck_ws.ingest(first).added == 1
    again = write_csv(
        tmp_path / "b.csv",
        header,
        [
            ("u1", "2024-03-01T15:00:00Z", "order", "5", "e1"),  # 23:00 in Shanghai: same local day
            ("u1", "2024-03-01T16:30:00Z", "order", "5", "e1"),  # 00:30 next day in Shanghai: another event
            ("u1", "2024-03-01T17:00:00Z", "order", "5", "e1"),  # and again that next day: a duplicate in the input
        ],
    )
    rep = duck_ws.ingest(again)
    assert (rep.added, rep.duplicates) == (1, 2)
    days = sorted(r["day"] for r in events(duck_ws, "day"))
    assert days[1] - days[0] == 1
