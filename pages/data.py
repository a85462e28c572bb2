"""Data: start with your own data, upload a file, check the mapping and validation, import; settings; history."""
import streamlit as st

from app import prepare, ui
from app.data import importer, store
from app.data.schema import KINDS
from app.rules import periods
from app.sources import db, fx, presets, refresh

UPLOAD_GEN = "data_upload_gen"  # bumped after an import, so the uploader starts empty (non-widget key)

st.title("Data")
st.caption("Load what your CRM and billing system export: CSV, Excel or Parquet, with your own column names. "
           "A file with problems is refused with every problem listed, and nothing stored changes.")
ui.show_flash()

cur = ui.cursor()
sample = store.sample_label(cur)

if sample:
    with st.container(border=True):
        st.markdown("**You are looking at the sample company** (generated data). To use your own data:")
        st.markdown("1. Upload your **accounts** file below and choose *Replace the sample with this file* "
                    "(one step: the sample is removed and your accounts imported, or nothing changes).\n"
                    "2. Then upload subscriptions (or contracts), and any usage, NPS, tickets, churn reasons and "
                    "the CSM roster.")
        c1, c2 = st.columns([1, 2])
        sure_empty = c2.checkbox("Remove the sample company and start with an empty store", key="data_sure_empty")
        if c1.button("Start empty", disabled=not sure_empty, icon=":material/delete_sweep:"):
            importer.start_empty(ui.write_cursor())
            ui.flash("The store is empty: upload your accounts first.", ok=True)
            st.rerun()

left, right = st.columns([2, 1])
kind = left.selectbox("What does the file hold?", list(KINDS),
                      format_func=lambda k: f"{k}: {KINDS[k].description}")
mode = right.radio("Mode", ["replace", "append"], horizontal=True,
                   help="replace: the table becomes exactly this file. append: the file's rows are added; "
                        "ids already stored are refused.")
kind_presets = presets.names(kind)
DETECT = "Detect from the header"
preset_label = st.selectbox(
    "Source", [DETECT, *kind_presets, presets.NONE], disabled=not kind_presets,
    format_func=lambda n: n if n in (DETECT, presets.NONE) else f"{presets.PRESETS[n].label} ({n})",
    help="A ready-made source imports a Stripe, HubSpot, ChartMogul or Salesforce export with no mapping "
         "(docs/sources.md). Detect: recognised from the file's header; none: map the columns yourself.")
preset = None if preset_label == DETECT else preset_label
upload = st.file_uploader("File", type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet"],
                          key=f"data_upload_{st.session_state.get(UPLOAD_GEN, 0)}",
                          help="The upload limit is set by server.maxUploadSize in .streamlit/config.toml.")

