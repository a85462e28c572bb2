"""Capacity & budget planner: CSM headcount and CS budget (% of ARR) against projected new customers."""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from app import ui
from app.present import charts_planning, export, fmt
from planning import inputs as planner_inputs
from planning import model
from planning import scenario as sc
from planning.spend_benchmarks import Band, spend_band

# Non-widget keys: they survive page switches (a widget's own key does not).
SCEN = "planner_scenario_json"  # the scenario being edited, as JSON
NOTE = "planner_note"
TOKEN = "planner_url_token"  # the URL token last applied / written
GEN = "planner_widget_gen"  # bumped when a scenario is loaded, so widgets start from it
CURRENT = "Current (unsaved)"
TAB_KEY = "pl_tab"  # the open input tab (only its widgets run)
TAB_NAMES = ["Start", "Demand", "Coverage", "People", "Cost"]

st.title("Capacity & budget planner")
st.caption("CSM headcount and CS budget as % of ARR against projected new customers. Every headline says how it "
           "was computed; the model's rules are in docs/planning.md.")


def _set_scenario(s: sc.Scenario, note: str | None = None) -> None:
    st.session_state[SCEN] = sc.dumps(s, indent=None)
    st.session_state[GEN] = st.session_state.get(GEN, 0) + 1
    if note is not None:
        st.session_state[NOTE] = note


try:
    defaults = ui.cached(planner_inputs.store_defaults)
except Exception as exc:  # a broken store must not break the page: fall back to the example
    defaults = None
    st.warning(f"Could not read the starting point from the store ({exc}); using example values.")

# A shared link reproduces its scenario, even in a fresh browser.
token = st.query_params.get("scenario")
if token and token != st.session_state.get(TOKEN):
    try:
        _set_scenario(sc.decode_url(token), "Opened from a shared link: every input comes from the link.")
    except sc.ScenarioError as exc:
        st.error(str(exc))
    st.session_state[TOKEN] = token
if SCEN not in st.session_state:
    if defaults is None:
        _set_scenario(sc.load_scenario(planner_inputs.EXAMPLE_SCENARIO), "Example values.")
    else:
        _set_scenario(*planner_inputs.initial_scenario(defaults))
if st.session_state.get(NOTE):
    st.info(st.session_state[NOTE], icon=":material/info:")


def _field(where, spec: sc.FieldSpec, seg: str, value, key: str):
    """One input, labelled "<label> (<segment>)"; fractions are shown as percentages."""
    label = f"{spec.label} ({seg})"
    if spec.kind == "fraction" and spec.slider:
        lo, hi, step = (round(float(x) * 100, 6) for x in spec.slider)
        v = round(float(value) * 100, 6)
        lo, hi = min(lo, v), max(hi, v)
        return where.slider(label, lo, hi, v, step, format="%.1f%%", key=key, help=spec.help) / 100
    if spec.kind == "int":
        lo, hi, step = spec.slider or (spec.lo, max(100, value), 1)
        return int(where.slider(label, int(min(lo, value)), int(max(hi, value)), int(value), int(step), key=key,
                                help=spec.help))
    if spec.slider:
        lo, hi, step = (float(x) for x in spec.slider)
        v = float(value)
        return where.slider(label, min(lo, v), max(hi, v), v, step, key=key, help=spec.help,
                            format="$%,d" if spec.kind == "money" else "%g")
    v = where.number_input(label, min_value=float(spec.lo), value=float(value),
                           step=1000.0 if spec.kind == "money" else 1.0, key=key, help=spec.help, format="%.0f")
    if spec.kind == "money":
        where.caption(f"${v:,.0f}")  # the input itself cannot show thousands separators
    return v


