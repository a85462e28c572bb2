"""Customer health: exact decompositions, versions, stage rules, the CLI table, the score against the model."""
from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from contextlib import redirect_stdout

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import cli
from app.data import store
from app.health import book, evaluate, factors, scorecard, snapshots, stages
from app.health.scorecard import Config, Factor

AS_OF = dt.date(2026, 10, 31)


# ----------------------------------------------------------------- hand-made configs


def tiny_config() -> Config:
    return Config(scorecard.HOUSE, "tiny", (
        Factor("utilisation", "Seat utilisation", "utilisation", edges=(0.3, 0.7), points=(0.0, 20.0, 40.0, 10.0),
               direction=+1),
        Factor("tickets", "Support tickets", "tickets", edges=(1, 5), points=(30.0, 15.0, 0.0, 5.0), direction=-1),
        Factor("x_plan", "Account: plan", "x_cat", categories=("Pro", "Starter"),
               points=(30.0, 10.0, 5.0, 0.0)),
    ), red_below=40, green_from=70)


def test_points_by_hand():
    X = pd.DataFrame({"utilisation": [0.1, 0.3, 0.69, 0.7, np.nan],
                      "tickets": [0, 1, 4.9, 5, 2],
                      "x_plan": ["Pro", "Starter", "Other", None, "Pro"]})
    s, P = scorecard.score(tiny_config(), X)
    # an edge value falls in the upper bin; unknown is the last bin; a category not listed is "other"
    assert P.tolist() == [[0, 30, 30], [20, 15, 10], [20, 15, 5], [40, 0, 0], [10, 15, 30]]
    assert s.tolist() == [60, 45, 40, 40, 55]
    assert scorecard.band(s, 40, 70).tolist() == ["yellow", "yellow", "yellow", "yellow", "yellow"]
    assert scorecard.band(np.array([39.99, 40, 69.99, 70]), 40, 70).tolist() == ["red", "yellow", "yellow", "green"]


def test_config_round_trips_through_json():
    cfg = tiny_config()
    back = Config.from_json(cfg.to_json(), version=3)
    assert back.factors == cfg.factors and back.red_below == 40 and back.version == 3


finite = st.floats(-5, 5, allow_nan=False)


@st.composite
def configs_and_values(draw):
    n_f = draw(st.integers(1, 6))
    fs, cols = [], {}
    n = draw(st.integers(1, 30))
    for j in range(n_f):
        edges = tuple(sorted(set(draw(st.lists(finite, min_size=0, max_size=4)))))
        pts = tuple(draw(st.integers(0, 2000)) / 100 for _ in range(len(edges) + 2))
        fs.append(Factor(f"f{j}", f"F{j}", "trend", edges=edges, points=pts))
        cols[f"f{j}"] = draw(st.lists(st.one_of(finite, st.just(float("nan"))), min_size=n, max_size=n))
    cfg = Config(scorecard.HOUSE, "h", tuple(fs), 40, 70)
    X0 = pd.DataFrame(cols)
    X1 = pd.DataFrame({k: draw(st.lists(st.one_of(finite, st.just(float("nan"))), min_size=n, max_size=n))
                       for k in cols})
    return cfg, X0, X1


