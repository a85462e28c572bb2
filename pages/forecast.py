"""Forecast: renewals due (bottom-up, per contract) next to the top-down ARR forecast; at-risk accounts."""
import streamlit as st

from app import ui
from app.analytics import status
from app.forecasting import renewals, topdown
from app.present import charts_forecast, charts_renewals, export, fmt

st.title("Forecast")
st.caption("Renewals due in the coming quarters, scored contract by contract (bottom-up), next to the trend of "
           "ARR, new and churned ARR (top-down); the accounts most at risk and why.")

s = ui.cached(status.status)
if s.empty:
    st.info("The store holds no data yet: load your files, or the bundled sample company, on the Data page.")
    st.stop()

segment = ui.segment_filter(ui.cached(topdown.segments))
quarters = st.sidebar.select_slider("Window", options=[1, 2, 3, 4], **ui.kept("fc_window", 1, [1, 2, 3, 4]),
                                    format_func=lambda q: f"next {q} quarter{'s' if q > 1 else ''}",
                                    help="Contracts whose end date falls after the as-of date and up to "
                                         "3, 6, 9 or 12 months after it.")
horizon = 3 * quarters


def usd(label: str | None = None, **kw) -> st.column_config.NumberColumn:
    """Whole dollars with thousands separators ($1,234,567): cents add nothing at this scale."""
    return st.column_config.NumberColumn(label, format="dollar", step=1, **kw)


AT_RISK_PAGE_ROWS = 100
GROUP_COLS = {"month": st.column_config.DateColumn("Month", format="MMM YYYY"), "segment": "Segment",
              "csm_id": "CSM id", "csm_name": "CSM", "n": st.column_config.NumberColumn("Contracts", format="%,d"),
              "arr_due": usd("ARR due"), "expected": usd("Expected renewed ARR"),
              "p10": usd("P10"), "p50": usd("P50"), "p90": usd("P90")}

# Prepared after every import (renewals.prepare: the model, every contract due scored, the next quarter's
# backfilled windows and views) and read from the store. A window or segment not prepared yet is computed
# here once per data version and stored (the model's training too when nothing was prepared); it is saved
# as a forecast run then.
with st.spinner("Training the renewal model on the renewals so far, scoring every contract due and checking the "
                "forecast on past windows (once per data change; an import prepares the next quarter)...",
                show_time=True):
    fv = ui.cached_write(renewals.forecast_view, horizon, segment)
fc, cal = fv.forecast, fv.calibration
t = fc.totals
where = segment or "all segments"
ui.pack_download("forecast", segment, key="forecast")  # the quarterly review pack, built on click
coverage = ("" if cal.coverage is None else
            f" On {len(cal.windows)} past windows the realised lost accounts fell inside P10-P90 in "
            f"{int(cal.windows['inside'].sum())} ({fmt.pct(cal.coverage, 0)}).")

st.header(f"Renewals due by {fmt.date(fc.window_end)}")
c = st.columns(5)
c[0].metric("Accounts due", fmt.count(t["accounts"]),
            help=f"Accounts with a renewal date after {fmt.date(fc.as_of)} and up to {fmt.date(fc.window_end)}, "
                 f"{where}: {fmt.count(t['contracts'])} renewal streams (each annual or multi-year contract once, "
                 f"each monthly/quarterly subscription once per account), {fmt.count(t['renewals'])} renewal dates "
                 "in all (a monthly subscription comes up every month).")
c[1].metric("ARR due", fmt.money(t["arr_due"]),
            help="Per stream: the ARR of its first billing cycle in the window (a monthly subscription counted "
                 "once, not once per month). The by-month table below counts every renewal date instead.")