def _inputs(s: sc.Scenario) -> sc.Scenario:
    gen = st.session_state.get(GEN, 0)
    k = lambda *parts: "pl{}_{}".format(gen, "_".join(str(p) for p in parts))  # noqa: E731
    s = _plan_inputs(s, k)
    segs = list(s.segments)
    visible = _visible_segments(s, k)
    # Only the open tab's inputs run (a slider move reruns 5-25 widgets, not 100): the others keep the
    # scenario's values, and their widgets start from them when the tab is opened again.
    groups = ["start", "demand", "coverage", "people", "cost"]
    tabs = dict(zip(groups, st.tabs(TAB_NAMES, key=TAB_KEY, on_change="rerun"), strict=False))
    is_open = {g: tabs[g].open is not False for g in groups}
    # Demand as one total plus a mix, or per segment: the choice sits above the segment columns.
    by_total, total, mix_caption, mix_now = s.new_customers is not None, None, None, {}
    if is_open["demand"]:
        total_year, mix_now = sc.mix_of(s)
        by_total, total, mix_caption = _demand_mode_inputs(tabs["demand"], by_total, total_year, k)
    cols = {g: dict(zip(visible, tabs[g].columns(len(visible)), strict=False)) for g in groups if is_open[g]}
    shares: dict[str, float] = {}
    for i, g in enumerate(segs):
        if i not in visible:
            if is_open["demand"] and by_total:
                shares[g.name] = round(mix_now.get(g.name, 0.0) * 100, 1)
            continue  # kept as it is
        segs[i] = _segment_inputs(s, i, g, cols, k, by_total, shares, mix_now)
    out = replace(s, segments=tuple(segs))
    if not is_open["demand"]:
        return out  # demand as it was
    if mix_caption is not None:
        mix_caption.caption(sc.mix_words(shares))
    return sc.with_demand_mode(out, by_total, total, shares)


def _plan_inputs(s: sc.Scenario, k) -> sc.Scenario:
    """The plan's start, horizon, target budget and hiring rule."""
    top = st.columns([1, 1, 2])
    start = top[0].date_input("Plan starts (month)", s.start_month, key=k("start"),
                              help="First month of the plan; the day is ignored. The default is the next fiscal "
                                   "year after the as-of date.")
    months = top[1].selectbox("Horizon (months)", [12, 24, 36], [12, 24, 36].index(s.months) if s.months in
                              (12, 24, 36) else 0, key=k("months"), help="Headlines cover the first 12 months.")
    target = top[2].slider("Target CS budget (% of ARR)", 1.0, 25.0, float(s.target_pct_arr), 0.5, format="%.1f%%",
                           key=k("target"), help="The budget you aim for: 12 x monthly CS cost / ARR.")
    s = replace(s, start_month=(start or s.start_month).replace(day=1), months=int(months),
                target_pct_arr=float(target))
    return replace(s, hiring=_hiring_inputs(s.hiring, k))


def _visible_segments(s: sc.Scenario, k) -> list[int]:
    """The segments shown: an empty tech-touch segment (no accounts, ARR, CSMs or new customers) stays in the
    plan but off screen until asked for (a column of zeros on every tab is noise)."""
    empty_tt = sc.empty_tech_touch(s)
    if empty_tt or st.session_state.get(k("tt")):
        add_tt = st.toggle("Add a tech-touch segment", key=k("tt"),
                           help="Accounts served by pooled CSMs (no named CSM). It starts empty because the "
                                "store has none; switch on to plan one.")
        if not add_tt:
            st.caption("Tech touch: no accounts yet; switch on to plan a pooled (tech-touch) segment.")
        else:
            empty_tt = []
    return [i for i in range(len(s.segments)) if i not in empty_tt]


def _demand_mode_inputs(tab, by_total: bool, total_year: float, k):
    """Total + mix or per segment; with a total, the plan year's total and a place for the mix's sum."""
    with tab:
        modes = ["Total + mix", "Per segment"]
        mode = st.radio("New customers", modes, 0 if by_total else 1, key=k("dmode"), horizontal=True,
                        help="Total + mix: one number for the plan year (e.g. Sales' 500) and each segment's "
                             "share of it. Per segment: a number for each segment.")
        if mode != modes[0]:
            return False, None, None
        total = st.number_input("New customers in the plan year, all segments", 0, None,
                                int(round(total_year)), 10, key=k("dtotal"),
                                help="New logos in the plan's first 12 months, spread over the segments "
                                     "by the mix and over the months by each segment's monthly shape.")
        return True, total, st.empty()


def _segment_inputs(s: sc.Scenario, i: int, g: sc.Segment, cols: dict, k, by_total: bool, shares: dict[str, float],
                    mix_now: dict[str, float]) -> sc.Segment:
    """One segment's inputs on the open tab; the other groups keep their values."""
    start_v = _start_inputs(cols["start"][i], g, k) if "start" in cols else g.start
    d = _demand_inputs(cols["demand"][i], s, g, k, by_total, shares, mix_now) if "demand" in cols else g.demand
    cv = _coverage_inputs(cols["coverage"][i], g, k) if "coverage" in cols else g.coverage
    people = _people_inputs(cols["people"][i], g, k) if "people" in cols else g.people
    cost = _cost_inputs(cols["cost"][i], g, k) if "cost" in cols else g.cost
    return sc.Segment(g.name, g.tech_touch, start_v, d, cv, people, cost)