if upload is not None:
    data = upload.getvalue()
    opts = st.columns(2)
    sheets = importer.sheet_names(data, upload.name)
    sheet = opts[0].selectbox("Sheet", sheets) if len(sheets) > 1 else None
    fmt_label = opts[1].selectbox("Date format", list(importer.DATE_FORMATS),
                                  help="Detect reads ISO dates always and US or EU order when the values "
                                       "decide it; choose a format when they cannot.")
    date_format = importer.DATE_FORMATS[fmt_label]

    auto = importer.check(cur, kind, data, upload.name, mode, None, sheet, date_format,
                          parsed=ui.parsed_upload(upload, kind, None, sheet, date_format, preset))
    mapping = None
    if auto.source_columns:
        st.subheader("Column mapping")
        st.caption("Proposed from your column names; change any row. Empty = not imported"
                   + (" (kept as an extra account column)." if KINDS[kind].keeps_extra else "."))
        edited = st.data_editor(
            auto.mapping_table(), hide_index=True, width="stretch",
            disabled=["source column", "example"],
            column_config={"maps to": st.column_config.SelectboxColumn(
                "maps to", options=["", *importer.targets(kind)], required=False)},
            key=f"mapping_{kind}_{importer.sha256(data)[:12]}_{sheet}",
        )
        mapping = {r["source column"]: (r["maps to"] or "") for r in edited.to_dict("records")}
        chk = auto if mapping == auto.mapping else importer.check(
            cur, kind, data, upload.name, mode, mapping, sheet, date_format,
            parsed=ui.parsed_upload(upload, kind, mapping, sheet, date_format, preset))
    else:
        chk = auto

    for note in chk.notes:
        st.caption(note)
    st.subheader("Validation report")
    clear_first = False
    if chk.ok:
        st.success(f"Ready to import {len(chk.frame):,} rows into {kind} ({mode}).")
    elif chk.conflicts_with_stored:
        st.warning(f"{upload.name} is a valid list of accounts, but the data stored now (the "
                   f"{'sample company' if sample else 'earlier imports'}) has rows for accounts that are not in "
                   "it:\n\n" + "\n".join(f"- {p.expected}" for p in chk.problems))
        clear_first = st.checkbox(f"Replace the {'sample' if sample else 'stored data'} with this file: empty "
                                  "every table, then import these accounts (one step; nothing changes if it fails)",
                                  key="data_clear_first")
    else:
        total, listed = chk.problem_total, len(chk.problems)
        first = "\n".join(f"- {p}" for p in chk.problems[:10])
        shown = "" if total <= 10 else f" The first 10 are below; the table lists {min(listed, total):,} of {total:,}."
        st.error(f"{upload.name}: {total:,} problem(s) found. Fix them (or the mapping) to import; "
                 f"nothing has been changed.{shown}\n\n{first}")
        if total > 10:
            st.dataframe(chk.problem_table(), hide_index=True, width="stretch")
    if chk.frame is not None and (chk.ok or clear_first):
        preview = chk.frame.drop(columns="__row").head(20)
        st.dataframe(preview, hide_index=True, width="stretch", column_config={  # dates as stored: no time
            c: st.column_config.DateColumn(format="YYYY-MM-DD") for c in preview.select_dtypes("datetime").columns})

    if st.button("Import", type="primary", disabled=not (chk.ok or clear_first)):
        report = importer.import_file(ui.write_cursor(), kind, data, upload.name, mode, mapping, sheet,
                                      date_format, clear_first=clear_first, preset=preset)
        ui.flash(report.message + "".join(f"\n- {n}" for n in report.notes) if report.ok else report.message,
                 ok=report.ok)
        if report.ok:  # the file is in: start the next upload from an empty uploader
            st.session_state[UPLOAD_GEN] = st.session_state.get(UPLOAD_GEN, 0) + 1
            with st.spinner("Preparing the forecasts and health scores for the new data (the renewal model, "
                            "every contract due, 52 weekly scores)...", show_time=True):
                prepare.run(ui.write_cursor())
        st.rerun()  # a new run reads the new data everywhere

with st.expander("Admin: load from a PostgreSQL query"):
    st.caption(f"The rows the query returns go through the same mapping, checks and one-transaction write as a "
               f"file, into "
               f"**{kind}** ({mode}). The password comes from the server's PGPASSWORD or ~/.pgpass, never from here. "
               "For every source at once, use `python -m app refresh` with a sources.toml.")
    with st.form("db_form", border=False):
        url = st.text_input("Database URL", placeholder="postgresql://reader@db.internal:5432/analytics")
        sql = st.text_area("Query", placeholder="select account_id, day as date, 'logins' as metric, n as value "
                                                "from usage_daily")
        go = st.form_submit_button("Run the query and import", icon=":material/database:")
    if go:
        try:
            q = db.Query(db.check_url(url), sql)
            parsed = importer.parse_raw(db.read_query(q.url, q.sql, q.label), q.label, kind, None, None, preset)
        except db.SourceError as exc:
            st.error(str(exc))
            parsed = q = None
        except importer.ImportRefused as exc:
            parsed, q = importer.Parsed(None, None, tuple(exc.problems)), db.Query(url, sql)
        if parsed is not None:
            report = importer.import_file(ui.write_cursor(), kind, q.sql.encode(), q.label, mode, parsed=parsed,
                                          preset=preset)
            ui.flash(report.message + "".join(f"\n- {n}" for n in report.notes) if report.ok else report.message,
                     ok=report.ok)
            if report.ok:
                prepare.run(ui.write_cursor())
            st.rerun()