c[2].metric("Expected renewed ARR", fmt.money(t["expected"]),
            delta=f"P10 {fmt.money(t['p10'])} - P90 {fmt.money(t['p90'])}", delta_color="off", delta_arrow="off",
            help="Per stream: P(renewed at every renewal in the window) x ARR due, summed; flat price. P10 / P90: "
                 f"10th and 90th percentiles of {fmt.count(fc.n_sims)} simulations in which one shared shock moves "
                 f"every renewal's odds together (sd {cal.sigma:.2f} on the logit scale, fitted on past windows; "
                 "0 = independent renewals)." + coverage)
c[3].metric("Expected lost accounts", f"{t['expected_churned_accounts']:,.1f}",
            delta=f"P10 {t['churned_accounts_p10']:,.0f} - P90 {t['churned_accounts_p90']:,.0f}", delta_color="off",
            delta_arrow="off",
            help="Sum over accounts due of 1 - P(the account still pays at the window's end): it must renew at "
                 "every renewal date in the window; an account with ARR not due in the window keeps paying."
                 + coverage)
c[4].metric("ARR at risk", fmt.money(t["arr_at_risk"]),
            help=f"ARR due of the {fmt.count(t['n_at_risk'])} streams least likely to renew (the bottom 20% by "
                 "P(renew)) in the window.")
st.caption(f"Expected net renewed ARR {fmt.money(t['expected_net'])}: expected renewed ARR x the price and seat "
           "change at renewal seen in the last 12 months per segment (renewed ARR / ARR due of the renewals that "
           "renewed). " + cal.note)


def renewals_due() -> None:
    """ARR due and expected renewed ARR by month, segment or CSM: chart, table, downloads."""
    groups = ["month", "segment", "csm_name"]
    group = st.segmented_control("Group by", groups, **ui.kept("fc_group", "month", groups),
                                 format_func={"month": "Month", "segment": "Segment", "csm_name": "CSM"}.get) or "month"
    frame = {"month": fc.by_month, "segment": fc.by_segment, "csm_name": fc.by_csm}[group]
    if frame.empty:
        st.info("No contracts are due in this window.")
        return
    chart = charts_renewals.groups_chart(frame, group, "ARR due and expected renewed ARR by "
                                         + {"csm_name": "CSM"}.get(group, group), temporal=group == "month")
    st.altair_chart(chart, width="stretch")
    st.caption(renewals.GROUP_BASES["month" if group == "month" else "stream"])
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        **GROUP_COLS, "n": st.column_config.NumberColumn("Renewal dates" if group == "month" else "Streams",
                                                         format="%,d")})
    ui.downloads(chart, frame, f"renewals_by_{group}")