def _start_inputs(c, g: sc.Segment, k) -> sc.Start:
    name = g.name
    c.markdown(f"**{name}**" + (" (tech touch: pooled CSMs)" if g.tech_touch else ""))
    acc = c.number_input(f"Accounts now ({name})", 0.0, value=float(g.start.accounts or 0), step=1.0,
                         format="%.0f", key=k(name, "acc"), help=sc.FIELD[("start", "accounts")].help)
    arr = c.number_input(f"ARR now ({name})", 0.0, value=float(g.start.arr or 0), step=10_000.0, format="%.0f",
                         key=k(name, "arr"), help=sc.FIELD[("start", "arr")].help)
    c.caption(f"{fmt.money_exact(arr)} ARR")
    csms = c.number_input(f"CSMs now ({name})", 0, value=int(g.start.csms or 0), step=1, key=k(name, "csms"),
                          help=sc.FIELD[("start", "csms")].help)
    return sc.Start(float(acc), float(arr), int(csms))


def _demand_inputs(c, s: sc.Scenario, g: sc.Segment, k, by_total: bool, shares: dict[str, float],
                   mix_now: dict[str, float]) -> sc.Demand:
    """New customers (a share of the total, or the segment's own yearly total), their shape and the money rates."""
    name = g.name
    c.markdown(f"**{name}**")
    d = sc.segment_demand(s, g)
    shape_opts = list(sc.SHAPES)
    shape_now = sc.shape_name(d)
    if by_total:
        shares[name] = c.number_input(f"Share of new customers ({name})", 0.0, 100.0,
                                      round(mix_now.get(name, 0.0) * 100, 1), 1.0, format="%.1f",
                                      key=k(name, "share"), help="Percent of the plan year's new customers "
                                      "in this segment; the shares add up to 100%.")
        shape = c.selectbox(f"Monthly shape ({name})", shape_opts, shape_opts.index(shape_now),
                            key=k(name, "shape"), help=_SHAPE_HELP)
        d = sc.with_picked_shape(d, shape)
    else:
        year = round(sum(sc.segment_new(s, g, 12)))
        new_year = c.slider(f"New customers, first 12 months ({name})", 0, max(2000, int(year * 2)), int(year),
                            5, key=k(name, "new"), help="New logos in the plan's first 12 months. The default "
                            "comes from the forecast or the trailing-12-month history; moving it spreads the "
                            "total by the monthly shape.")
        shape = c.selectbox(f"Monthly shape ({name})", shape_opts, shape_opts.index(shape_now),
                            key=k(name, "shape"), help=_SHAPE_HELP)
        edited = sc.with_year_total(d, year, new_year, shape)
        if edited is d and d.new_per_month is not None:
            c.caption("Month by month as given (history or forecast); move the slider to use a shape.")
        d = edited
    return sc.Demand(d.new_per_month, d.new_per_year, d.shape,
                     _field(c, sc.FIELD[("demand", "avg_new_arr")], name, d.avg_new_arr, k(name, "anr")),
                     _field(c, sc.FIELD[("demand", "annual_logo_churn")], name, d.annual_logo_churn, k(name, "ch")),
                     _field(c, sc.FIELD[("demand", "annual_net_expansion")], name, d.annual_net_expansion,
                            k(name, "ex")))


def _coverage_inputs(c, g: sc.Segment, k) -> sc.Coverage:
    """The coverage model and the inputs it uses."""
    name, cv = g.name, g.coverage
    c.markdown(f"**{name}**")
    model_name = c.radio(f"Coverage model ({name})", sc.COVERAGE_MODELS, sc.COVERAGE_MODELS.index(cv.model),
                         key=k(name, "cm"), horizontal=True,
                         help="accounts: accounts per CSM; arr: ARR per CSM; hours: hours per account "
                              "against productive hours per CSM.")
    vals = {"model": model_name}
    shown = {"accounts": ["accounts_per_csm"], "arr": ["arr_per_csm"],
             "hours": ["hours_per_account_year", "hours_per_csm_year", "utilisation", "admin_share"]}[model_name]
    for f in shown:
        vals[f] = _field(c, sc.FIELD[("coverage", f)], name, getattr(cv, f), k(name, f))
    return sc.Coverage(**{**cv.__dict__, **vals})


