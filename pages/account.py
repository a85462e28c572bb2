"""One account: ARR and bridge events, usage, NPS, tickets, contracts with P(renew), health history, drivers."""
import altair as alt
import pandas as pd
import streamlit as st

from app import ui
from app.analytics import status
from app.health import book, scorecard, snapshots
from app.present import fmt

if ui.cached(status.status).empty:
    st.title("Account")
    st.info("The store holds no data yet: load your files, or the bundled sample company, on the Data page.")
    st.stop()

active = scorecard.active_version(ui.write_cursor())
try:
    cfg, set_id = ui.cached_write(book.prepare, active)
except ValueError:
    cfg, set_id = None, None

account_id = st.query_params.get("account")  # the URL says which account: ?account=ID
find = st.sidebar.text_input("Find an account", key="account_find", placeholder="id or name",
                             help="Lists up to 50 accounts whose id or name contains this; empty: the lowest scores "
                                  "this week. Any account opens from its link (?account=ID).")
found = ui.cached(book.find_accounts, set_id, find)
names = dict(zip(found["account_id"], found["name"], strict=True))
options = found["account_id"].tolist()
if account_id and account_id not in names:
    options = [account_id, *options]


def _pick() -> None:
    if st.session_state["account_pick"]:
        st.query_params["account"] = st.session_state["account_pick"]


st.session_state["account_pick"] = account_id if account_id in options else None
st.sidebar.selectbox("Account", options, key="account_pick", on_change=_pick, placeholder="Pick an account",
                     format_func=lambda a: f"{names[a]} ({a})" if names.get(a) else a)
info = ui.cached(book.account_info, account_id) if account_id else None
if info is None:
    st.title("Account")
    st.info("No such account: pick one in the sidebar, or open one from the Customer health page."
            if account_id else "Pick an account in the sidebar, or open one from the Customer health page.")
    st.stop()

st.title(str(info["name"] or account_id))
st.caption(f"{account_id} · {info['segment'] or 'no segment'} · {info['region'] or ''} · {info['industry'] or ''} · "
           f"CSM {info['csm_name'] or 'none'}")
st.page_link("pages/health.py", label="Back to Customer health", icon=":material/arrow_back:")

t = ui.cached(book.account_tables, account_id)
hist = ui.cached_write(snapshots.history, set_id, account_id) if set_id is not None else pd.DataFrame()
latest = ui.cached_write(snapshots.latest_week, set_id) if set_id is not None else None
row = hist[hist["week"] == latest] if len(hist) else hist  # scored this week: the account has ARR now
c = st.columns(4)
arr_now = t["arr"]["arr"].iloc[-1] if len(t["arr"]) else None
c[0].metric("ARR", fmt.money(arr_now), help="ARR in the latest month of the ARR history (line items active at "
                                            "the month's last day).")
if len(row):
    r = row.iloc[0]
    c[1].metric("Health score", f"{r['score']:.1f}", delta=(f"{r['score'] - hist['score'].iloc[-2]:+.1f} vs last week"
                                                           if len(hist) > 1 else None),
                help=f"Sum of the factor points (0-100), configuration {cfg.name} version {cfg.version}.")
    c[2].metric("Band", str(r["band"]), help=f"Red below {cfg.red_below:g}, green from {cfg.green_from:g}.")
    c[3].metric("Stage", str(r["stage"]), help="Lifecycle stage at the score date (rules in docs/health.md).")
else:
    c[1].metric("Health score", fmt.NA, help="Scored only while the account has ARR.")

rr = ui.cached_write(book.account_renewal_risk, account_id)  # the renewal model as prepared after the import
st.subheader("Renewals due, drivers and plays")
if rr.empty:
    st.caption("No renewal due in the next 12 months.")
else:
    st.dataframe(rr, hide_index=True, width="stretch", column_config={
        "end_date": "Renewal date", "arr": st.column_config.NumberColumn("ARR due", format="dollar"),
        "p_renew": st.column_config.NumberColumn("P(renew)", format="percent",
                                                 help="The renewal model's probability that it renews.")})

