"""Hostile filter values reach every query as bound values: a harmless (empty) result, tables intact."""
from __future__ import annotations

import pytest

from app import cli
from app.analytics import metrics
from app.data import store
from app.forecasting import renewals
from app.forecasting import topdown as forecast

EVIL = ["'; DROP TABLE accounts; --", "SMB' OR '1'='1", 'x"; DELETE FROM subscriptions; --', "%", "\\' OR 1=1 --"]


def counts(cur) -> tuple:
    return tuple(store.query_rows(cur, f"SELECT count(*) FROM {t}")[0][0]
                 for t in ("accounts", "subscriptions", "arr_monthly", "arr_bridge_account"))


@pytest.mark.parametrize("evil", EVIL)
def test_metric_filters_bind_hostile_values(sample_copy, evil):
    cur = store.connect(sample_copy)
    before = counts(cur)
    assert (metrics.arr_bridge(cur, segment=evil)[["new", "churn", "end_arr"]] == 0).all().all()
    assert metrics.arr_bridge(cur, region=evil, csm_id=evil)["end_arr"].sum() == 0
    assert metrics.kpis(cur, segment=evil) == []
    assert metrics.retention_series(cur, 12, evil)["grr"].isna().all() or \
        len(metrics.retention_series(cur, 12, evil)) == 0
    with pytest.raises(ValueError):
        forecast.forecast_arr(cur, 6, evil)  # unknown segment: a clean error naming the known ones
    assert counts(cur) == before


def test_cli_with_hostile_segment_is_harmless(sample_copy, capsys):
    code = cli.main(["metrics", "arr-bridge", "--db", str(sample_copy), "--segment", EVIL[0]])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("month,start_arr,")
    cur = store.connect(sample_copy)
    assert store.query_rows(cur, "SELECT count(*) FROM accounts")[0][0] > 0


def test_renewal_forecast_table_reads_without_changing_the_store(sample_copy):
    cur = store.connect(sample_copy)
    before = counts(cur)
    table = renewals.renewal_forecast_table(cur, None, 3)
    assert list(table.columns) == ["account_id", "contract_end", "arr_due", "p_renew", "driver_1", "driver_2",
                                   "driver_3"]
    assert counts(cur) == before


def _xlsx_with_sheet_xml(sheet_xml: str) -> bytes:
    """A valid workbook whose first sheet's XML is replaced."""
    import io
    import zipfile

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["account_id", "name"])
    wb.active.append(["A-1", "Acme"])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml.encode()
            z.writestr(item, data)
    return out.getvalue()


def test_an_xml_bomb_workbook_is_refused_quickly(tmp_path):
    import time

    from app.data import importer, store

    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{lol}]>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>account_id</t></is></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>')
    data = _xlsx_with_sheet_xml(bomb)
    cur = store.connect(tmp_path / "x.duckdb")
    t0 = time.perf_counter()
    rep = importer.import_file(cur, "accounts", data, "bomb.xlsx")
    assert time.perf_counter() - t0 < 5
    assert not rep.ok and "bomb.xlsx" in rep.message and "readable Excel" in rep.message
    assert store.row_counts(cur)["accounts"] == 0
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML  # openpyxl parses through defusedxml (requirements.txt), not bare expat
