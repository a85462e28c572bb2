"""Customer health: scores and bands, movers and why, stages, a CSM's book, the score against past renewals.

Every read is small and cached per data version, snapshot set and filter (app/health/book.py): counts of
the latest week, the weakest 500 accounts, 20 movers; the CSV and XLSX are built only when clicked."""
import datetime as dt

import streamlit as st

from app import ui
from app.analytics import status
from app.forecasting import topdown
from app.health import book, evaluate, scorecard, snapshots
from app.present import fmt

st.title("Customer health")
st.caption("A weekly 0-100 score per account: the points of each factor add up to the score. Red / yellow / green "
           "bands; why a score moved, factor by factor; lifecycle stages; each CSM's book.")

if ui.cached(status.status).empty:
    st.info("The store holds no data yet: load your files, or the bundled sample company, on the Data page.")
    st.stop()

active = scorecard.active_version(ui.write_cursor())  # the latest choice, even one made in this run's callback
try:
    with st.spinner("Fitting the score on past renewals and building 52 weekly snapshots (once per data change)...",
                    show_time=True):
        cfg, set_id = ui.cached_write(book.prepare, active)
        summary = ui.cached_write(book.summary, set_id)
except ValueError as exc:
    st.info(f"No health score yet: {exc}")
    st.stop()

segment = ui.segment_filter(ui.cached(topdown.segments))
csm_names = book.csm_list(summary)
csm = st.sidebar.selectbox("CSM's book", ["All CSMs", *csm_names], key="health_csm",
                           help="Show one CSM's accounts, renewals due and at-risk accounts, and export their sheet.")
who = None if csm == "All CSMs" else csm
view = book.filtered(summary, segment, who)
week = view["week"].iloc[0] if len(view) else ui.as_of()

st.caption(f"Configuration **{cfg.name}** (version {cfg.version}, {cfg.kind}); scores of {fmt.date(week)}. Bands: red "
           f"below {cfg.red_below:g}, green from {cfg.green_from:g}. Snapshots are built once per data version and "
           "configuration; a configuration change makes a new version, so its effect never shows as a customer's move.")

n = int(view["accounts"].sum())
bands = book.band_totals(view)
c = st.columns(4)
c[0].metric("Accounts scored", fmt.count(n), help="Accounts with an active line item (ARR) at the score date.")
for col, b in zip(c[1:], ("red", "yellow", "green"), strict=False):
    col.metric(f"{b.title()}", fmt.count(int(bands.loc[b, "accounts"])),
               delta=f"{fmt.money(bands.loc[b, 'arr'])} ARR", delta_color="off", delta_arrow="off",
               help=f"Accounts whose score is in the {b} band (red below {cfg.red_below:g}, green from "
                    f"{cfg.green_from:g}); ARR = their ARR in the score date's month.")

st.subheader("Accounts, weakest first")
table = ui.cached_write(book.weakest_accounts, cfg.version, set_id, segment, who)
if n > len(table):
    st.caption(f"The {fmt.count(len(table))} lowest scores of {fmt.count(n)}; the CSV has every account with its "
               "points per factor.")
st.dataframe(ui.with_account_links(table), hide_index=True, width="stretch",
             column_order=["link", "name", "segment", "csm_name", "arr", "score", "band", "stage", "weakest_factor",
                           "play"],
             column_config={
                 "link": ui.account_link_column(), "name": "Name", "segment": "Segment", "csm_name": "CSM",
                 "arr": st.column_config.NumberColumn("ARR", format="dollar", help="ARR in the score date's month."),
                 "score": st.column_config.ProgressColumn("Score", min_value=0, max_value=100, format="%.1f",
                                                          help="Sum of the factor points (0-100)."),
                 "band": "Band",
                 "stage": st.column_config.TextColumn("Stage", help="Lifecycle stage (docs/health.md)."),
                 "weakest_factor": st.column_config.TextColumn("Weakest factor",
                                                               help="The factor furthest below its best points."),
                 "play": "Suggested play"})

