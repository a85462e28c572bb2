"""app/present/fmt.py: every display format, with expected strings written by hand."""
import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from app.present import charts_retention, fmt

NAN = float("nan")


@pytest.mark.parametrize("x, digits, expected", [
    (1_234_567, 2, "$1.23M"), (78_900, 2, "$78.9k"), (950, 2, "$950"), (0, 2, "$0"),
    (-361_553, 2, "-$361.6k"), (-1_200_000, 1, "-$1.2M"), (-1_200_000, 2, "-$1.20M"),
    (2_500_000_000, 2, "$2.50B"), (-12_345_678_901, 1, "-$12.3B"), (1e12, 2, "$1,000.00B"),
    (999_999, 2, "$1.00M"),   # rounds up into the next unit, not "$1,000.0k"
    (999.6, 2, "$1.0k"), (999.4, 2, "$999"), (-0.3, 2, "$0"),  # no "-$0"
    (np.float64(12_900_000), 2, "$12.90M"), (np.int64(4200), 2, "$4.2k"),
])
def test_money_compact(x, digits, expected):
    assert fmt.money(x, digits) == expected


@pytest.mark.parametrize("x", [None, NAN, np.nan, pd.NA, float("inf")])
def test_missing_reads_na_everywhere(x):
    assert {fmt.money(x), fmt.money_exact(x), fmt.pct(x), fmt.pct_points(x), fmt.count(x)} == {"n/a"}


def test_money_signed_for_changes():
    assert fmt.money(78_900, signed=True) == "+$78.9k"
    assert fmt.money(-361_553, signed=True) == "-$361.6k"
    assert fmt.money(0, signed=True) == "$0"
    assert fmt.money_exact(361_553, signed=True) == "+$361,553"


@pytest.mark.parametrize("x, expected", [
    (1_234_567, "$1,234,567"), (-361_553, "-$361,553"), (0, "$0"), (-0.4, "$0"), (8_999_333.3333, "$8,999,333"),
    (-2_183_541.6667, "-$2,183,542"), (3_000_000_000, "$3,000,000,000"),
])
def test_money_exact(x, expected):
    assert fmt.money_exact(x) == expected


def test_money_exact_half_rounds_like_python():
    # Python rounds half to even; a board deck never shows cents, so "$12" for 12.5 and "$14" for 13.5 is fine.
    assert (fmt.money_exact(12.5), fmt.money_exact(13.5), fmt.money_exact(12.51)) == ("$12", "$14", "$13")


@pytest.mark.parametrize("x, digits, expected", [
    (0.934, 1, "93.4%"), (1.05, 1, "105.0%"), (0, 1, "0.0%"), (-0.0001, 1, "0.0%"), (-0.125, 1, "-12.5%"),
    (0.45, 0, "45%"), (0.9999, 2, "99.99%"), (12.0, 0, "1200%"),
])
def test_pct(x, digits, expected):
    assert fmt.pct(x, digits) == expected


def test_pct_signed_and_points():
    assert fmt.pct(0.031, signed=True) == "+3.1%"
    assert fmt.pct_points(0.012) == "+1.2 pts"
    assert fmt.pct_points(-0.05) == "-5.0 pts"
    assert fmt.pct_points(-0.00001) == "+0.0 pts"  # no "-0.0 pts"
    assert fmt.pct_points(0.0125, 2) == "+1.25 pts"


@pytest.mark.parametrize("n, expected", [(1248, "1,248"), (0, "0"), (-3, "-3"), (1_234_567_890, "1,234,567,890"),
                                         (12.6, "13"), (np.int64(7), "7")])
def test_count(n, expected):
    assert fmt.count(n) == expected


@pytest.mark.parametrize("d, expected", [
    (dt.date(2026, 10, 31), "31 Oct 2026"), (dt.datetime(2026, 1, 5, 13, 0), "5 Jan 2026"),
    (pd.Timestamp("2024-02-29"), "29 Feb 2024"), ("2026-03-01", "1 Mar 2026"), (None, "n/a"), (pd.NaT, "n/a"),
])
def test_date(d, expected):
    assert fmt.date(d) == expected


# ---------------------------------------------------------------- axes

def test_tick_steps_are_1_2_5():
    assert fmt.tick_step(0, 1_000_000) == 200_000
    assert fmt.tick_step(11_775_000, 13_125_000) == 200_000
    assert fmt.tick_step(12_850_000, 12_950_000) == 20_000
    assert fmt.tick_step(0, 12_300_000) == 2_000_000
    assert fmt.tick_step(0.82, 1.07) == pytest.approx(0.05)
    assert fmt.tick_step(0, 7.3) == 2