def _people_inputs(c, g: sc.Segment, k) -> sc.People:
    name = g.name
    c.markdown(f"**{name}**")
    return sc.People(**{f: _field(c, sc.FIELD[("people", f)], name, getattr(g.people, f), k(name, f))
                        for f in ("cost_per_csm", "annual_raise", "ramp_months", "ramp_productivity",
                                  "annual_attrition", "lead_time_months", "manager_span", "manager_cost")})


def _cost_inputs(c, g: sc.Segment, k) -> sc.Cost:
    name = g.name
    c.markdown(f"**{name}**")
    return sc.Cost(_field(c, sc.FIELD[("cost", "tooling_per_csm")], name, g.cost.tooling_per_csm, k(name, "tool")))


_SHAPE_HELP = ("flat: the same every month; quarter_end: the third month of each fiscal quarter books double; "
               "back_loaded: growing through the fiscal year.")


def _hiring_inputs(h: sc.Hiring, k) -> sc.Hiring:
    """The plan's hiring rule and its parameter."""
    rules = list(sc.HIRING_RULES)
    c = st.columns([2, 1, 1])
    rule = c[0].selectbox("Hiring rule", rules, rules.index(h.rule), format_func=sc.HIRING_RULES.get, key=k("rule"),
                          help="Fill the gap as it appears: hire each month's shortfall to be ramped in time. "
                               "Hire each quarter: requisitions open at fiscal quarter starts for the need until "
                               "the next batch is ramped. Cap hires per month: at most N starts a month in each "
                               "segment. Tolerate a coverage gap: hire only when available FTE falls more than N% "
                               "below required.")
    cap, tol = h.max_per_month, h.gap_tolerance
    if rule == "cap":
        cap = int(c[1].number_input("Most hires a month (per segment)", 1, 100, int(cap), 1, key=k("cap")))
    elif rule == "tolerance":
        tol = c[1].slider("Coverage gap tolerated", 0.0, 30.0, round(tol * 100, 1), 1.0, format="%.0f%%",
                          key=k("tol"), help="Hire only when available FTE would fall below (100% - this) of "
                                             "required FTE.") / 100.0
    return sc.Hiring(rule, cap, tol)


def _hidden(s: sc.Scenario) -> tuple[str, ...]:
    """The segments off screen: the tech-touch ones while the tech-touch segment is empty and its toggle is off."""
    key = f"pl{st.session_state.get(GEN, 0)}_tt"
    off = not st.session_state.get(key) and bool(sc.empty_tech_touch(s))
    return tuple(g.name for g in s.segments if g.tech_touch) if off else ()


@ui.fragment
def planner() -> None:
    try:
        s = sc.loads(st.session_state[SCEN])
        with st.container(border=True):
            s = _inputs(s)
        s = sc.from_dict(sc.to_dict(s))  # the same validation a file gets
        result = model.run_plan(s)
    except sc.ScenarioError as exc:
        st.error(f"The inputs cannot be planned: {exc}")
        return
    st.session_state[SCEN] = sc.dumps(s, indent=None)
    band = spend_band()
    _headlines(s, result, band)
    hide = _hidden(s)
    aff = _what_a_budget_buys(s, result, hide)
    _charts(s, result, band, hide)
    _monthly_table(s, result)
    _share_and_export(s, result, aff)


def _headlines(s: sc.Scenario, result: model.PlanResult, band: Band) -> None:
    """Hires, headcount, cost and cost as % of ARR (against the target and the public band), and how each was
    computed."""
    h = result.headlines
    c = st.columns(4)
    c[0].metric("Hires this year", h["hires_year"].text, help=h["hires_year"].explanation)
    c[1].metric("Year-end headcount", h["year_end_headcount"].text, help=h["year_end_headcount"].explanation)
    c[2].metric("Annual CS cost", h["annual_cost"].text, help=h["annual_cost"].explanation)
    pct = h["cost_pct_arr"]
    c[3].metric("Cost as % of ARR", pct.text, help=pct.explanation, delta_color="inverse",
                delta=None if pct.value != pct.value else f"{pct.value - s.target_pct_arr:+.1f} pts vs target")
    if band.low and band.high:
        c[3].caption(f"Public band {band.low.pct_arr:g}-{band.high.pct_arr:g}% of ARR ({band.low.source}, "
                     f"{band.low.year})" + (f"; median {band.median.pct_arr:g}% ({band.median.source})"
                                            if band.median else "") + ".")
    st.caption(f"{model.hiring_words(s)}. Plan year: {model.plan_year_words(s)}.")
    with st.expander("How these numbers were computed", icon=":material/calculate:"):
        # one element, not four: every element a rerun sends is work for the browser before it settles
        st.markdown("\n\n".join(f"**{x.label}: {x.text}.** {x.explanation}".replace("$", "\\$")
                                  for x in h.values()))


