"""app/present/export.py: XLSX sheets open formatted (number formats, frozen bold header, filter, widths), safely."""
import datetime as dt
import io

import openpyxl
import pandas as pd
import pytest

from app.present import export


def _open(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def _col(ws, header: str) -> int:
    return [c.value for c in ws[1]].index(header) + 1


def at_risk() -> pd.DataFrame:
    return pd.DataFrame({
        "Account": ["A-1", "A-2", "A-3"],
        "Name": ["=HYPERLINK(\"http://evil\",\"click\")", "Globex Corporation International Holdings", "-minus"],
        "Renewal date": [dt.date(2026, 10, 31), dt.date(2026, 11, 15), None],
        "Renewals in window": [1, 3, 1],
        "ARR due": [361_553.25, 1_250_000.0, 9_800.5],
        "P(renew)": [0.45, 0.612, 0.9],
        "Expected ARR lost": [-361_553.0, 484_750.0, 980.05],
        "churn_rate": [0.05, 0.1, 0.25],
        "cost_pct_arr": [8.5, 9.0, 7.25],  # a percentage number, not a fraction: neither % nor money
        "score": [1.5, 2.25, 3.0],
    })


def test_inferred_formats_and_numbers_stay_numbers():
    ws = _open(export.to_xlsx_bytes({"At risk": at_risk()}))["At risk"]
    fmt_of = {c.value: ws.cell(row=2, column=i + 1).number_format for i, c in enumerate(ws[1])}
    assert fmt_of["ARR due"] == "$#,##0" and fmt_of["Expected ARR lost"] == "$#,##0"
    assert fmt_of["P(renew)"] == "0.0%" and fmt_of["churn_rate"] == "0.0%"
    assert fmt_of["Renewals in window"] == "#,##0"
    assert fmt_of["score"] == "#,##0.00" and fmt_of["cost_pct_arr"] == "#,##0.00"
    assert fmt_of["Renewal date"] == "yyyy-mm-dd"
    assert fmt_of["Account"] == "General"
    p = ws.cell(row=2, column=_col(ws, "P(renew)"))
    assert p.value == 0.45 and p.data_type == "n"  # 0.45 shown as 45.0%, stored as the number
    lost = ws.cell(row=2, column=_col(ws, "Expected ARR lost"))
    assert lost.value == -361_553.0 and lost.data_type == "n"
    d = ws.cell(row=2, column=_col(ws, "Renewal date"))
    assert d.is_date and d.value.date() == dt.date(2026, 10, 31)
    assert ws.cell(row=4, column=_col(ws, "Renewal date")).value is None


def test_header_filter_freeze_and_widths():
    df = at_risk()
    ws = _open(export.to_xlsx_bytes({"At risk": df}))["At risk"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:J4"  # 10 columns, header + 3 rows
    assert all(c.font.bold for c in ws[1])
    widths = {c.value: ws.column_dimensions[c.column_letter].width for c in ws[1]}
    assert all(w > 8.43 for w in widths.values())  # wider than Excel's default everywhere
    # the long name fits (41 characters + 2), "Renewals in window" fits its header, a huge text is capped at 60
    assert widths["Name"] == 43 and widths["Renewals in window"] == 20
    ws2 = _open(export.to_xlsx_bytes({"t": pd.DataFrame({"note": ["x" * 500]})}))["t"]
    assert ws2.column_dimensions["A"].width == 60


def test_formula_text_is_neutralised():
    ws = _open(export.to_xlsx_bytes({"At risk": at_risk()}))["At risk"]
    name = _col(ws, "Name")
    cell = ws.cell(row=2, column=name)
    assert cell.value == "'=HYPERLINK(\"http://evil\",\"click\")" and cell.data_type == "s"
    assert ws.cell(row=4, column=name).value == "'-minus"
    evil_header = _open(export.to_xlsx_bytes({"t": pd.DataFrame({"=cmd|' /C calc'!A0": [1]})}))["t"]
    assert evil_header["A1"].value.startswith("'=")


def test_explicit_formats_override_inference():
    df = pd.DataFrame({"when": ["2026-01-31"], "total": [1234.5], "ratio": [0.25], "n": [12.0], "code": [7]})
    data = export.to_xlsx_bytes({"S": df}, formats={"S": {"total": "money_exact", "ratio": "number",
                                                          "n": "count", "code": "text"}})
    ws = _open(data)["S"]
    assert [ws.cell(row=2, column=j).number_format for j in range(1, 6)] == [
        "General", "$#,##0.00", "#,##0.00", "#,##0", "General"]
    assert ws["E2"].value == 7 and ws["E2"].data_type == "n"  # "text" changes no stored value


def test_several_sheets_long_names_and_timestamps():
    frames = {"A sheet name that is far too long for Excel": pd.DataFrame({"month": pd.to_datetime(
        ["2026-01-01", "2026-02-01"]).tz_localize("UTC"), "arr": [12_000_000, 12_900_000]}),
              "Second": pd.DataFrame({"x": [1]})}
    wb = _open(export.to_xlsx_bytes(frames))
    assert wb.sheetnames == ["A sheet name that is far too lo", "Second"]
    ws = wb.worksheets[0]
    assert ws["A2"].number_format == "yyyy-mm-dd" and ws["A2"].value == dt.datetime(2026, 1, 1)
    assert ws["B2"].number_format == "$#,##0" and ws["B2"].value == 12_000_000
    assert wb["Second"].auto_filter.ref == "A1:A2" and wb["Second"].freeze_panes == "A2"


def test_one_argument_call_and_empty_sheet_still_work():
    wb = _open(export.to_xlsx_bytes({"empty": pd.DataFrame({"arr": pd.Series([], dtype=float)})}))
    assert wb["empty"]["A1"].value == "arr" and wb["empty"].auto_filter.ref == "A1:A1"


def test_bad_format_names_are_refused():
    df = pd.DataFrame({"arr": [1.0]})
    with pytest.raises(ValueError, match="dollars"):
        export.to_xlsx_bytes({"S": df}, formats={"S": {"arr": "dollars"}})
    with pytest.raises(ValueError, match="missing"):
        export.to_xlsx_bytes({"S": df}, formats={"S": {"missing": "money"}})
    with pytest.raises(ValueError, match="Other"):
        export.to_xlsx_bytes({"S": df}, formats={"Other": {"arr": "money"}})


@pytest.mark.parametrize("name, values, expected", [
    ("ARR due", [1.0], "money"), ("carry", [1.0], "number"), ("budget_2026", [5], "money"),
    ("p_renew", [0.2, 0.9], "pct"), ("p_renew", [0.2, 1.4], "number"), ("renewal_rate", [1], "pct"),
    ("logos", [3, 4], "int"), ("separate", [0.5], "number"), ("Costs", [0.5], "money"),
    ("arr2026", [5.0], "money"), ("probability", [0.5], "pct"), ("active", [True, False], "text"),
    ("segment", ["SMB"], "text"),
])
def test_infer_format(name, values, expected):
    assert export.infer_format(name, pd.Series(values)) == expected


def test_at_risk_xlsx_as_the_forecast_page_downloads_it():
    from app.forecasting import renewals

    view = at_risk()[["Account", "Name", "Renewal date", "Renewals in window", "ARR due", "P(renew)",
                      "Expected ARR lost"]].rename(columns={"Name": "Driver 1"})
    ws = _open(renewals.at_risk_xlsx(view))["At-risk accounts"]
    assert [ws.cell(row=2, column=j).number_format for j in range(1, 8)] == [
        "General", "General", "yyyy-mm-dd", "#,##0", "$#,##0", "0.0%", "$#,##0"]
    assert ws["F2"].value == 0.45 and ws["F2"].data_type == "n"
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:G4"
    assert ws["B2"].value.startswith("'=HYPERLINK")