st.download_button("Scores (CSV, every account, points per factor)", key="health_csv", on_click="ignore",
                   data=ui.store_bytes(book.scores_csv, cfg.version, set_id, segment, who),
                   file_name="health_scores.csv", mime="text/csv")

st.subheader("Biggest movers this week")
mv = ui.cached_write(snapshots.movers, set_id, 20, None, segment, who)
if mv.empty:
    st.info("No score changed since last week.")
else:
    st.dataframe(ui.with_account_links(mv), hide_index=True, width="stretch",
                 column_order=["link", "name", "csm_name", "score_before", "score", "delta", "band_before", "band"],
                 column_config={"link": ui.account_link_column(), "name": "Name", "csm_name": "CSM",
                                "score_before": st.column_config.NumberColumn("Last week", format="%.1f"),
                                "score": st.column_config.NumberColumn("This week", format="%.1f"),
                                "delta": st.column_config.NumberColumn("Change", format="%+.1f",
                                                                       help="This week's score - last week's; the "
                                                                            "same configuration version for both."),
                                "band_before": "Band last week", "band": "Band"})
    names = dict(zip(mv["account_id"], mv["name"], strict=True))
    pick = st.selectbox("Why did it move?", mv["account_id"].tolist(), key="health_mover",
                        format_func=lambda a: f"{a} · {names.get(a)}")
    ex = ui.cached_write(book.explain_move, cfg.version, pick, week - dt.timedelta(days=7), week)
    for line in ex.loc[ex["delta"] != 0, "text"]:
        st.markdown(f"- {line}")

st.subheader("Lifecycle stages")
sc = st.columns([1, 2])
sc[0].dataframe(book.stage_counts(view), hide_index=True, width="stretch",
                column_config={"accounts": st.column_config.NumberColumn("Accounts", format="%,d")})
stuck = ui.cached_write(book.stuck_accounts, set_id, segment, who)
sc[1].caption(f"{fmt.count(len(stuck))} accounts stuck in onboarding (past its expected 3 months without reaching "
              "40% seat utilisation)" + (f"; the {book.SHOWN} longest shown." if len(stuck) > book.SHOWN else "."))
if len(stuck):
    sc[1].dataframe(ui.with_account_links(stuck.head(book.SHOWN)), hide_index=True, width="stretch",
                    column_order=["link", "name", "csm_name", "tenure_months", "score", "band"],
                    column_config={"link": ui.account_link_column(), "name": "Name", "csm_name": "CSM",
                                   "tenure_months": st.column_config.NumberColumn("Months", format="%.1f")})

if who is not None:
    st.subheader(f"{csm}'s book")
    # the renewal model's P(renew) of contracts due, as prepared after the import for the Forecast page
    with st.spinner("Scoring the renewals due with the renewal model (once per data change)...", show_time=True):
        b = ui.cached_write(book.csm_book_of, cfg.version, set_id, who, segment)
    st.caption(f"{fmt.count(len(b['accounts']))} accounts, {fmt.money(b['accounts']['arr'].sum())} ARR; "
               f"{fmt.count(len(b['renewals']))} renewals due in the next {book.RENEWAL_DAYS} days; "
               f"{fmt.count(len(b['at_risk']))} at risk (red, or P(renew) under 80%).")
    st.dataframe(ui.with_account_links(b["renewals"]), hide_index=True, width="stretch",
                 column_order=["link", "name", "end_date", "arr", "billing", "p_renew", "score", "band"],
                 column_config={"link": ui.account_link_column(), "name": "Name", "end_date": "Renewal date",
                                "arr": st.column_config.NumberColumn("ARR due", format="dollar"),
                                "p_renew": st.column_config.NumberColumn("P(renew)", format="percent",
                                                                         help="The renewal model's probability.")})
    st.dataframe(ui.with_account_links(b["at_risk"]), hide_index=True, width="stretch",
                 column_order=["link", "name", "score", "band", "weakest_factor", "play"],
                 column_config={"link": ui.account_link_column(), "name": "Name", "weakest_factor": "Weakest factor",
                                "play": "Suggested play"})