@settings(max_examples=80, deadline=None)
@given(configs_and_values())
def test_points_add_up_to_the_score_and_deltas_to_the_change(case):
    cfg, X0, X1 = case
    s0, P0 = scorecard.score(cfg, X0)
    s1, P1 = scorecard.score(cfg, X1)
    assert np.allclose(P0.sum(axis=1), s0, atol=0.01)
    delta = np.round(s1 - s0, 2)
    assert np.allclose((P1 - P0).sum(axis=1), delta, atol=0.01)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_learned_points_are_an_affine_map_of_the_logit(seed):
    """Points >= 0, the best score is at most 100, and the score falls as the fitted churn logit rises."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n = 600
    X = pd.DataFrame({"utilisation": rng.uniform(0, 1.2, n), "tickets": rng.poisson(3, n).astype(float),
                      "nps": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 11, n))})
    logit = -1 - 2 * X["utilisation"] + 0.2 * X["tickets"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    y[:2] = [0, 1]
    inp = factors.Inputs((), None, (), ())
    cfg = scorecard.fit_learned(inp, X, y)
    assert all(min(f.points) >= 0 for f in cfg.factors)
    assert sum(max(f.points) for f in cfg.factors) <= 100 + 1e-9
    s, P = scorecard.score(cfg, X)
    assert np.allclose(P.sum(axis=1), s, atol=0.01)
    M, _ = scorecard.one_hot(cfg.factors, X)
    lr = LogisticRegression(C=scorecard.L2_C, max_iter=2000).fit(M, y)
    z = lr.decision_function(M)
    k = cfg.fit["points_per_logit"]
    # score = A - k * logit, up to the flooring of each factor's points to hundredths
    resid = s + k * z
    assert resid.max() - resid.min() <= 0.01 * len(cfg.factors) + 1e-6
    assert 0 < cfg.red_below < cfg.green_from <= 100


def test_house_bounds_are_checked():
    names = ["a", "b"]
    assert scorecard.check_house({"a": 50, "b": 50}, 40, 70, "Ours", names) == []
    assert any("add up to 60" in p for p in scorecard.check_house({"a": 50, "b": 10}, 40, 70, "Ours", names))
    assert any("between 0 and 100" in p for p in scorecard.check_house({"a": 150, "b": -50}, 40, 70, "Ours", names))
    assert any("Bands" in p for p in scorecard.check_house({"a": 50, "b": 50}, 70, 40, "Ours", names))
    assert any("name" in p for p in scorecard.check_house({"a": 50, "b": 50}, 40, 70, " ", names))
    assert any("Unknown" in p for p in scorecard.check_house({"a": 50, "c": 50}, 40, 70, "x", names))
    base = tiny_config()
    h = scorecard.house(base, {"utilisation": 60, "tickets": 40, "x_plan": 0}, 30, 80, "Ours")
    # utilisation: 3 bins worst..best -> 0, 30, 60; unknown earns half; tickets: fewer is better
    assert h.factors[0].points == (0.0, 30.0, 60.0, 30.0)
    assert h.factors[1].points == (40.0, 20.0, 0.0, 20.0)
    with pytest.raises(ValueError, match="add up"):
        scorecard.house(base, {"utilisation": 60}, 30, 80, "Ours")


def test_stage_rules_by_hand():
    tenure = np.array([1, 5, 5, 11, 13, 40, 2, 8, np.nan])
    util = np.array([0.9, 0.2, 0.5, 0.45, 0.1, 0.8, 0.1, np.nan, 0.9])
    level = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1])
    due = np.array([False, False, False, False, False, True, True, False, False])
    got = stages.stage(tenure, util, level, due)
    assert got.tolist() == ["onboarding",  # under 3 months, activated or not
                            "onboarding",  # 5 months, utilisation 20% < 40%: not activated
                            "activation",  # 5 months, activated
                            "activation",  # 11 months, 45%
                            "adoption",  # over 12 months, low utilisation is not onboarding any more
                            "renewal",  # annual contract due in 90 days
                            "renewal",  # renewal comes first
                            "onboarding",  # no utilisation known and no usage: not activated
                            "onboarding"]  # unknown tenure counts as new
    assert stages.stuck(got, tenure).tolist() == [False, True, False, False, False, False, False, True, False]


# ----------------------------------------------------------------- on the sample store


@pytest.fixture(scope="module")
def health_db(sample_db, tmp_path_factory):
    """A copy of the sample with the learned config fitted and snapshots built."""
    path = tmp_path_factory.mktemp("health") / "h.duckdb"
    shutil.copy(sample_db, path)
    con = store.connect(path)
    cfg = snapshots.config(con)
    part, snapshots.PART_ACCOUNTS = snapshots.PART_ACCOUNTS, 500  # built in parts, as a large book is
    try:
        sid = snapshots.ensure_snapshots(con, cfg)
    finally:
        snapshots.PART_ACCOUNTS = part
    con.close()
    return path, cfg.version, sid


def test_snapshots_cover_52_weeks_with_one_config_version(health_db):
    path, version, sid = health_db
    con = store.connect(path)
    weeks = snapshots.weeks_of(con, sid)
    assert len(weeks) == 52 and weeks[-1] == AS_OF and weeks[0] == AS_OF - dt.timedelta(days=7 * 51)
    assert store.query_rows(con, "SELECT count(DISTINCT config_version) FROM health_snapshot_sets WHERE set_id = ?",
                            [sid])[0][0] == 1
    snap = snapshots.snapshot(con, sid)
    pts = snap[[c for c in snap if c.startswith("points_")]].to_numpy()
    assert np.allclose(pts.sum(axis=1), snap["score"], atol=0.01)
    assert snap["score"].between(0, 100).all()
    # the same scores computed now for the as-of date
    cfg = scorecard.load(con, version)
    now = snapshots.scores_on(con, cfg, [AS_OF]).set_index("account_id")["score"]
    assert np.allclose(now.reindex(snap["account_id"]).to_numpy(), snap["score"].to_numpy())
    # a second call finds the set instead of building another
    assert snapshots.ensure_snapshots(con, cfg) == sid
    con.close()


def test_snapshot_set_built_in_sql_equals_the_numpy_scores_every_week(health_db):
    """The set is built in one SQL statement (build_sql); score_frame scores the same factor rows in numpy.
    Every week, account, point, score, band and stage agree."""
    path, version, sid = health_db
    con = store.connect(path, read_only=True)
    cfg = scorecard.load(con, version)
    weeks = snapshots.weeks_of(con, sid)
    stored = store.query_df(con, "SELECT week, account_id, score, band, stage, points FROM health_snapshots "
                                 "WHERE set_id = ? ORDER BY week, account_id", [sid])
    ref = snapshots.scores_on(con, cfg, weeks)
    con.close()
    ref = ref.assign(week=pd.to_datetime(ref["t"]).dt.date).sort_values(["week", "account_id"], ignore_index=True)
    assert len(stored) == len(ref) > 30_000
    assert (stored["account_id"].to_numpy() == ref["account_id"].to_numpy()).all()
    assert (pd.to_datetime(stored["week"]).dt.date.to_numpy() == ref["week"].to_numpy()).all()
    P = np.array(stored["points"].tolist(), dtype=float)
    assert np.abs(P - ref[[f"points_{n}" for n in cfg.names]].to_numpy(float)).max() <= 1e-9
    assert np.abs(stored["score"].to_numpy() - ref["score"].to_numpy()).max() <= 1e-9
    assert (stored["band"].to_numpy() == ref["band"].to_numpy()).all()
    assert (stored["stage"].to_numpy() == ref["stage"].to_numpy()).all()
    assert set(stored["stage"]) == set(stages.STAGES)  # every rule is exercised


def test_staged_sources_are_dropped_after_a_build_in_parts_even_a_failed_one(sample_copy, monkeypatch):
    """A set built in parts stages the keyed sources in temp tables once; none outlives the build, and a
    build failing after staging leaves no set and no temp table."""
    con = store.connect(sample_copy)
    cfg = snapshots.config(con)
    monkeypatch.setattr(snapshots, "PART_ACCOUNTS", 700)
    staged_tables = "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_hf\\_s\\_%' ESCAPE '\\'"
    real = snapshots.build_sql

    def failing(*args, **kwargs):
        assert store.query_rows(con, staged_tables)[0][0] == 1 + len(factors._SOURCES)  # staged while building
        if args[3] == 1:  # the second part
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshots, "build_sql", failing)
    with pytest.raises(RuntimeError):
        snapshots.ensure_snapshots(con, cfg)
    assert store.query_rows(con, staged_tables)[0][0] == 0
    assert snapshots.snapshot_set(con, cfg) is None
    monkeypatch.setattr(snapshots, "build_sql", real)
    sid = snapshots.ensure_snapshots(con, cfg)
    assert store.query_rows(con, staged_tables)[0][0] == 0
    assert store.query_rows(con, "SELECT count(*) FROM health_snapshots WHERE set_id = ?", [sid])[0][0] > 30_000
    with pytest.raises(ValueError):
        factors.query(factors.inputs(con), True, 3, staged=True)
    con.close()


def test_factor_values_of_given_units_equal_the_grid(health_db):
    """raw_values for (account, date) units and for the grid of dates are the same query: the same values."""
    path, _, _ = health_db
    con = store.connect(path, read_only=True)
    inp = factors.inputs(con)
    dates = [AS_OF - dt.timedelta(days=7 * k) for k in (0, 5, 30)]
    grid = factors.raw_values(con, inp, dates=dates)
    units = factors.raw_values(con, inp, units=grid[["account_id", "t"]].astype({"account_id": str}))
    con.close()
    assert len(units) == len(grid) > 1000
    for c in grid.columns:
        a, b = grid[c].astype(object), units[c].astype(object)
        same = (a.map(repr) == b.map(repr)).to_numpy().copy()  # missing as missing, numbers to the last bit
        if c == "arr_now":  # a sum of line items (only its sign is used): the order of the sum may differ
            same |= np.isclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, atol=0)
        assert same.all(), (c, a[~same][:3], b[~same][:3])


def test_nps_of_several_answers_on_one_day_is_the_lowest(health_db):
    """The latest NPS answer: of several given the same day, the lowest (it was arbitrary before)."""
    path, _, _ = health_db
    con = store.connect(path, read_only=True)
    ties = store.query_df(con, "SELECT account_id, CAST(date AS DATE) AS t, min(score) AS low FROM nps "
                               "GROUP BY ALL HAVING count(DISTINCT score) > 1 ORDER BY ALL LIMIT 20")
    assert len(ties)
    for _ in range(2):  # the same answer every time
        raw = factors.raw_values(con, factors.inputs(con), units=ties[["account_id", "t"]])
        got = dict(zip(zip(raw["account_id"], pd.to_datetime(raw["t"]).dt.date, strict=True), raw["nps"],
                       strict=True))
        want = dict(zip(zip(ties["account_id"], pd.to_datetime(ties["t"]).dt.date, strict=True), ties["low"],
                        strict=True))
        assert {k: got[k] for k in want} == want
    con.close()


@settings(max_examples=200, deadline=None)
@given(st.floats(-2, 25, allow_nan=False), st.floats(0, 1e9, allow_nan=False))
def test_level_edges_compare_exactly_on_the_usage_scale(e, v):
    """points_sql bins a usage level log1p(v) by comparing v with log1p_edge(e): the same answer as numpy."""
    assert (np.log1p(v) >= e) == (v >= scorecard.log1p_edge(e))
    edge = scorecard.log1p_edge(e)
    if e > 0:
        assert np.log1p(edge) >= e > np.log1p(np.nextafter(edge, -np.inf))


def test_config_edit_is_a_new_version_and_movers_never_mix_versions(health_db, tmp_path):
    path0, v_learned, sid0 = health_db
    path = tmp_path / "v.duckdb"
    shutil.copy(path0, path)
    con = store.connect(path)
    learned = scorecard.load(con, v_learned)
    w = scorecard.default_house_weights(learned.names)
    h = scorecard.save(con, scorecard.house(learned, w, 35, 65, "Ours"))
    assert h.version == v_learned + 1 and scorecard.load(con, v_learned) == learned  # the old version is kept
    scorecard.set_active(con, h.version)
    assert snapshots.config(con).version == h.version
    sid = snapshots.ensure_snapshots(con)
    assert sid != sid0
    assert snapshots.set_info(con, sid)["config_version"] == h.version
    mv = snapshots.movers(con, sid, n=50)
    assert len(mv)
    # every mover's change is the house config's change, not the jump from the learned scores
    weeks = snapshots.weeks_of(con, sid)
    cmp = snapshots.compare(con, h, weeks[-2], weeks[-1]).set_index("account_id")
    assert np.allclose(mv["delta"].to_numpy(), cmp.loc[mv["account_id"], "delta"].to_numpy(), atol=0.01)
    assert np.allclose(mv[[c for c in mv if c.startswith("delta_")]].sum(axis=1), mv["delta"], atol=0.01)
    learned_scores = snapshots.snapshot(con, sid0).set_index("account_id")["score"]
    house_scores = snapshots.snapshot(con, sid).set_index("account_id")["score"]
    assert not np.allclose(learned_scores, house_scores.reindex(learned_scores.index))
    con.close()


def test_explain_sums_to_the_change_in_plain_words(health_db):
    path, version, sid = health_db
    con = store.connect(path, read_only=True)
    cfg = scorecard.load(con, version)
    before, after = AS_OF - dt.timedelta(days=28), AS_OF
    cmp = snapshots.compare(con, cfg, before, after).dropna(subset=["delta"])
    acc = cmp.loc[cmp["delta"].abs().idxmax(), "account_id"]
    ex = snapshots.explain(con, cfg, acc, before, after)
    assert abs(ex["delta"].sum() - cmp.set_index("account_id").loc[acc, "delta"]) <= 0.01
    top = ex.iloc[0]
    assert top["text"].startswith(top["label"] + ": ") and top["text"].endswith(f"{top['delta']:+.1f} points")
    con.close()


def test_cli_health_columns_and_sums(health_db, tmp_path, capsys):
    path, version, _ = health_db
    out = tmp_path / "h.csv"
    assert cli.main(["health", "--db", str(path), "--as-of", "2026-10-31", "--compare", "2026-09-30",
                     "--out", str(out)]) == 0
    df = pd.read_csv(out)
    con = store.connect(path, read_only=True)
    names = scorecard.load(con, version).names
    con.close()
    assert list(df.columns) == ["account_id", "segment", "csm_id", "stage", "score", "band", "config_version",
                                *(f"points_{n}" for n in names), "score_before", "delta",
                                *(f"delta_{n}" for n in names)]
    assert (df["config_version"] == version).all()
    assert np.allclose(df[[f"points_{n}" for n in names]].sum(axis=1), df["score"], atol=0.01)
    both = df.dropna(subset=["delta"])
    assert len(both) > 100
    assert np.allclose(both[[f"delta_{n}" for n in names]].sum(axis=1), both["delta"], atol=0.01)
    assert set(df["stage"]) <= set(stages.STAGES) and set(df["band"]) <= {"red", "yellow", "green"}
    # without --compare: exactly the first columns
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cli.main(["health", "--db", str(path), "--as-of", "2026-10-31"]) == 0
    header = next(csv.reader(io.StringIO(buf.getvalue())))
    assert header == ["account_id", "segment", "csm_id", "stage", "score", "band", "config_version",
                      *(f"points_{n}" for n in names)]
    assert cli.main(["health", "--db", str(path), "--as-of", "31/10/2026"]) == 2
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_csm_book_and_workbook(health_db):
    from openpyxl import load_workbook

    path, version, sid = health_db
    con = store.connect(path, read_only=True)
    cfg = scorecard.load(con, version)
    snap = snapshots.snapshot(con, sid)
    due = pd.DataFrame({"account_id": snap["account_id"].head(3), "contract_id": ["c1", "c2", "c3"],
                        "end_date": [AS_OF + dt.timedelta(days=10)] * 3, "arr": [1000.0, 2000.0, 3000.0],
                        "billing": ["annual"] * 3, "p_renew": [0.5, 0.9, 0.95]})
    names = book.csm_list(snap)
    first = snap["csm_name"].iloc[0]
    b = book.csm_book(cfg, snap, due, first)
    assert set(b["accounts"]["account_id"]) == set(snap.loc[snap["csm_name"] == first, "account_id"])
    assert b["accounts"]["score"].is_monotonic_increasing
    red_or_low = (b["accounts"]["band"] == "red") | b["accounts"]["account_id"].isin(
        due.loc[due["p_renew"] < 0.8, "account_id"])
    assert set(b["at_risk"]["account_id"]) == set(b["accounts"].loc[red_or_low, "account_id"])
    wb = load_workbook(io.BytesIO(book.book_xlsx(cfg, snap, due, names)))
    assert len(wb.sheetnames) == len(names)
    assert wb.sheetnames[0] == names[0][:31]
    con.close()


def test_learned_score_auc_close_to_the_renewal_model(health_db):
    """On past quarters' renewals the learned score is at most 0.03 AUC below the renewal model (issue 13)."""
    path, _, _ = health_db
    con = store.connect(path, read_only=True)
    r = evaluate.evaluate(con)
    con.close()
    pooled = r["summary"].iloc[-1]
    assert pooled["quarter"] == "all quarters" and pooled["accounts"] > 500
    assert pooled["auc_learned"] >= pooled["auc_model"] - 0.03, pooled.to_dict()
    assert pooled["auc_learned"] > 0.6
    bands = r["bands"].set_index("band")["churn_rate"]
    assert bands["red"] > bands["yellow"] > bands["green"]