def _what_a_budget_buys(s: sc.Scenario, result: model.PlanResult, hide: tuple[str, ...]) -> pd.DataFrame:
    """The reverse question's table (without the hidden segments' rows); returns the whole of it."""
    st.subheader("What a budget buys")
    budget = st.slider("Budget for the reverse question (% of ARR)", 1.0, 25.0, float(s.target_pct_arr), 0.5,
                       format="%.1f%%", key="pl_affordable",
                       help="Affordable CSMs at the end of the plan's first year if CS spend is this % of ARR.")
    aff = model.affordable(result, budget)
    right = {c: st.column_config.TextColumn(alignment="right") for c in (
        "ARR", "Accounts", "Planned CSMs", "Required FTE")}  # strings, so "-" can stand for "no base"
    st.dataframe(planner_inputs.affordable_display(aff, hide), hide_index=True, width="stretch", column_config={
        **right, "Budget / month": st.column_config.TextColumn(help="Budget % x ARR / 12.", alignment="right"),
        "Affordable CSMs": st.column_config.TextColumn(
            help="Largest whole n: n x (cost + tooling) / 12 + ceil(n / span) x manager cost / 12 <= budget "
                 "per month.", alignment="right"),
        "Accounts per CSM": st.column_config.TextColumn(help="Accounts / affordable CSMs ('-': none affordable).",
                                                        alignment="right"),
        "ARR per CSM": st.column_config.TextColumn(help="ARR / affordable CSMs ('-': none affordable).",
                                                   alignment="right")})
    return aff


def _charts(s: sc.Scenario, result: model.PlanResult, band: Band, hide: tuple[str, ...]) -> None:
    st.subheader("Charts")
    seg_opt = ["All segments", *[g.name for g in s.segments if g.name not in hide]]
    seg = st.selectbox("Segment for the FTE chart", seg_opt, key="pl_chart_seg")
    # Specs from cached templates (charts_planning.*_spec): a slider move swaps the data, not the chart.
    fte = charts_planning.fte_spec(result.detail, None if seg == "All segments" else seg)
    st.vega_lite_chart(spec=fte.to_dict(), width="stretch")
    ui.downloads(fte, result.detail, "planner_fte")
    hire = charts_planning.hiring_spec(result.detail)
    st.vega_lite_chart(spec=hire.to_dict(), width="stretch")
    ui.downloads(hire, result.detail[["month", "segment", "hires", "reqs_to_open"]], "planner_hiring")
    cost = charts_planning.cost_spec(result.totals, s.target_pct_arr, band)
    st.vega_lite_chart(spec=cost.to_dict(), width="stretch")
    ui.downloads(cost, result.totals, "planner_cost")


def _monthly_table(s: sc.Scenario, result: model.PlanResult) -> None:
    with st.expander("Monthly plan by segment (the CLI's table)"):
        st.caption(f"{model.hiring_words(s)}. Hires: people starting that month; reqs to open: requisitions to "
                   "open that month (lead time ahead of the start); coverage gap: required - available FTE.")
        usd = lambda label: st.column_config.NumberColumn(label, format="dollar", step=1)  # noqa: E731
        st.dataframe(result.detail, hide_index=True, width="stretch", column_config={
            "month": st.column_config.DateColumn("Month", format="MMM YYYY"), "segment": "Segment",
            "accounts": st.column_config.NumberColumn("Accounts", format="%,.0f"), "arr": usd("ARR"),
            "required_fte": st.column_config.NumberColumn("Required FTE", format="%.1f"),
            "available_fte": st.column_config.NumberColumn("Available FTE", format="%.1f"),
            "headcount": "Headcount", "hires": "Hires", "reqs_to_open": "Reqs to open", "cost": usd("Cost"),
            "cost_pct_arr": st.column_config.NumberColumn("Cost % of ARR", format="%.1f%%"),
            "new_accounts": st.column_config.NumberColumn("New accounts", format="%.1f"), "leavers": "Leavers",
            "ramping": "Ramping", "managers": "Managers",
            "coverage_gap": st.column_config.NumberColumn("Coverage gap (FTE)", format="%.1f")})


