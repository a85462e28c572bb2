"""Home: what data is loaded and where to go next."""
import pandas as pd
import streamlit as st

from app import ui
from app.analytics import status
from app.data import store
from app.present import fmt
from app.sources import refresh

st.title("Customer Success planner")
st.caption("Retention as executives read it, renewal and churn forecasts, and CSM capacity and budget planning.")

s = ui.cached(status.status)
if s.empty:
    st.warning("The store holds no data yet. Load your accounts first, then subscriptions (or contracts) and the "
               "rest, on the Data page; or reset to the bundled sample company there.")
    st.page_link("pages/data.py", label="Go to Data", icon=":material/upload_file:")
    st.stop()
cur = ui.cursor()
if store.sample_label(cur):
    with st.container(border=True):
        st.markdown("**This is the sample company**, generated so that every page works on first run. "
                    "Start with your own data: replace it with your accounts export in one step, or start empty.")
        st.page_link("pages/data.py", label="Start with my data", icon=":material/upload_file:")
end = store.data_end(cur)
if end is not None and (store.default_as_of() - s.as_of).days > 45:
    pinned = store.as_of_pinned(cur)
    st.warning(f"Figures are as of {s.as_of:%d %b %Y}, well before today: "
               + (f"the as-of date was set by hand (your data runs to {end:%d %b %Y})." if pinned else
                  f"your data stops at {end:%d %b %Y} (its latest start, usage, NPS, ticket or churn date), so "
                  "that is the last complete month it covers. Load newer exports, or set the as-of date on the "
                  "Data page."), icon=":material/event_busy:")

c = st.columns(4)
c[0].metric("As of", s.as_of.strftime("%d %b %Y"),
            help="The month end every figure uses: the last complete month the data covers, unless set by hand "
                 "on the Data page (Settings).")
c[1].metric("Accounts with ARR", f"{s.active_accounts:,}",
            help="Accounts whose derived ARR at the as-of month end is above zero.")
c[2].metric("ARR", fmt.money(s.arr),
            help=f"{fmt.money_exact(s.arr)}: the sum over accounts of 12 x MRR (or ARR) of the line items active "
                 "on the as-of month's last day.")
last_ok = s.imports[s.imports["outcome"] == "ok"].head(1)
c[3].metric("Last import", last_ok["imported_at"].iloc[0].strftime("%d %b %Y") if len(last_ok) else "never",
            help="The newest import that succeeded (Data page or `python -m app load`).")
if len(last_ok):
    r = last_ok.iloc[0]
    st.caption(f"Last import: {r['file_name']} into {r['kind']} "
               f"({r['rows']:,} row{'' if r['rows'] == 1 else 's'}, {r['mode']}) "
               f"at {r['imported_at']:%d %b %Y %H:%M}.")
last_refresh = refresh.last_text(cur)
if last_refresh:
    st.caption(last_refresh)

st.subheader("What is loaded")
# Dates as ISO text so an empty table shows a blank, not "None"
dates = {c: s.tables[c].map(lambda d: d.isoformat() if pd.notna(d) else "") for c in ("from", "to")}
st.dataframe(
    s.tables.assign(**dates), hide_index=True, width="stretch",
    column_config={
        "table": "Table", "rows": st.column_config.NumberColumn("Rows", format="localized"),
        "from": "From", "to": "To", "holds": "What it holds",
    },
)

st.subheader("Where to go next")
for page, label, why in ui.NEXT_STEPS:
    st.page_link(page, label=label)
    st.caption(why)