def test_money_axis_for_a_12m_company():
    spec = fmt.axis_spec("money", 11_775_000, 13_125_000)
    assert spec.values == (11_600_000, 11_800_000, 12_000_000, 12_200_000, 12_400_000, 12_600_000, 12_800_000,
                           13_000_000, 13_200_000)
    assert spec.format == "$,.3~s"  # 3 significant digits: $12.2M, enough for a $0.2M step
    assert spec.axis == {"format": "$,.3~s", "tickCount": 9, "values": list(spec.values)}
    assert spec.scale == {"domain": [11_600_000, 13_200_000], "nice": False}


def test_money_axis_precision_follows_the_step():
    # $20k steps at $12.9M need 4 significant digits ($12.86M, $12.88M), or two ticks would read $12.9M
    assert fmt.axis_spec("money", 12_850_000, 12_950_000).format == "$,.4~s"
    # from zero: 2M steps, 2 digits ($14M); zero itself is "$0" (the ~ trims), never "$0.00"
    z = fmt.axis_spec("money", 0, 12_300_000, zero=True)
    assert z.format == "$,.2~s" and z.values[0] == 0 and z.values[-1] == 14_000_000


def test_money_axis_with_negatives_and_zero_option():
    spec = fmt.axis_spec("money", -2_183_541.67, 8_999_333.33)
    assert spec.values[0] == -4_000_000 and spec.values[-1] == 10_000_000
    assert fmt.axis_spec("money", 5_000, 9_000, zero=True).values[0] == 0


def test_pct_and_count_axes():
    p = fmt.axis_spec("pct", 0.82, 1.07)
    assert p.format == ".0%" and p.values == pytest.approx((0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1))
    assert fmt.axis_spec("pct", 0.931, 0.948).format == ".1%"  # 0.5% steps need a decimal: 93.5%, 94.0%
    assert fmt.axis_spec("count", 0, 7.3).axis == {"format": ",.0f", "tickCount": 5, "values": [0, 2, 4, 6, 8]}
    assert fmt.axis_spec("count", 0, 1.3).format == ",.1f"


def test_axis_without_a_range_gives_format_only():
    spec = fmt.axis_spec("money")
    assert spec.axis == {"format": "$,.4~s", "tickCount": 5} and spec.scale == {}
    assert fmt.axis_spec("pct", NAN, 1.0).axis == {"format": ".2~%", "tickCount": 5}
    assert fmt.axis_spec("count", None, None).format == ",.2~f"


def _bridge_12m() -> pd.DataFrame:
    rows = [("Start ARR", 12.0e6, "total", 0.0, 12.0e6), ("New", 650_000.0, "new", 12.0e6, 12.65e6),
            ("Reactivation", 0.0, "reactivation", 12.65e6, 12.65e6),
            ("Expansion", 420_000.0, "expansion", 12.65e6, 13.07e6),
            ("Contraction", -48_000.0, "contraction", 13.07e6, 13.022e6),
            ("Churn", -122_000.0, "churn", 13.022e6, 12.9e6), ("End ARR", 12.9e6, "total", 0.0, 12.9e6)]
    return pd.DataFrame(rows, columns=["step", "amount", "kind", "bar_start", "bar_end"]).assign(period="2026-Q1")


def test_waterfall_axis_and_labels_for_a_12m_company():
    spec = charts_retention.waterfall(_bridge_12m()).to_dict()
    bars, labels = spec["layer"]
    axis = bars["encoding"]["y"]["axis"]
    # levels 12.0M-13.07M, padded by a quarter of the span (0.2675M): 11.7325M-13.3375M; span / 5 = 0.321M,
    # 3.21 >= sqrt(10) -> $0.5M steps from $11.5M to $13.5M, 3 significant digits for $11.5M
    assert axis["format"] == "$,.3~s" and axis["tickCount"] == 5
    assert axis["values"] == [11_500_000, 12_000_000, 12_500_000, 13_000_000, 13_500_000]
    assert bars["encoding"]["y"]["scale"] == {"domain": [11_500_000, 13_500_000], "nice": False}
    data = pd.DataFrame(spec["datasets"][spec["data"]["name"]])
    assert labels["encoding"]["text"]["field"] == "label"
    assert data["label"].tolist() == ["$12.00M", "+$650.0k", "", "+$420.0k", "-$48.0k", "-$122.0k", "$12.90M"]


def _svg_texts(svg: str, role: str) -> list[list[str]]:
    groups = re.findall(rf'class="mark-text {role}[^"]*"[^>]*>(.*?)</g>', svg)
    return [re.findall(r"<text[^>]*>([^<]*)</text>", g) for g in groups]


def test_waterfall_renders_unique_tick_labels_and_no_zero_cents():
    svg = vlc.vegalite_to_svg(charts_retention.waterfall(_bridge_12m()).to_json())
    x_labels, y_labels = _svg_texts(svg, "role-axis-label")
    assert x_labels[0] == "Start ARR"
    assert y_labels == ["$11.5M", "$12M", "$12.5M", "$13M", "$13.5M"]
    assert len(set(y_labels)) == len(y_labels)
    bar_labels = [t for g in _svg_texts(svg, "role-mark") for t in g]
    assert "+$650.0k" in bar_labels and "$12.90M" in bar_labels
    assert not any("0.00" in t for t in bar_labels + y_labels)