st.download_button("CSM books (XLSX, one sheet per CSM)", key="health_xlsx", on_click="ignore",
                   data=ui.store_bytes(book.books_xlsx, cfg.version, set_id, tuple([csm] if who else csm_names)),
                   file_name="csm_books.xlsx",
                   mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

st.subheader("Is it any good?")
if st.toggle("Check the score against past quarters' renewals (refits the score and the renewal model as of each "
             "quarter: about 10-30 s the first time)", key="health_eval"):
    ev = ui.cached_write(book.evaluate_version, cfg.version)
    for line in evaluate.verdict(ev["summary"]):
        st.markdown(line)
    st.dataframe(ev["summary"], hide_index=True, width="stretch", column_config={
        "accounts": st.column_config.NumberColumn("Accounts", format="%,d"),
        "churn_rate": st.column_config.NumberColumn("Churn rate", format="percent",
                                                    help="Accounts with a renewal in the 3 months after the quarter "
                                                         "end that churned at one."),
        **{k: st.column_config.NumberColumn(k.replace("_", " ").upper() if k.startswith("auc") else k.replace("_", " "),
                                            format="%.3f", help="AUC: chance a churned account scored riskier than "
                                                                "a renewed one. Lift: churn rate among the riskiest "
                                                                "10% / overall.")
           for k in ev["summary"].columns if k.startswith(("auc", "lift"))}})
    st.dataframe(ev["bands"], hide_index=True, width="stretch", column_config={
        "churn_rate": st.column_config.NumberColumn("Churn rate", format="percent",
                                                    help="Churned / accounts in the band, pooled over the quarters.")})

with st.expander("Score configuration"):
    st.dataframe(book.config_table(cfg), hide_index=True, width="stretch",
                 column_config={"weight": st.column_config.NumberColumn("Weight (most points)", format="%.2f")})
    vers = scorecard.versions(ui.write_cursor())
    options = [None, *[int(v) for v in vers.loc[vers["kind"] == scorecard.HOUSE, "version"]]]
    label = dict(zip(vers["version"], vers["name"], strict=True))
    st.session_state["health_cfg_pick"] = active if active in options else None

    def _use() -> None:
        scorecard.set_active(ui.write_cursor(), st.session_state["health_cfg_pick"])

    st.selectbox("Configuration in use", options, on_change=_use, key="health_cfg_pick",
                 format_func=lambda v: "Learned from renewals (default)" if v is None
                 else f"{label.get(v, v)} (version {v})")
    st.markdown("**New house configuration**: weights (the most points each factor can give) must add up to 100.")
    start = book.weights_frame(cfg)
    if cfg.kind == scorecard.LEARNED:  # a house config starts from equal weights; an edit from its own
        start["weight"] = [scorecard.default_house_weights(cfg.names)[n] for n in cfg.names]
    edited = st.data_editor(start, hide_index=True, disabled=["factor", "label"], key="health_weights",
                            column_config={"weight": st.column_config.NumberColumn(min_value=0, max_value=100,
                                                                                   step=0.5)})
    hc = st.columns(3)
    red = hc[0].number_input("Red below", 1.0, 99.0, float(cfg.red_below or 40), step=1.0, key="health_red")
    green = hc[1].number_input("Green from", 2.0, 100.0, float(cfg.green_from or 70), step=1.0, key="health_green")
    name = hc[2].text_input("Name", key="health_name", max_chars=scorecard.MAX_NAME)
    if st.button("Save as a new version and use it", key="health_save"):
        weights = dict(zip(edited["factor"], edited["weight"].astype(float), strict=True))
        problems = scorecard.check_house(weights, red, green, name, cfg.names)
        if problems:
            for p in problems:
                st.error(p)
        else:
            saved = scorecard.save(ui.write_cursor(), scorecard.house(cfg, weights, red, green, name))
            scorecard.set_active(ui.write_cursor(), saved.version)
            ui.flash(f"Saved '{saved.name}' as version {saved.version}; scores rebuilt with it.", True)
            st.rerun()
ui.show_flash()