st.subheader("Settings")
s1, s2 = st.columns(2)
with s1.form("as_of_form", border=True):
    pinned = store.as_of_pinned(cur)
    auto_text = f"Follow the data (now {store.auto_as_of(cur):%d %b %Y})"
    choices = [None, *store.as_of_choices(cur)]
    current = store.as_of(cur) if pinned else None
    pick = st.selectbox("As-of date", choices, index=choices.index(current) if current in choices else 0,
                        format_func=lambda d: auto_text if d is None else f"{d:%d %b %Y}",
                        help="The month end every metric, forecast and plan is computed at. Follow the data: the "
                             "last complete month your data covers (the month of its latest start, usage, NPS, "
                             "ticket or churn date; or last month when a subscription is still running).")
    if st.form_submit_button("Save as-of date"):
        store.set_as_of(ui.write_cursor(), pick)
        with st.spinner("Preparing the forecasts and health scores at the new as-of date...", show_time=True):
            prepare.run(ui.write_cursor())
        ui.flash(f"As-of date: {'follows the data' if pick is None else f'{pick:%d %b %Y}'}.", ok=True)
        st.rerun()
with s2.form("fiscal_form", border=True):
    fy = store.fiscal_year_start(cur)
    month = st.selectbox("Fiscal year starts in", list(range(1, 13)), index=fy - 1,
                         format_func=lambda m: periods.MONTH_ABBR[m],
                         help="Used by bridge periods, renewal windows, forecasts by quarter and the planner. A "
                              "fiscal year is named by the calendar year it ends in (Feb start: FY2027 = Feb 2026 - "
                              "Jan 2027).")
    if st.form_submit_button("Save fiscal year"):
        store.set_fiscal_year_start(ui.write_cursor(), month)
        ui.flash(f"Fiscal year: {periods.fiscal_year_text(month)}.", ok=True)
        st.rerun()

with st.form("currency_form", border=True):
    st.caption(fx.rates_note(cur) + " Load your own rates as the fx_rates kind (date, currency, rate).")
    c1, c2 = st.columns(2)
    code = c1.text_input("Reporting currency", fx.reporting_currency(cur), max_chars=3,
                         help="ISO code. Every amount in the store is converted to it at import (the original amount "
                              "and currency are kept on each line); changing it converts the stored amounts again.")
    how = c2.radio("Conversion", list(fx.RULES), index=list(fx.RULES).index(fx.rule(cur)), horizontal=True,
                   help="start-month: the rate of each line's start month; budget: each currency's latest rate "
                        "(load one rate per currency). docs/sources.md, Currencies.")
    if st.form_submit_button("Save currency"):
        try:
            fx.set_reporting_currency(ui.write_cursor(), code, how)
            ui.flash(f"Reporting currency: {code.upper()} ({how}).", ok=True)
        except ValueError as exc:
            ui.flash(str(exc), ok=False)
        st.rerun()

st.subheader("Import history")
last_refresh = refresh.last_text(cur)
if last_refresh:
    st.caption(last_refresh)
st.dataframe(ui.cached(store.import_history), hide_index=True, width="stretch")

with st.expander("Reset to the sample company"):
    st.write("Replaces every table with the bundled, generated sample company (about 3,000 accounts over "
             "4 years). Your imported data is removed.")
    sure = st.checkbox("I understand my imported data will be replaced")
    if st.button("Reset to sample data", disabled=not sure):
        with st.spinner("Generating the sample company..."):
            importer.load_sample(ui.write_cursor())
        with st.spinner("Preparing the forecasts and health scores (the renewal model, every contract due, "
                        "52 weekly scores)...", show_time=True):
            prepare.run(ui.write_cursor())
        ui.flash("The sample company is loaded.", ok=True)
        st.rerun()