def test_waterfall_on_a_quiet_quarter_keeps_tick_labels_apart():
    # flows of a few $10k on $12.9M: padded by 1% of $12.91M to 12.7509M-13.0391M, $50k steps, so the
    # labels need 4 significant digits ($12.85M); with 3 they read $12.8M, $12.8M, $12.9M, $12.9M
    rows = [("Start ARR", 12.88e6, "total", 0.0, 12.88e6), ("New", 30_000.0, "new", 12.88e6, 12.91e6),
            ("Reactivation", 0.0, "reactivation", 12.91e6, 12.91e6), ("Expansion", 0.0, "expansion", 12.91e6, 12.91e6),
            ("Contraction", 0.0, "contraction", 12.91e6, 12.91e6), ("Churn", -4_000.0, "churn", 12.91e6, 12.906e6),
            ("End ARR", 12.906e6, "total", 0.0, 12.906e6)]
    steps = pd.DataFrame(rows, columns=["step", "amount", "kind", "bar_start", "bar_end"]).assign(period="2026-Q2")
    svg = vlc.vegalite_to_svg(charts_retention.waterfall(steps).to_json())
    y_labels = _svg_texts(svg, "role-axis-label")[1]
    assert y_labels == ["$12.75M", "$12.8M", "$12.85M", "$12.9M", "$12.95M", "$13M", "$13.05M"]
    bar_labels = [t for g in _svg_texts(svg, "role-mark") for t in g]
    assert bar_labels == ["$12.88M", "+$30.0k", "-$4.0k", "$12.91M"]  # zero flows: no label


def test_overview_tiles_use_fmt():
    from app.analytics.metrics import Kpi

    arr = Kpi("arr", "ARR", 11_638_447.0, 12_000_000.0, "money", "")
    assert arr.value_text == "$11.64M"
    assert arr.delta_text == "-$361.6k (-3.0%)"  # 361,553 / 12,000,000 = 3.01%; sign before the $
    grr = Kpi("grr", "GRR", 0.912, 0.934, "fraction", "")
    assert (grr.value_text, grr.delta_text) == ("91.2%", "-2.2 pts")
    assert Kpi("nrr", "NRR", float("nan"), 1.0, "fraction", "").value_text == "n/a"


def _y_labels(chart) -> list[str]:
    """Tick labels of the chart's (first) vertical axis, as rendered offline by vl-convert."""
    svg = vlc.vegalite_to_svg(chart.to_json())
    groups = re.findall(r'aria-label="Y-axis.*?class="mark-text role-axis-label[^"]*"[^>]*>(.*?)</g>', svg)
    return re.findall(r"<text[^>]*>([^<]*)</text>", groups[0])


def test_other_money_charts_render_distinct_compact_ticks():
    from app.present import charts_renewals

    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    trend = pd.DataFrame({"month": months, "end_arr": np.linspace(12.0e6, 12.9e6, 12), "end_logos": 300})
    assert _y_labels(charts_retention.arr_trend(trend)) == ["$0", "$2M", "$4M", "$6M", "$8M", "$10M", "$12M",
                                                              "$14M"]
    groups = pd.DataFrame({"segment": ["SMB", "Enterprise"], "arr_due": [1_234_567.0, 312_000.0],
                           "expected": [1_100_000.0, 290_000.0], "p10": [1_050_000.0, 250_000.0],
                           "p90": [1_150_000.0, 305_000.0]})
    # was "$,.0f" on the axis: $1,200,000 style; now $0.2M steps read $200k ... $1.2M
    assert _y_labels(charts_renewals.groups_chart(groups, "segment", "t")) == [
        "$0", "$200k", "$400k", "$600k", "$800k", "$1M", "$1.2M", "$1.4M"]
    reasons = pd.DataFrame({"root_reason": ["Price", "Onboarding"], "churned_arr": [95_000.0, 3_000.0],
                            "logos": [4, 1], "arr_share": [0.97, 0.03], "cum_arr_share": [0.97, 1.0]})
    assert _y_labels(charts_retention.pareto(reasons, "root_reason", "t")) == [
        "$0", "$20k", "$40k", "$60k", "$80k", "$100k"]


def test_percent_axis_on_a_narrow_range_keeps_its_decimal():
    months = pd.date_range("2025-01-01", periods=6, freq="MS")
    series = pd.DataFrame({"month": months, "grr": np.linspace(0.931, 0.948, 6), "nrr": np.linspace(0.94, 0.945, 6),
                           "logo_retention": np.linspace(0.935, 0.94, 6)})
    labels = _y_labels(charts_retention.retention_trend(series))
    assert labels == ["93.0%", "93.5%", "94.0%", "94.5%", "95.0%"]  # ".0%" showed 93%, 94%, 94%, 95%, 95%
