"""Data: upload a file, check the mapping and the validation report, import; history; reset."""
import streamlit as st

from app import importer, store, ui
from app.schema import KINDS

st.title("Data")
st.caption("Load what your CRM and billing system export: CSV, Excel or Parquet, with your own column names. "
           "A file with problems is refused with every problem listed, and nothing stored changes.")

cur = ui.cursor()

left, right = st.columns([2, 1])
kind = left.selectbox("What does the file hold?", list(KINDS),
                      format_func=lambda k: f"{k}: {KINDS[k].description}")
mode = right.radio("Mode", ["replace", "append"], horizontal=True,
                   help="replace: the table becomes exactly this file. append: the file's rows are added; "
                        "ids already stored are refused.")
upload = st.file_uploader("File", type=["csv", "txt", "tsv", "xlsx", "xlsm", "parquet"],
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

    auto = importer.check(cur, kind, data, upload.name, mode, None, sheet, date_format)
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
        chk = auto if mapping == auto.mapping else importer.check(cur, kind, data, upload.name, mode, mapping,
                                                                   sheet, date_format)
    else:
        chk = auto

    for note in chk.notes:
        st.caption(note)
    st.subheader("Validation report")
    if chk.ok:
        st.success(f"Ready to import {len(chk.frame):,} rows into {kind} ({mode}).")
        preview = chk.frame.drop(columns="__row").head(20)
        st.dataframe(preview, hide_index=True, width="stretch", column_config={  # dates as stored: no time
            c: st.column_config.DateColumn(format="YYYY-MM-DD") for c in preview.select_dtypes("datetime").columns})
    else:
        first = "\n".join(f"- {p}" for p in chk.problems[:10])
        st.error(f"{upload.name}: {len(chk.problems):,} problem(s) found. Fix them (or the mapping) to import; "
                 f"nothing has been changed.\n\n{first}")
        if len(chk.problems) > 10:
            st.dataframe(chk.problem_table(), hide_index=True, width="stretch")

    if st.button("Import", type="primary", disabled=not chk.ok):
        report = importer.import_file(ui.write_cursor(), kind, data, upload.name, mode,
                                      mapping if auto.source_columns else None, sheet, date_format)
        ui.flash(report.message, ok=report.ok)
        st.rerun()  # a new run reads the new data everywhere

ui.show_flash()
st.subheader("Import history")
st.dataframe(ui.cached(store.import_history), hide_index=True, width="stretch")

with st.expander("Reset to the sample company"):
    st.write("Replaces every table with the bundled, generated sample company (about 3,000 accounts over "
             "4 years). Your imported data is removed.")
    sure = st.checkbox("I understand my imported data will be replaced")
    if st.button("Reset to sample data", disabled=not sure):
        with st.spinner("Generating the sample company..."):
            importer.load_sample(ui.write_cursor())
        ui.flash("The sample company is loaded.", ok=True)
        st.rerun()
