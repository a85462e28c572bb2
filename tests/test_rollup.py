"""The usage rollup of raw events (app/scale/rollup.py): one SQL definition, DuckDB and Spark.

Fast tests run the DuckDB engine against a plain-Python reference of the definition; the tests marked
slow run Spark in local mode (one JVM for the session, tests/conftest.py `spark`) and require identical
rollups from both engines: a few million synthetic events, and hypothesis-made tricky events (time
zones, DST, offsets, late and duplicate events, unknown accounts, invalid rows).
"""
from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cli
from app.data import store
from app.scale import rollup, synth

KNOWN = ["acc-1", "acc-2", "acc-3"]


# ---------------------------------------------------------------- a plain-Python reference of the definition

def _instant(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def reference(rows: list[dict], zone: str, known: list[str] | None) -> tuple[pd.DataFrame, dict]:
    """The documented definition, row by row: (usage rows of known accounts, report figures)."""
    tz = dt.UTC if zone == "UTC" else zoneinfo.ZoneInfo(zone)
    events: dict[tuple, float] = {}
    copies: dict[tuple, int] = defaultdict(int)
    invalid = 0
    for r in rows:
        acc = (r.get("account_id") or "").strip() or None
        ts = _instant(r.get("ts"))
        metric = (r.get("metric") or "").strip() or None
        user = (r.get("user_id") or "").strip() or None
        v = r.get("value")
        value = None if v is None else float(v)
        if acc is None or ts is None or metric is None or (value is not None and not 0 <= value <= 1e300):
            invalid += 1
            continue
        key = (acc, ts, metric, user)  # copies of one event: the largest value among them (None: none)
        copies[key] += 1
        kept = events.get(key)
        events[key] = value if kept is None else kept if value is None else max(kept, value)
    sums: dict[tuple, float] = defaultdict(float)
    users: dict[tuple, set] = defaultdict(set)
    for (acc, ts, metric, user), value in events.items():
        day = ts.astimezone(tz).date()
        sums[(acc, day, metric)] += value or 0.0
        if user is not None:
            users[(acc, day)].add(user)
    out = [(a, d, m, v) for (a, d, m), v in sums.items()]
    out += [(a, d, rollup.ACTIVE_USERS, float(len(u))) for (a, d), u in users.items()]
    df = pd.DataFrame(out, columns=list(rollup.OUTPUT_COLUMNS))
    unknown = set()
    if known is not None:
        unknown = {k[0] for k in events if k[0] not in known}
        df = df[df["account_id"].isin(known)]
    df = df.sort_values(["account_id", "date", "metric"]).reset_index(drop=True)
    stats = {"rows_read": len(rows), "invalid_rows": invalid, "events": len(events),
             "duplicates": sum(copies.values()) - len(events), "unknown_accounts": len(unknown),
             "unknown_events": sum(1 for k in events if k[0] in unknown)}
    return df, stats


def read_out(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    df["date"] = pd.to_datetime(df["date"]).dt.date
    df["account_id"] = df["account_id"].astype(object)
    df["metric"] = df["metric"].astype(object)
    return df.sort_values(["account_id", "date", "metric"]).reset_index(drop=True)


def write_csv(rows: list[dict], path: Path) -> Path:
    """Events as text, the way an export gives them (empty cell = missing)."""
    pd.DataFrame(rows, columns=["account_id", "ts", "metric", "user_id", "value"]).rename(columns={
        "account_id": "Account ID", "ts": "Event Time", "metric": "Event Type", "user_id": "User ID",
        "value": "Value"}).to_csv(path, index=False)
    return path


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.copy()
    want["account_id"] = want["account_id"].astype(object)
    want["metric"] = want["metric"].astype(object)
    assert list(got.columns) == list(rollup.OUTPUT_COLUMNS)
    cols = ["account_id", "date", "metric"]
    assert got[cols].values.tolist() == want[cols].values.tolist()
    assert got["value"].tolist() == pytest.approx(want["value"].tolist(), rel=1e-12, abs=1e-9)


def check_report(report: rollup.RollupReport, stats: dict) -> None:
    for k, v in stats.items():
        assert getattr(report, k) == v, k


# ---------------------------------------------------------------- hand-made cases (DuckDB, fast)

HAND = [
    # acc-1: two logins on 1 Jan UTC, one of them sent twice (counted once), a third at 23:30 UTC that is
    # already 2 Jan in Berlin; a report with value 2.5; user u2 only on the report.
    {"account_id": "acc-1", "ts": "2024-01-01 09:00:00", "metric": "login", "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "2024-01-01T09:00:00Z", "metric": "login", "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "2024-01-01 10:00:00+01:00", "metric": "login", "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "2024-01-01 23:30:00", "metric": "login", "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "2024-01-01 12:00:00", "metric": "report", "user_id": "u2", "value": "2.5"},
    # acc-2: an event without a user (no active_users row for its day)
    {"account_id": "acc-2", "ts": "2024-01-03 00:00:00", "metric": "api_call", "user_id": None, "value": "4"},
    # an unknown account, and invalid rows: no account, a bad timestamp, no event type, a negative value
    {"account_id": "zzz-9", "ts": "2024-01-02 08:00:00", "metric": "login", "user_id": "u9", "value": None},
    {"account_id": " ", "ts": "2024-01-02 08:00:00", "metric": "login", "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "yesterday", "metric": "login", "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "2024-01-02 08:00:00", "metric": None, "user_id": "u1", "value": None},
    {"account_id": "acc-1", "ts": "2024-01-02 08:00:00", "metric": "login", "user_id": "u1", "value": "-1"},
]


def test_by_hand_utc_and_berlin(tmp_path: Path):
    src = write_csv(HAND, tmp_path / "events.csv")
    r = rollup.run(src, tmp_path / "utc.parquet", "duckdb", accounts=KNOWN)
    got = read_out(tmp_path / "utc.parquet")
    d1, d3 = dt.date(2024, 1, 1), dt.date(2024, 1, 3)
    # "10:00+01:00" is 09:00Z: the same instant as the first login, so a duplicate (counted once).
    # Value is mapped: the sum of values, and the logins' empty cells add 0.
    assert got.values.tolist() == [
        ["acc-1", d1, "active_users", 2.0], ["acc-1", d1, "login", 0.0], ["acc-1", d1, "report", 2.5],
        ["acc-2", d3, "api_call", 4.0]]
    assert (r.rows_read, r.invalid_rows, r.duplicates, r.unknown_accounts, r.unknown_events) == (11, 4, 2, 1, 1)
    assert r.unknown_examples == [("zzz-9", 1)]
    text = "\n".join(r.lines())
    assert "unknown accounts: 1 accounts with 1 events" in text and "zzz-9" in text

    # Without the value column every event counts 1 (and the row with value -1 is a valid login on
    # 2 Jan); in Berlin the 23:30 UTC login is on 2 Jan too.
    rollup.run(src, tmp_path / "berlin.parquet", "duckdb", accounts=KNOWN, zone="Europe/Berlin",
               mapping={"Value": ""})
    got = read_out(tmp_path / "berlin.parquet")
    d2 = dt.date(2024, 1, 2)
    assert got.values.tolist() == [
        ["acc-1", d1, "active_users", 2.0], ["acc-1", d1, "login", 1.0], ["acc-1", d1, "report", 1.0],
        ["acc-1", d2, "active_users", 1.0], ["acc-1", d2, "login", 2.0], ["acc-2", d3, "api_call", 1.0]]


def test_reference_agrees_by_hand(tmp_path: Path):
    want, stats = reference(HAND, "UTC", KNOWN)
    r = rollup.run(write_csv(HAND, tmp_path / "e.csv"), tmp_path / "o.parquet", "duckdb", accounts=KNOWN)
    assert_same(read_out(tmp_path / "o.parquet"), want)
    check_report(r, stats)


def test_keep_unknown_and_unchecked(tmp_path: Path):
    src = write_csv(HAND, tmp_path / "e.csv")
    rollup.run(src, tmp_path / "k.parquet", "duckdb", accounts=KNOWN, keep_unknown=True)
    assert "zzz-9" in set(read_out(tmp_path / "k.parquet")["account_id"])
    r = rollup.run(src, tmp_path / "n.parquet", "duckdb", accounts=None)
    assert "zzz-9" in set(read_out(tmp_path / "n.parquet")["account_id"])
    assert not r.accounts_checked and "accounts not checked" in "\n".join(r.lines())


def test_mapping_synonyms_and_overrides():
    m = rollup.propose_mapping(["Customer ID", "Timestamp", "Event Name", "distinct_id", "Other"])
    assert m == {"account_id": "Customer ID", "ts": "Timestamp", "metric": "Event Name", "user_id": "distinct_id"}
    m = rollup.propose_mapping(["acct", "when", "what"], {"when": "ts", "what": "metric"})
    assert m == {"account_id": "acct", "ts": "when", "metric": "what"}
    with pytest.raises(rollup.RollupError, match="need columns for ts"):
        rollup.propose_mapping(["account_id", "event"])
    with pytest.raises(rollup.RollupError, match="not an event column"):
        rollup.propose_mapping(["a"], {"a": "nonsense"})


@pytest.mark.parametrize("zone", ["Europe/Berlin'; DROP TABLE x; --", "Mars/Base", "../etc"])
def test_zone_is_checked_before_it_reaches_sql(zone):
    with pytest.raises(rollup.RollupError, match="not a time zone"):
        rollup.rollup_sql(zone)


def test_active_users_name_clash_is_refused(tmp_path: Path):
    rows = [{"account_id": "acc-1", "ts": "2024-01-01", "metric": "active_users", "user_id": "u", "value": None}]
    with pytest.raises(rollup.RollupError, match="active_users"):
        rollup.run(write_csv(rows, tmp_path / "e.csv"), tmp_path / "o.parquet", "duckdb")


def test_the_definition_is_written_once():
    """Both engines get the very same SQL text (the engine modules hold no aggregation of their own)."""
    src = Path(rollup.__file__).read_text()
    assert src.count("GROUP BY account_id, ts, metric, user_id") == 1
    assert src.count("count(DISTINCT user_id)") == 1
    duck, spark = src.split("def _duckdb_run")[1].split("def _spark_run")
    for part in (duck, spark):
        assert "rollup_sql(zone" in part and "STATS_SQL" in part and "output_sql(" in part
        assert "GROUP BY" not in part and "sum(" not in part


def test_cli_rollup_then_load_usage(tmp_path: Path, capsys):
    db = tmp_path / "s.duckdb"
    assert cli.main(["init", "--sample", "--accounts", "60", "--db", str(db)]) == 0
    con = store.connect(db, read_only=True)
    ids = [r[0] for r in con.execute("SELECT account_id FROM accounts ORDER BY 1").fetchall()]
    con.close()
    rows = [{"account_id": ids[i % 5], "ts": f"2024-02-0{1 + i % 3} 1{i % 10}:00:00", "metric": "login",
             "user_id": f"u{i % 4}", "value": None} for i in range(40)]
    rows.append({"account_id": "NOT-A-CUSTOMER", "ts": "2024-02-01", "metric": "login", "user_id": "x",
                 "value": None})
    src = write_csv(rows, tmp_path / "events.csv")
    out = tmp_path / "usage.parquet"
    capsys.readouterr()
    assert cli.main(["usage-rollup", "--events", str(src), "--out", str(out), "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "unknown accounts: 1 accounts with 1 events" in text and "NOT-A-CUSTOMER" in text
    assert cli.main(["load", "usage", str(out), "--db", str(db), "--no-prepare"]) == 0
    con = store.connect(db, read_only=True)
    n, users = con.execute("SELECT count(*), sum(CASE WHEN metric = 'active_users' THEN value END) "
                           "FROM usage").fetchall()[0]
    con.close()
    assert n == len(pd.read_parquet(out)) and users > 0
    assert cli.main(["usage-rollup", "--events", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert cli.main(["usage-rollup", "--events", str(src), "--out", str(out), "--tz", "Nowhere/Land"]) == 2


# ---------------------------------------------------------------- tricky events (hypothesis)

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"]
# Around DST changes (Europe 31 Mar, US 10 Mar) and midnights.
_BASE = dt.datetime(2024, 3, 9, 0, 0)
_OFFSETS = ["", "Z", "+00:00", "+05:30", "-04:00", "+13:45"]


@st.composite
def event_rows(draw) -> list[dict]:
    n = draw(st.integers(1, 30))
    rows = []
    for _ in range(n):
        minutes = draw(st.one_of(st.integers(0, 60 * 24 * 3), st.integers(60 * 24 * 21, 60 * 24 * 24)))
        t = _BASE + dt.timedelta(minutes=minutes)
        off = draw(st.sampled_from(_OFFSETS))
        sep = draw(st.sampled_from([" ", "T"]))
        ts = t.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + off
        rows.append({
            "account_id": draw(st.sampled_from(KNOWN + ["ghost-1", "ghost-2", ""])),
            "ts": draw(st.one_of(st.just(ts), st.just(ts), st.just(ts), st.just("not a time"), st.none())),
            "metric": draw(st.sampled_from(["login", "export", "report", " login ", None])),
            "user_id": draw(st.sampled_from(["u1", "u2", "u3", None])),
            "value": draw(st.sampled_from([None, "1", "2.5", "0", "-3", "7"])),
        })
    # resent (duplicate) and late (out-of-order, appended at the end) events
    dups = draw(st.lists(st.integers(0, n - 1), max_size=5))
    rows += [dict(rows[i]) for i in dups]
    order = draw(st.permutations(range(len(rows))))
    return [rows[i] for i in order]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=event_rows(), zone=st.sampled_from(ZONES), with_value=st.booleans())
def test_duckdb_matches_the_definition(tmp_path_factory, rows, zone, with_value):
    d = tmp_path_factory.mktemp("h")
    if not with_value:
        rows = [dict(r, value=None) for r in rows]
    src = write_csv(rows, d / "e.csv")
    mapping = None if with_value else {"Value": ""}
    try:
        r = rollup.run(src, d / "o.parquet", "duckdb", zone=zone, accounts=KNOWN, mapping=mapping)
    except rollup.RollupError as exc:  # a CSV whose value column is all empty still maps
        raise AssertionError(exc) from exc
    ref_rows = rows if with_value else [dict(r, value="1") for r in rows]
    want, stats = reference(ref_rows, zone, KNOWN)
    assert_same(read_out(d / "o.parquet"), want)
    check_report(r, stats)


def test_late_events_land_on_their_own_day(tmp_path: Path):
    """A batch that arrives later, for a past day, changes that day only when rolled up with it."""
    early = [{"account_id": "acc-1", "ts": "2024-01-05 10:00:00", "metric": "login", "user_id": "u1", "value": None}]
    late = [{"account_id": "acc-1", "ts": "2024-01-01 10:00:00", "metric": "login", "user_id": "u2", "value": None},
            dict(early[0])]  # the late batch resends an event already counted
    rollup.run(write_csv(early + late, tmp_path / "all.csv"), tmp_path / "o.parquet", "duckdb",
               accounts=KNOWN, mapping={"Value": ""})
    got = read_out(tmp_path / "o.parquet")
    assert got[got["metric"] == "login"][["date", "value"]].values.tolist() == [
        [dt.date(2024, 1, 1), 1.0], [dt.date(2024, 1, 5), 1.0]]


# ---------------------------------------------------------------- Spark: identical results

@pytest.mark.slow
def test_spark_equals_duckdb_on_millions_of_events(spark, tmp_path: Path):
    src = synth.write_events(tmp_path / "events.parquet", 2_000_000, n_accounts=3000, seed=3)
    known = synth.account_ids(3000)
    rd = rollup.run(src, tmp_path / "duck.parquet", "duckdb", accounts=known)
    rs = rollup.run(src, tmp_path / "spark.parquet", "spark", accounts=known, spark=spark)
    a, b = read_out(tmp_path / "duck.parquet"), read_out(tmp_path / "spark.parquet")
    assert len(a) > 500_000
    pd.testing.assert_frame_equal(a, b)  # values are small integers: sums are exact on both engines
    for k in ("rows_read", "invalid_rows", "events", "duplicates", "unknown_accounts", "unknown_events",
              "accounts", "event_types", "rows_out", "first_date", "last_date", "unknown_examples"):
        assert getattr(rd, k) == getattr(rs, k), k
    assert rd.duplicates > 10_000 and rd.unknown_accounts > 0 and rd.rows_read == 2_000_000


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=event_rows(), zone=st.sampled_from(ZONES))
def test_spark_equals_duckdb_on_tricky_events(spark, tmp_path_factory, rows, zone):
    d = tmp_path_factory.mktemp("hs")
    src = write_csv(rows, d / "e.csv")
    rd = rollup.run(src, d / "duck.parquet", "duckdb", zone=zone, accounts=KNOWN)
    rs = rollup.run(src, d / "spark.parquet", "spark", zone=zone, accounts=KNOWN, spark=spark)
    a, b = read_out(d / "duck.parquet"), read_out(d / "spark.parquet")
    assert a[["account_id", "date", "metric"]].values.tolist() == b[["account_id", "date", "metric"]].values.tolist()
    assert a["value"].tolist() == pytest.approx(b["value"].tolist(), rel=1e-12)
    want, stats = reference(rows, zone, KNOWN)
    assert_same(b, want)
    check_report(rs, stats)
    assert (rd.rows_read, rd.duplicates, rd.invalid_rows, rd.unknown_examples) == \
        (rs.rows_read, rs.duplicates, rs.invalid_rows, rs.unknown_examples)


@pytest.mark.slow
def test_spark_reads_parquet_timestamps_and_writes_a_dataset(spark, tmp_path: Path):
    """Parquet with zone-aware and naive timestamps (naive = UTC) on both engines; Spark's folder output
    (what a cluster job writes to s3://...) holds the same rows."""
    t = pd.DataFrame({"account_id": ["acc-1", "acc-1", "acc-2"],
                      "timestamp": pd.to_datetime(["2024-03-30 23:30", "2024-03-31 22:30", "2024-03-31 00:10"]),
                      "event": ["login", "login", "export"], "user_id": ["a", "b", "a"]})
    naive = tmp_path / "naive.parquet"
    t.to_parquet(naive, coerce_timestamps="us", allow_truncated_timestamps=True)
    aware = tmp_path / "aware.parquet"
    t.assign(timestamp=t["timestamp"].dt.tz_localize("UTC").dt.tz_convert("Asia/Tokyo")).to_parquet(
        aware, coerce_timestamps="us", allow_truncated_timestamps=True)
    outs = []
    for src in (naive, aware):
        for engine in ("duckdb", "spark"):
            out = tmp_path / f"{src.stem}-{engine}.parquet"
            rollup.run(src, out, engine, zone="Europe/Berlin", accounts=KNOWN, spark=spark)
            outs.append(read_out(out))
    for o in outs[1:]:
        pd.testing.assert_frame_equal(outs[0], o)
    # Berlin: 23:30Z on 30 Mar is 00:30 on 31 Mar (CET); 22:30Z on 31 Mar is 00:30 on 1 Apr (CEST).
    assert outs[0][outs[0]["metric"] == "login"]["date"].tolist() == [dt.date(2024, 3, 31), dt.date(2024, 4, 1)]
    folder = tmp_path / "dataset"
    rollup.run(naive, str(folder), "spark", zone="Europe/Berlin", accounts=KNOWN, spark=spark)
    assert any(folder.glob("*.parquet"))
    pd.testing.assert_frame_equal(read_out(folder), outs[0])
