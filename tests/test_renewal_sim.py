"""The window simulation with a shared shock (app/forecasting/renewal_window.py): hand cases and properties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from app.forecasting import renewal_window as rw


def _paths() -> rw.Paths:
    # stream 0: renewals at P 0.9 then 0.8; stream 1: one renewal at 0.5
    return rw.Paths.build([0, 0, 1], [0.9, 0.8, 0.5], [100.0, 100.0, 40.0], 2)


def test_cumulative_and_through_by_hand():
    p = _paths()
    assert p.cumulative(np.zeros(1))[0] == pytest.approx([0.9, 0.72, 0.5])
    assert p.through(np.zeros(1))[0] == pytest.approx([0.72, 0.5])
    # one account holding both streams: lost only if both are
    assert rw.p_retained(p.through(np.zeros(1)), np.array([0, 0]), 1, np.array([False]))[0] == \
        pytest.approx([1 - 0.28 * 0.5])
    assert rw.p_retained(p.through(np.zeros(1)), np.array([0, 0]), 1, np.array([True]))[0] == pytest.approx([1.0])


def test_extremes_and_groups_add_up():
    p = rw.Paths.build([0, 1], [1.0, 0.0], [100.0, 50.0], 2)
    sim = rw.simulate(p, np.array([100.0, 50.0]), np.array([0, 1]), np.array([False, False]), n_sims=50)
    assert (sim.renewed_arr == 100).all() and (sim.lost_accounts == 1).all() and (sim.lost_arr == 50).all()
    p = rw.Paths.build([0, 1, 2], [0.5, 0.5, 1.0], [100.0, 50.0, 25.0], 3)
    sim = rw.simulate(p, np.array([100.0, 50.0, 25.0]), np.array([0, 1, 2]), np.zeros(3, bool),
                      stream_groupings=[np.array([1, 0, 1])], renewal_groupings=[np.array([0, 0, 1])],
                      n_sims=400, seed=3)
    by = sim.groups[0]
    assert by.shape == (400, 2) and np.allclose(by.sum(axis=1), sim.renewed_arr)
    assert np.allclose(sim.renewal_groups[0].sum(axis=1), sim.renewed_arr)  # one renewal per stream here
    assert 0.4 < (by[:, 1] == 125.0).mean() < 0.6


def test_a_stream_lost_in_one_month_is_not_renewed_in_the_next():
    p = rw.Paths.build([0, 0], [0.5, 0.99], [10.0, 10.0], 1)
    sim = rw.simulate(p, np.array([10.0]), np.array([0]), np.zeros(1, bool), renewal_groupings=[np.array([0, 1])],
                      n_sims=2000, seed=1)
    first, second = sim.renewal_groups[0][:, 0], sim.renewal_groups[0][:, 1]
    assert ((second > 0) <= (first > 0)).all()  # renewed in month 2 only if renewed in month 1
    assert 0.45 < (second > 0).mean() < 0.53  # 0.5 x 0.99


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.01, 0.99), min_size=1, max_size=30), st.floats(0.05, 2.0))
def test_the_shock_keeps_each_renewals_mean_probability(ps: list[float], sigma: float):
    p = rw.Paths.build(list(range(len(ps))), ps, np.ones(len(ps)), len(ps))
    z = rw.shock_grid(sigma)
    c = p.centred(z)
    assert expit(c.lp[None, :] + z[:, None]).mean(axis=0) == pytest.approx(ps, abs=1e-6)


def test_a_shared_shock_widens_the_band_not_the_mean():
    n = 2000
    p = rw.Paths.build(list(range(n)), np.full(n, 0.9), np.ones(n), n)
    args = (np.ones(n), np.arange(n), np.zeros(n, bool))
    ind = rw.simulate(p, *args, sigma=0.0, n_sims=1000, seed=2).lost_accounts
    shared = rw.simulate(p, *args, sigma=0.8, n_sims=1000, seed=2).lost_accounts
    assert ind.mean() == pytest.approx(200, rel=0.03) and shared.mean() == pytest.approx(200, rel=0.05)
    assert np.percentile(shared, 90) - np.percentile(shared, 10) > 3 * (np.percentile(ind, 90) - np.percentile(ind, 10))


def test_fit_sigma_by_moments():
    # realised misses exactly as large as independence predicts: no shock
    assert rw.fit_sigma([10, 10], [13, 7], [9, 9], [5, 5]) == 0.0
    # misses of 10 where independence allows sd 3: sigma^2 = (100 - 9) / 25
    assert rw.fit_sigma([10, 10], [20, 0], [9, 9], [5, 5]) == pytest.approx(np.sqrt(91 / 25))
