"""Home: what data is loaded and where to go next."""
import pandas as pd
import streamlit as st

from app import fmt, status, ui

st.title("Customer Success planner")
st.caption("Retention as executives read it, renewal and churn forecasts, and CSM capacity and budget planning.")

s = ui.cached(status.status)
if s.empty:
    st.warning("The store holds no data yet. Load your files, or the bundled sample company, on the Data page.")
    st.page_link("pages/data.py", label="Go to Data", icon=":material/upload_file:")
    st.stop()

c = st.columns(4)
c[0].metric("As of", s.as_of.strftime("%d %b %Y"),
            help="The data's as-of date: the last month end the metrics use.")
c[1].metric("Accounts with ARR", f"{s.active_accounts:,}",
            help="Accounts whose derived ARR at the as-of month end is above zero.")
c[2].metric("ARR", fmt.money(s.arr),
            help=f"${s.arr:,.0f}: the sum over accounts of 12 x MRR (or ARR) of the line items active on the "
                 "as-of month's last day.")
last_ok = s.imports[s.imports["outcome"] == "ok"].head(1)
c[3].metric("Last import", last_ok["imported_at"].iloc[0].strftime("%d %b %Y") if len(last_ok) else "never",
            help="The newest import that succeeded (Data page or `python -m app load`).")
if len(last_ok):
    r = last_ok.iloc[0]
    st.caption(f"Last import: {r['file_name']} into {r['kind']} ({r['rows']:,} row{'' if r['rows'] == 1 else 's'}, {r['mode']}) "
               f"at {r['imported_at']:%d %b %Y %H:%M}.")

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
