"""How figures are shown: number formats, Altair charts, spreadsheet exports, the page registry
(no Streamlit here: app/ui.py is the only UI glue)."""