def _share_and_export(s: sc.Scenario, result: model.PlanResult, aff: pd.DataFrame) -> None:
    """The link that reproduces the plan (also written to the address bar) and the downloads."""
    st.subheader("Share and export")
    tok = sc.encode_url(s)
    st.session_state[TOKEN] = tok
    st.query_params["scenario"] = tok  # the address bar now reproduces this plan
    base = str(getattr(st.context, "url", "") or "").split("?")[0]
    st.session_state["pl_link"] = f"{base}?scenario={tok}"  # a keyed input keeps its first value otherwise
    st.text_input("Link to this plan", key="pl_link",
                  help="Carries every input (compressed JSON); opens the same plan in any browser.")
    c = st.columns(3)
    c[0].download_button("Plan (XLSX)",
                         data=lambda: export.to_xlsx_bytes(*planner_inputs.plan_workbook(s, result, aff)),
                         file_name="plan.xlsx",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         on_click="ignore", key="pl_xlsx")
    c[1].download_button("Plan (CSV)", data=lambda: export.to_csv_bytes(result.monthly), file_name="plan.csv",
                         mime="text/csv", on_click="ignore", key="pl_csv")
    c[2].download_button("Scenario (JSON)", data=sc.dumps(s), file_name="scenario.json", mime="application/json",
                         on_click="ignore", key="pl_json")


planner()

st.divider()
st.subheader("Saved scenarios")
cur = ui.write_cursor()  # saved scenarios: read and write the latest, not this run's snapshot
saved = planner_inputs.list_saved(cur)
names = list(saved["name"])
c = st.columns([2, 1, 2, 1, 1])
new_name = c[0].text_input("Scenario name", key="pl_save_name", placeholder="e.g. Base, Aggressive growth")
if c[1].button("Save scenario", key="pl_save", width="stretch"):
    try:
        current = sc.loads(st.session_state[SCEN])
        used = planner_inputs.save_scenario(cur, current, new_name or current.name)
        st.session_state[SCEN] = sc.dumps(replace(current, name=used), indent=None)
        st.success(f"Saved “{used}”.")
        names = list(planner_inputs.list_saved(cur)["name"])
    except sc.ScenarioError as exc:
        st.error(str(exc))
pick = c[2].selectbox("Saved", names, index=None, placeholder="Choose a saved scenario", key="pl_pick")
if c[3].button("Load", key="pl_load", disabled=pick is None, width="stretch"):
    try:
        _set_scenario(planner_inputs.load_saved(cur, pick), f"Loaded the saved scenario “{pick}”.")
        st.rerun()
    except sc.ScenarioError as exc:
        st.error(str(exc))
if c[4].button("Delete", key="pl_delete", disabled=pick is None, width="stretch"):
    planner_inputs.delete_saved(cur, pick)
    st.rerun()

compare = st.multiselect("Compare side by side (2-4)", [CURRENT, *names], max_selections=4, key="pl_compare",
                         help="Headline deltas are against the first scenario chosen.")
if len(compare) >= 2:
    try:
        chosen = {n: (sc.loads(st.session_state[SCEN]) if n == CURRENT else planner_inputs.load_saved(cur, n))
                  for n in compare}
        cmp = model.compare(chosen)
    except sc.ScenarioError as exc:
        st.error(str(exc))
    else:
        st.dataframe(planner_inputs.comparison_display(cmp.table), hide_index=True, width="stretch")
        cols = st.columns(2)
        for col, (measure, title, fmt) in zip(cols, (("headcount", "CSM headcount", ",.0f"),
                                                     ("cost_pct_arr", "Cost as % of ARR", ".1f")), strict=False):
            ch = charts_planning.compare_chart(cmp.totals, measure, title, fmt)
            col.altair_chart(ch, width="stretch")
            ui.downloads(ch, cmp.long, f"planner_compare_{measure}", where=col)
elif compare:
    st.caption("Choose at least two scenarios to compare.")
# The plan pack: the scenarios compared (2-4), else the plan on screen.
pack_of = ([replace(sc.loads(st.session_state[SCEN]), name=CURRENT) if n == CURRENT else n for n in compare]
           if len(compare) >= 2 else [sc.loads(st.session_state[SCEN])])
ui.pack_download("plan", scenarios=tuple(pack_of), key="planner")
