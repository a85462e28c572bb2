"""Benchmark: training the renewal model on ~100,000 labelled contracts, and the forecast page cold / warm.

Builds a sample store big enough to hold ~100,000 contracts with a known outcome (after the
usage warm-up), then times (median of --runs) risk.train (features in DuckDB + card + final
fit) against two baselines measured in the same run on the same feature matrix: the
segment-and-term churn-rate baseline and a standardised sklearn LogisticRegression. Then
opens pages/forecast.py with AppTest on a 3,000-account sample: cold (empty caches) and a
warm rerun. Prints its section; `python -m bench` records it in bench/results.md.

    PYTHONPATH=. python bench/bench_risk.py [--accounts 16000] [--runs 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.data import importer, store  # noqa: E402
from app.forecasting import risk  # noqa: E402
from bench.common import Context, Result, load, machine, section, timed  # noqa: E402

AS_OF = dt.date(2026, 10, 31)


def measure(accounts: int = 16000, runs: int = 3, page_accounts: int = 3000) -> str:
    """Training, scoring and the forecast page (AppTest) cold and warm; the section's markdown."""
    tmp = Path(tempfile.mkdtemp())
    con = store.connect(tmp / "big.duckdb")
    importer.load_sample(con, seed=7, n_accounts=accounts, as_of=AS_OF)
    model = risk.train(con)
    n = model.n_labelled
    t_train = timed(lambda: risk.train(con), runs=runs, warmup=0)

    # Baselines on the same contracts and matrix.
    metrics, active = risk.find_usage_metrics(con)
    lab = risk.labelled_contracts(con)
    lab = lab.tail(n).reset_index(drop=True)
    raw = risk.raw_features(con, lab, metrics)
    X = risk.design_matrix(raw, metrics, active, [], [], ["SMB", "Mid-Market", "Enterprise"]).fillna(0)
    y = lab["churned"].to_numpy()
    t_feat = timed(lambda: risk.raw_features(con, lab, metrics), runs=runs, warmup=0)
    t_rate = timed(lambda: risk.base_rates(raw["segment"], lab["term_months"], y), runs=runs, warmup=0)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    t_lr = timed(lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y),
                 runs=runs, warmup=0)

    # Scoring every contract due in the next 12 months (features, calibrated model, top drivers).
    from app.forecasting import renewals
    due = renewals.due_contracts(con, AS_OF, renewals.MAX_HORIZON_MONTHS)
    t_score = timed(lambda: risk.score(model, con, due), runs=runs, warmup=0)
    rates = risk.base_rates(raw["segment"], lab["term_months"], y)
    t_score_base = timed(lambda: risk.base_predict(rates, due["segment"], due["term_months"]), runs=runs,
                         warmup=0)
    con.close()

    # The page: cold and warm.
    page_db = tmp / "page.duckdb"
    c2 = store.connect(page_db)
    importer.load_sample(c2, seed=7, n_accounts=page_accounts, as_of=AS_OF)
    c2.close()
    before = os.environ.get("CS_DB")
    os.environ["CS_DB"] = str(page_db)
    try:
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file(str(ROOT / "pages" / "forecast.py"), default_timeout=300)
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        assert not at.exception, at.exception
        warm_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            at.run()
            warm_times.append(time.perf_counter() - t0)
        warm = statistics.median(warm_times)
        # After the import's prepare step (renewals.prepare, as `python -m app load` runs it): a new cold render.
        import streamlit as st

        from app.forecasting import renewals
        c3 = store.connect(page_db)
        t0 = time.perf_counter()
        renewals.prepare(c3, force=True)
        t_prep = time.perf_counter() - t0
        c3.close()
        st.cache_data.clear()
        at2 = AppTest.from_file(str(ROOT / "pages" / "forecast.py"), default_timeout=300)
        t0 = time.perf_counter()
        at2.run()
        cold_prepared = time.perf_counter() - t0
        assert not at2.exception, at2.exception
    finally:
        if before is None:
            os.environ.pop("CS_DB", None)
        else:
            os.environ["CS_DB"] = before

    c = model.card
    results = [
        Result(f"risk.train on {n:,} labelled contracts (features + card + fit)", t_train, "LogisticRegression fit",
               t_lr, "< 10 s" if n >= 100_000 else "", runs),
        Result("feature SQL alone (DuckDB)", t_feat, "segment-rate baseline fit", t_rate, "-", runs),
        Result(f"risk.score, {len(due):,} contracts due in {renewals.MAX_HORIZON_MONTHS} months (features, "
               "calibrated p_renew, top 3 drivers)", t_score, "segment-rate baseline predict", t_score_base, "",
               runs),
        Result(f"forecast page cold, {page_accounts:,} accounts, all segments (AppTest)", cold, None, None, "< 10 s",
               1),
        Result("forecast page warm rerun (AppTest)", warm, None, None, "< 300 ms", 5),
        Result(f"prepare forecasts after import (renewals.prepare), {page_accounts:,} accounts", t_prep, None, None,
               "", 1),
        Result(f"forecast page cold after prepare, {page_accounts:,} accounts (AppTest)", cold_prepared,
               "cold with nothing prepared", cold, "< 5 s", 1),
    ]
    notes = (f"Sample store seed 7, {accounts:,} accounts, as-of {AS_OF}; {load()}.\n\n"
             f"Model card on that store (holdout {c.n_holdout:,} newest contracts): AUC {c.auc:.3f} "
             f"(baseline {c.base_auc:.3f}), annual+ AUC {c.auc_term:.3f} (baseline {c.base_auc_term:.3f}), "
             f"Brier {c.brier:.4f} (baseline {c.base_brier:.4f}), top-decile lift {c.lift:.2f} "
             f"(baseline {c.base_lift:.2f}).\n\nThe LogisticRegression baseline is a fit only (no features, "
             "card or calibration); the page's warm time includes AppTest's own overhead (AppTest runs the "
             "script in the benchmark's process, so the cold time also holds the first imports of the page's "
             "modules). The machine is shared: other jobs ran at the same time.")
    shutil.rmtree(tmp, ignore_errors=True)
    return section("Renewal model: training, scoring, forecast page", results, notes)


def run_section(ctx: Context) -> str:
    """The runner's entry: ~107,000 labelled contracts (16,000 accounts; 2,000 with --quick)."""
    if ctx.quick:
        return measure(2000, 1, 600)
    return measure()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=16000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--page-accounts", type=int, default=3000)
    a = ap.parse_args()
    text = measure(a.accounts, a.runs, a.page_accounts)
    print(f"# Renewal model benchmark\n\nMachine: {machine()}.\n\n" + text)


if __name__ == "__main__":
    main()
