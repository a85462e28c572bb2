"""Cohorts and churn reasons: cohort heatmap, reasons pareto, root cause x proximate reason."""
import streamlit as st

from app import ui
from app.analytics import metrics
from app.present import charts_retention as charts

st.title("Cohorts and churn reasons")
segment = ui.segment_filter(ui.cached(metrics.segments))
cohorts = ui.cached(metrics.cohort_retention, segment)
if cohorts.empty:
    st.info("No ARR data" + (f" for {segment}" if segment else "") + " yet: load your files, or the bundled "
            "sample company, on the Data page.")
    st.stop()

st.subheader("Cohort retention")
value = st.radio("Show", ["revenue_retention", "logo_retention"], horizontal=True, key="cohort_value",
                 format_func=lambda v: "Revenue retention" if v == "revenue_retention" else "Logo retention",
                 help=metrics.DEFINITIONS["cohort_retention"])
heat = charts.cohort_heatmap(cohorts, value)
st.altair_chart(heat, width="stretch")
st.caption(metrics.DEFINITIONS["cohort_retention"])
ui.downloads(heat, cohorts, "cohort_retention")

st.subheader("Churn reasons")
months = st.selectbox("Churn in the last", [12, 24, None], key="churn_months",
                      format_func=lambda m: f"{m} months" if m else "all history",
                      help=metrics.DEFINITIONS["churn_reasons"])
reasons = ui.cached(metrics.churn_reasons, segment, months=months)
if reasons.empty:
    st.info("No churn in this window" + (f" for {segment}" if segment else "") + ".")
    st.stop()
st.caption(metrics.DEFINITIONS["churn_reasons"])
left, right = st.columns(2)
with left:
    prox = charts.pareto(reasons.by_proximate, "proximate_reason", "Proximate reasons (what customers said)")
    st.altair_chart(prox, width="stretch")
    ui.downloads(prox, reasons.by_proximate, "churn_proximate_reasons")
with right:
    root = charts.pareto(reasons.by_root, "root_reason", "Root causes (what to fix)")
    st.altair_chart(root, width="stretch")
    ui.downloads(root, reasons.by_root, "churn_root_causes")

st.markdown("**Churned ARR: root cause (rows) x proximate reason (columns)**")
cross = reasons.cross_table
amounts = [c for c in cross.columns if c != "root_reason"]
shown = cross[cross[amounts].abs().sum(axis=1) > 0]  # a root cause with no churned ARR here says nothing
shown = shown[["root_reason", *[c for c in amounts if shown[c].abs().sum() > 0]]]
w = max(80, 720 // max(1, len(shown.columns) - 1))  # the amounts share what the root-cause column leaves
money = {c: st.column_config.NumberColumn(c, format="dollar", step=1, width=w, help=f"Churned ARR: {c}")
         for c in shown.columns if c != "root_reason"}
st.dataframe(shown, hide_index=True, width="stretch",
             column_config={"root_reason": st.column_config.TextColumn("Root cause", width=200), **money})
ui.downloads(None, reasons.cross_table, "churn_root_x_proximate")