def at_risk_accounts() -> None:
    """The contracts least likely to renew, one page of rows at a time; the downloads hold them all."""
    risk_df = renewals.at_risk_table(fc)
    if risk_df.empty:
        st.info("No contracts are due in this window.")
        return
    f = st.columns([3, 3, 2, 2])
    # The filters are kept (ui.kept) while another section is open; the page number is not: it starts at 1.
    csm_options, bill_options = sorted(risk_df["CSM"].dropna().unique()), sorted(risk_df["Billing"].dropna().unique())
    csms = f[0].multiselect("CSM", csm_options, placeholder="All CSMs", **ui.kept("fc_csms", [], csm_options))
    bills = f[1].multiselect("Billing", bill_options, placeholder="All billing terms",
                             **ui.kept("fc_billing", [], bill_options))
    min_arr = f[2].number_input("Minimum ARR due", min_value=0, step=1000, **ui.kept("fc_min_arr", 0))
    view = risk_df[(risk_df["ARR due"] >= min_arr)
                   & (risk_df["CSM"].isin(csms) if csms else True)
                   & (risk_df["Billing"].isin(bills) if bills else True)]
    # One page of rows goes to the browser (a 100,000-account base has thousands of contracts at risk); the
    # downloads hold the whole filtered list. The label names the page count, so a new filter starts at page 1.
    pages = max(1, -(-len(view) // AT_RISK_PAGE_ROWS))
    page = int(f[3].number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1,
                                 help=f"{AT_RISK_PAGE_ROWS} contracts per page, lowest P(renew) first."))
    first = (page - 1) * AT_RISK_PAGE_ROWS
    rows = view.iloc[first:first + AT_RISK_PAGE_ROWS]
    st.caption(f"{fmt.count(len(view))} of the {fmt.count(len(risk_df))} contracts least likely to renew (bottom "
               f"20% by P(renew)), lowest P first; rows {fmt.count(first + 1 if len(rows) else 0)}-"
               f"{fmt.count(first + len(rows))} shown. Drivers: the factors that raised this contract's churn score "
               "most against renewed peers of its segment. Click a column to sort this page; the downloads hold "
               "every filtered row with the account id, billing, renewals in the window, a suggested play per driver "
               "and the second and third drivers.")
    shown = ui.with_account_links(rows, "Account")[
        ["link", "Name", "Segment", "CSM", "Renewal date", "ARR due", "P(renew)", "Expected ARR lost", "Driver 1",
         "Play 1"]]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        "link": ui.account_link_column(width=90),
        "Name": st.column_config.TextColumn(width=165), "Segment": st.column_config.TextColumn(width=80),
        "CSM": st.column_config.TextColumn(width=110, help="The account's CSM (the roster's name; the id is in "
                                                           "the downloads)."),
        "Renewal date": st.column_config.DateColumn(format="DD MMM YYYY", width=92),
        "ARR due": usd(width=82),
        "P(renew)": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent", width=100),
        "Expected ARR lost": usd(width=118),
        "Driver 1": st.column_config.TextColumn("Main driver", width=235,
                                                help="The factor that raised the churn score most."),
        "Play 1": st.column_config.TextColumn("Suggested play", width=260,
                                              help="What to do about the main driver; the downloads add the "
                                                   "second and third drivers and their plays.")})
    d = st.columns(2)
    d[0].download_button("At-risk list (XLSX)", data=lambda: renewals.at_risk_xlsx(view),
                         file_name="at_risk_accounts.xlsx", on_click="ignore",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    d[1].download_button("At-risk list (CSV)", data=lambda: export.to_csv_bytes(view),
                         file_name="at_risk_accounts.csv", mime="text/csv", on_click="ignore")


def model_and_track_record() -> None:
    """The renewal model's card, the window forecast on past windows and saved forecasts against actual."""
    card = fv.card
    for note in fv.notes:
        st.caption(note)
    if card is None:
        st.info("Too little renewal history to train a model: P(renew) is the historic renewal rate of the segment "
                "and billing term.")
    else:
        st.caption(f"{card.note} Model {fv.model_version}, trained in {fv.train_seconds:.1f} s on "
                   f"{fmt.count(fv.n_labelled)} contracts with a known outcome.")
        m = st.columns(4)
        m[0].metric("AUC", f"{card.auc:.3f}", delta=f"{card.auc - card.base_auc:+.3f} vs baseline",
                    help="Holdout area under the ROC curve: the chance a churned contract scores riskier than a "
                         "renewed one (0.5 = guessing).")
        m[1].metric("Brier score", f"{card.brier:.4f}", delta=f"{card.brier - card.base_brier:+.4f} vs baseline",
                    delta_color="inverse", help="Holdout mean squared error of P(churn); lower is better.")
        m[2].metric("Top-decile lift", f"{card.lift:.1f}x", delta=f"{card.lift - card.base_lift:+.1f} vs baseline",
                    help="Churn rate among the 10% riskiest holdout contracts / overall holdout churn rate.")
        m[3].metric("AUC, annual and longer", f"{card.auc_term:.3f}",
                    delta=f"{card.auc_term - card.base_auc_term:+.3f} vs baseline",
                    help="Holdout AUC on annual and multi-year contracts only (monthly renewals are easier to rank).")
        card_box = ui.lazy_expander("Calibration, what drives the score, model card tables", "fc_card")
        if card_box.open:
            with card_box:
                cc = st.columns(2)
                cc[0].altair_chart(charts_renewals.calibration_chart(card), width="stretch")
                cc[1].altair_chart(charts_renewals.importance_chart(card), width="stretch")
                st.dataframe(card.summary, hide_index=True, width="stretch")
                st.dataframe(card.calibration, hide_index=True, width="stretch")
    windows_box = (ui.lazy_expander(f"The window forecast on {len(cal.windows)} past windows", "fc_windows")
                   if len(cal.windows) else None)
    if windows_box is not None and windows_box.open:
        with windows_box:
            st.caption(cal.note)
            st.dataframe(cal.windows, hide_index=True, width="stretch", column_config={
                "as_of": st.column_config.DateColumn("As of", format="DD MMM YYYY"),
                "window_end": st.column_config.DateColumn("Window end", format="DD MMM YYYY"),
                "accounts_due": st.column_config.NumberColumn("Accounts due", format="%,d"),
                "predicted_lost": st.column_config.NumberColumn("Lost accounts, predicted", format="%,.1f"),
                "realised_lost": st.column_config.NumberColumn("Lost accounts, realised", format="%,d"),
                "lost_p10": st.column_config.NumberColumn("P10", format="%,.0f"),
                "lost_p90": st.column_config.NumberColumn("P90", format="%,.0f"),
                "inside": st.column_config.CheckboxColumn("Inside P10-P90"),
                "predicted_lost_arr": usd("Lost ARR, predicted"), "realised_lost_arr": usd("Lost ARR, realised")})
            st.caption("Reliability of P(still paying at the window's end), accounts of all these windows by quintile "
                       "of their P: predicted vs the share that did still pay.")
            st.dataframe(cal.reliability, hide_index=True, width="stretch", column_config={
                "predicted": st.column_config.NumberColumn("Predicted", format="percent"),
                "realised": st.column_config.NumberColumn("Realised", format="percent"),
                "accounts": st.column_config.NumberColumn("Accounts", format="%,d")})

    st.subheader("Forecast against actual")
    fva = ui.cached(renewals.forecast_vs_actual, renewals.runs_signature(ui.cursor()))
    done = fva[fva["status"] != "pending"] if len(fva) else fva
    if done.empty:
        st.info("No saved forecast has reached its window yet. Every forecast shown here is saved; come back once "
                "its renewals are due, or run the model as it would have run six months ago.")
        if st.button("Run the model as of six months ago"):
            renewals.backfill_run(ui.write_cursor(), months_back=6, horizon_months=3)
            st.rerun()  # the next run's snapshot holds the new saved run
    else:
        st.altair_chart(charts_renewals.runs_chart(done), width="stretch")
    if len(fva):
        shown = fva.drop(columns=["id"]).assign(  # pending runs have no actual yet: "n/a"
            actual=fva["actual"].map(fmt.money_exact), error=fva["error"].map(fmt.money_exact),
            within_p10_p90=fva["within_p10_p90"].map(lambda v: "-" if v is None else "yes" if v else "no"))
        st.dataframe(shown, hide_index=True, width="stretch", column_order=[
            c for c in shown.columns if c != "pending"], column_config={
            "as_of": st.column_config.DateColumn("Run as of", format="DD MMM YYYY"),
            "window_end": st.column_config.DateColumn("Window end", format="DD MMM YYYY"),
            "segment": "Segment", "arr_due": usd("ARR due"), "expected": usd("Expected"), "p10": usd("P10"),
            "p90": usd("P90"), "actual": "Actual", "error": "Expected - actual", "within_p10_p90": "In P10-P90",
            "status": st.column_config.TextColumn("Status", help="complete: every outcome known; partial: some "
                                                                  "contracts still pending; pending: none known yet.")})


def top_down() -> None:
    """ARR, new and churned ARR forecast from their monthly history, with the backtest that chose the method."""
    q_labels = {k: v["label"] for k, v in topdown.QUANTITIES.items()}
    quantity = st.segmented_control("Series", list(q_labels), format_func=q_labels.get,
                                    **ui.kept("fc_series", "arr", q_labels)) or "arr"
    try:
        bt = ui.cached(topdown.backtest_quantity, quantity, segment)
    except ValueError as exc:
        st.info(f"No top-down forecast: {exc}.")
        return
    methods = ["auto", *topdown.METHODS]
    method = st.radio("Method", methods, horizontal=True, **ui.kept("fc_method", "auto", methods),
                      format_func=lambda m: f"best in backtest ({topdown.METHOD_LABELS[bt.best_method]})" if m == "auto"
                      else topdown.METHOD_LABELS[m][:1].upper() + topdown.METHOD_LABELS[m][1:])
    st.caption(bt.explanation)
    # The band is widened by the backtest's factor for this method (bt.choice), as the explanation above says.
    result = ui.cached(topdown.forecast_quantity, quantity, segment, horizon, *bt.choice(method))
    chart = charts_forecast.forecast_chart(result, quantity)
    left, right = st.columns([3, 2])
    left.altair_chart(chart, width="stretch")
    table = topdown.by_period(result, quantity, ui.fiscal_start())
    value_col = usd if topdown.QUANTITIES[quantity].get("money", True) else (
        lambda label: st.column_config.NumberColumn(label, format="%,.0f"))
    right.dataframe(table, hide_index=True, width="stretch", column_config={
        "period": st.column_config.TextColumn("Fiscal period",
                                              help="Quarters of the fiscal year set on the Data page."),
        "actual_months": st.column_config.NumberColumn("Actual months",
                                                       help="Months of the period already observed."),
        "forecast_months": st.column_config.NumberColumn("Forecast months"),
        "forecast": value_col("Forecast"), "p10": value_col("P10"), "p90": value_col("P90")})
    right.caption("By fiscal quarter: " + ("the sum of the months (actual months included); P10 and P90 add the "
                                           "monthly bounds, assuming months move together (a wide band)."
                                           if topdown.QUANTITIES[quantity].get("flow") else
                                           "the value at the quarter's last month, with that month's P10-P90."))
    st.caption(result.note)
    if quantity == "churned_arr":  # the two views of the same window's churn, side by side in words
        st.info(renewals.compare_top_down(fc, result.frame, topdown.METHOD_LABELS[result.method]))
    ui.downloads(chart, charts_forecast.forecast_frame(result), f"forecast_{quantity}")
    backtest_box = ui.lazy_expander("Backtest", "fc_backtest")
    if backtest_box.open:
        with backtest_box:
            money = topdown.QUANTITIES[quantity].get("money", True)
            st.dataframe(charts_forecast.backtest_table(bt), hide_index=True, width="stretch", column_config={
                "method": "Method", "months ahead": "Months ahead", "points": "Backtest points",
                "MAE": usd("Mean absolute error") if money else st.column_config.NumberColumn(
                    "Mean absolute error", format="%,.1f"),
                "MAPE %": st.column_config.NumberColumn("Mean absolute % error", format="%.1f%%"),
                f"coverage of {topdown.INTERVAL:.0%} interval %": st.column_config.NumberColumn(
                    f"Raw {topdown.INTERVAL:.0%} interval held the actual", format="%.0f%%")})


# The page's sections are lazy tabs: only the open one is built and sent, so a warm rerun stays light (a
# 100,000-account base has thousands of contracts at risk, and each chart and table costs the browser time).
SECTIONS = {"Renewals due": renewals_due, "At-risk accounts": at_risk_accounts,
            "Model and track record": model_and_track_record, "Top-down forecast": top_down}
for tab, render in zip(ui.lazy_tabs(list(SECTIONS), "fc_section"), SECTIONS.values(), strict=True):
    if tab.open:
        with tab:
            render()
