"""Retention benchmarks: each segment's GRR / NRR / renewal rate against public bands and house thresholds."""
import streamlit as st

from app import ui
from app.analytics import benchmarks, metrics
from app.present import charts_retention as charts
from app.present import fmt

st.title("Retention benchmarks")
summary = ui.cached(metrics.segment_summary)
if summary.empty or summary["accounts"].sum() == 0:
    st.info("No segments with ARR yet: load your files (accounts need a segment), or the bundled sample "
            "company, on the Data page.")
    st.stop()

glance = st.container()  # filled below, once the (editable) thresholds are read

st.subheader("House renewal thresholds")
st.caption("House defaults from the project's seed documents, not public figures (no public source was found); "
           "Mid-Market is interpolated. Edit pass / excellent to your own; the classification above follows.")
defaults = benchmarks.load_thresholds()
edited = st.data_editor(
    defaults, hide_index=True, width="stretch", key="house_thresholds",
    disabled=["segment", "metric", "source", "confidence", "note"],
    column_config={"segment": "Segment", "metric": "Metric", "source": "Source", "confidence": "Confidence",
                   "note": st.column_config.TextColumn("Note", width="large"),
                   "pass": st.column_config.NumberColumn("Pass", min_value=0.0, max_value=1.0, step=0.01,
                                                         format="percent"),
                   "excellent": st.column_config.NumberColumn("Excellent", min_value=0.0, max_value=1.0,
                                                              step=0.01, format="percent")})
try:
    benchmarks.validate_thresholds(edited)
except benchmarks.BenchmarkDataError as exc:
    st.error(f"{exc}. Using the house defaults instead.")
    edited = defaults

bench = benchmarks.load_benchmarks()
classified = benchmarks.classify(summary, bench, edited)
with glance:
    st.caption(f"As of {fmt.date(ui.as_of())}. Each segment's GRR, NRR and renewal rate against the Peer median "
               "(public, for its ACV band) or, where no public figure exists, the house pass line.")
    with st.expander("Definitions"):
        for key in ("grr", "nrr", "renewal_rate"):
            st.markdown(f"- {metrics.DEFINITIONS[key]}")
        st.markdown("- Peer median: SaaS Capital's median for the ACV band holding the segment's ARR per account.")
    st.table(benchmarks.scorecard(classified))
    chart = charts.benchmark_chart(classified)
    st.altair_chart(chart)
    ui.downloads(chart, classified, "retention_vs_benchmarks")

st.subheader("Public benchmarks (source, year, confidence)")
st.caption("Every figure with where it comes from. 'second-hand' = quoted by another publication.")
st.table(benchmarks.display_table(bench))
ui.downloads(None, bench, "retention_benchmarks")