st.subheader("Health history")
if len(hist):
    ch = alt.Chart(hist.assign(week=pd.to_datetime(hist["week"]))).mark_line(point=True).encode(
        x=alt.X("week:T", title=None), y=alt.Y("score:Q", title="Score", scale=alt.Scale(domain=[0, 100])),
        tooltip=["week:T", alt.Tooltip("score:Q", format=".1f"), "band:N", "stage:N"])
    st.altair_chart(ch, width="stretch")
    bd = book.breakdown(cfg, hist.iloc[-1])
    st.dataframe(bd, hide_index=True, width="stretch", column_config={
        "points": st.column_config.NumberColumn("Points", format="%.2f", help="Points this factor gives now."),
        "max_points": st.column_config.NumberColumn("Most points", format="%.2f"),
        "lost": st.column_config.NumberColumn("Below best", format="%.2f")})
    weeks = hist["week"].tolist()
    wc = st.columns(2)
    w0 = wc[0].selectbox("From", weeks, index=max(0, len(weeks) - 5), format_func=fmt.date, key="account_w0")
    w1 = wc[1].selectbox("To", weeks, index=len(weeks) - 1, format_func=fmt.date, key="account_w1")
    ex = ui.cached_write(book.explain_move, cfg.version, account_id, w0, w1)
    total = float(ex["delta"].sum())
    st.markdown(f"**Score {fmt.date(w0)} to {fmt.date(w1)}: {total:+.1f} points**")
    for line in ex.loc[ex["delta"] != 0, "text"]:
        st.markdown(f"- {line}")
else:
    st.caption("No health history: the account had no ARR in the last 52 weeks.")

st.subheader("ARR history and bridge events")
if len(t["arr"]):
    st.altair_chart(alt.Chart(t["arr"].assign(month=pd.to_datetime(t["arr"]["month"]))).mark_bar().encode(
        x=alt.X("month:T", title=None), y=alt.Y("arr:Q", title="ARR"), color="category:N",
        tooltip=["month:T", alt.Tooltip("arr:Q", format=fmt.D3_MONEY_EXACT), "category:N"]), width="stretch")
    ev = t["arr"][t["arr"]["category"] != "flat"]
    st.dataframe(ev, hide_index=True, width="stretch", column_config={
        "month": st.column_config.DateColumn("Month", format="MMM YYYY"),
        "prev_arr": st.column_config.NumberColumn("ARR before", format="dollar"),
        "arr": st.column_config.NumberColumn("ARR after", format="dollar"), "category": "Bridge event"})

st.subheader("Usage")
if len(t["usage"]):
    st.altair_chart(alt.Chart(t["usage"].assign(month=pd.to_datetime(t["usage"]["month"]))).mark_line().encode(
        x=alt.X("month:T", title=None), y=alt.Y("value:Q", title="Monthly value"), color="metric:N",
        tooltip=["month:T", "metric:N", alt.Tooltip("value:Q", format=fmt.D3_COUNT)]), width="stretch")
else:
    st.caption("No usage recorded.")

cols = st.columns(2)
cols[0].subheader("NPS")
cols[0].dataframe(t["nps"], hide_index=True, width="stretch",
                  column_config={"date": st.column_config.DateColumn("Date", format="DD MMM YYYY"), "score": "Score"})
cols[1].subheader("Tickets")
cols[1].dataframe(t["tickets"], hide_index=True, width="stretch",
                  column_config={"opened": st.column_config.DateColumn("Opened", format="DD MMM YYYY")})
st.subheader("Contracts")
st.dataframe(t["contracts"], hide_index=True, width="stretch", column_config={
    "arr": st.column_config.NumberColumn("ARR", format="dollar"),
    "renewed_arr": st.column_config.NumberColumn("Renewed ARR", format="dollar")})
if len(t["churn_reasons"]):
    st.subheader("Churn reasons")
    st.dataframe(t["churn_reasons"], hide_index=True, width="stretch")