def test_quarter_ends_are_complete_windows():
    q = evaluate.quarter_ends(AS_OF, 4)
    assert q == [dt.date(2025, 9, 30), dt.date(2025, 12, 31), dt.date(2026, 3, 31), dt.date(2026, 6, 30)]


def test_summary_bands_and_verdict_by_hand():
    units = pd.DataFrame({
        "q": [dt.date(2026, 3, 31)] * 4 + [dt.date(2026, 6, 30)] * 4,
        "account_id": list("abcdefgh"),
        "churned": [1, 0, 0, 0, 1, 1, 0, 0],
        # learned: the churned account scores lowest in Q1; in Q2 one churned account scores highest
        "score_learned": [10, 50, 60, 70, 20, 90, 30, 40],
        "band_learned": ["red", "yellow", "yellow", "green", "red", "green", "red", "yellow"],
        "score_house": [50, 40, 60, 70, 80, 90, 30, 40],
        "band_house": ["yellow", "yellow", "yellow", "green", "green", "green", "red", "yellow"],
        "p_churn_model": [0.9, 0.1, 0.2, 0.3, 0.8, 0.1, 0.5, 0.2],
    })
    s = evaluate.summary(units).set_index("quarter")
    assert s.loc["2026-03-31", "auc_learned"] == 1.0 and s.loc["2026-03-31", "auc_model"] == 1.0
    # Q2: churned {e: 20, f: 90}, renewed {g: 30, h: 40}: pairs (e beats both) + (f beats none) = 2 of 4
    assert s.loc["2026-06-30", "auc_learned"] == 0.5
    assert s.loc["all quarters", "accounts"] == 8 and s.loc["all quarters", "churn_rate"] == 3 / 8
    b = evaluate.band_rates(units).set_index(["config", "band"])
    assert b.loc[("learned", "red"), "churn_rate"] == 2 / 3 and b.loc[("learned", "green"), "churned"] == 1
    words = " ".join(evaluate.verdict(evaluate.summary(units)))
    assert "predicts churn worse than the learned score" in words
    assert "Not enough renewal history" in evaluate.verdict(pd.DataFrame())[0]


def test_a_score_or_set_built_by_older_code_is_rebuilt(health_db, tmp_path, monkeypatch):
    """The learned score and snapshot set are keyed by the data and snapshots.BUILD_VERSION: after a change of
    the build (a bump), the next need fits and builds anew instead of reusing the old ones."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(health_db[0], path)
    con = store.connect(path)
    cfg = snapshots.config(con)
    assert cfg.version == health_db[1] and snapshots.ensure_snapshots(con, cfg) == health_db[2]  # reused
    monkeypatch.setattr(snapshots, "BUILD_VERSION", snapshots.BUILD_VERSION + "-next")
    new_cfg = snapshots.config(con)
    assert new_cfg.version != cfg.version
    assert snapshots.snapshot_set(con, new_cfg) is None
    assert snapshots.ensure_snapshots(con, new_cfg) != health_db[2]
    con.close()
