"""Executive overview: KPI tiles, the ARR bridge for a chosen period, ARR and retention trends."""
import streamlit as st

from app import ui
from app.analytics import metrics
from app.present import charts_retention as charts
from app.present import fmt

st.title("Executive overview")
segment = ui.segment_filter(ui.cached(metrics.segments))
tiles = ui.cached(metrics.kpis, segment)
if not tiles:
    st.info("No ARR data" + (f" for {segment}" if segment else "") + " yet: load your files, or the bundled "
            "sample company, on the Data page.")
    st.stop()

st.caption(f"As of {fmt.date(ui.as_of())} · {segment or 'all segments'} · change against "
           f"{metrics.KPI_COMPARE_MONTHS} months earlier. Hover a tile's help icon for its definition and base. "
           + metrics.DEFINITIONS["segment_filter"])
for col, k in zip(st.columns(len(tiles)), tiles, strict=False):
    col.metric(k.label, k.value_text, k.delta_text, help=k.help)
ui.pack_download("board", segment, key="overview")  # the board pack, built on click

st.subheader("ARR bridge")
bridge = ui.cached(metrics.arr_bridge, segment)
left, right = st.columns([1, 2])
freq = left.radio("Period length", list(metrics.FREQS), index=1, horizontal=True, format_func=str.capitalize,
                  key="overview_freq")
fy = ui.fiscal_start()
period = right.selectbox("Period", metrics.bridge_periods(bridge, freq, fy),
                         help=metrics.DEFINITIONS["arr_bridge"] + " Quarters and years are fiscal (set on the Data "
                              "page); a period the data stops inside says which months it holds.")
steps = metrics.bridge_steps(bridge, period, freq, fy)
chart = charts.waterfall(steps)
st.altair_chart(chart, width="stretch")
ui.downloads(chart, steps, "arr_bridge_waterfall")
with st.expander("Bridge definitions and the monthly table"):
    for key in ("arr", "arr_bridge", "new", "reactivation", "expansion", "contraction", "churn"):
        st.markdown(f"- {metrics.DEFINITIONS[key]}")
    usd = {c: st.column_config.NumberColumn(c.replace("_", " ").replace("arr", "ARR").capitalize()
                                            .replace("arr", "ARR"), format="dollar", step=1)
           for c in ("start_arr", "new", "expansion", "reactivation", "contraction", "churn", "end_arr")}
    logos = {c: st.column_config.NumberColumn(c.replace("_", " ").capitalize().replace("logos", "accounts"),
                                              format="%,d")
             for c in ("start_logos", "new_logos", "reactivated_logos", "churned_logos", "end_logos")}
    st.dataframe(bridge, hide_index=True, width="stretch",
                 column_config={"month": st.column_config.DateColumn("Month", format="MMM YYYY"), **usd, **logos})
    ui.downloads(None, bridge, "arr_bridge_monthly")

st.subheader("Trends")
series = ui.cached(metrics.retention_series, 12, segment)
left, right = st.columns(2)
with left:
    arr_chart = charts.arr_trend(bridge)
    st.altair_chart(arr_chart, width="stretch")
    st.caption(metrics.DEFINITIONS["arr"])
    ui.downloads(arr_chart, bridge[["month", "end_arr", "end_logos"]], "arr_trend")
with right:
    if series.empty:
        st.info("Retention needs 12 months of history; the trend appears once the data spans them.")
    else:
        ret_chart = charts.retention_trend(series)
        st.altair_chart(ret_chart, width="stretch")
        st.caption(" ".join(metrics.DEFINITIONS[k] for k in ("grr", "nrr", "logo_retention")))
        ui.downloads(ret_chart, series, "retention_trend")
